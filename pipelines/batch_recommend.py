"""``recsys batch-recommend MODEL --out DIR``: top-K for every user (or a list), in
user chunks, to a folder of Parquet parts written atomically; logged to MLflow. With
``--data`` or ``--history``, users who arrived after training are folded in from their history."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from pipelines.arguments import add_history_arguments, add_overwrite_argument, add_spark_arguments
from pipelines.bundle_inputs import add_arrivals, add_candidates, fold_in_histories, positive_threshold, resolve_users
from pipelines.inputs import read_ids, read_items
from pipelines.outputs import check_writable, local_model, local_output
from pipelines.spark_session import check_spark_installed, start_spark
from recsys import tracking
from recsys.batch import batch_recommend, exclusion_mask
from recsys.scoring import DEFAULT_CHUNK
from recsys.data import load_dataset


def add_arguments(parser):
    parser.add_argument("model", help="model directory, runs:/RUN_ID/model or models:/NAME@ALIAS")
    parser.add_argument("--out", required=True, help="output folder of Parquet parts (user_id, rank, item_id, score)")
    add_overwrite_argument(parser)
    parser.add_argument("--users", default=None, help="CSV or Parquet with a user_id column (default: every user)")
    parser.add_argument("--skip-unknown-users", action="store_true",
                        help="leave out --users the model does not know and who have no history (default: refuse "
                             "them)")
    parser.add_argument("--k", type=int, default=20, help="items per user")
    parser.add_argument("--candidates", default=None, help="items table: an allow-list; new items are embedded")
    parser.add_argument("--new-items", default=None, metavar="ITEMS",
                        help="items table (item_id, image_path) of arrivals: embedded once and ranked with the "
                             "known items on one scale (default none)")
    add_history_arguments(parser, "a dataset folder, newer than the model: its catalog items unknown to the model "
                                  "are arrivals, its users unknown to the model (and known ones' newer "
                                  "interactions) are folded in from their history")
    parser.add_argument("--exclude-where", action="append", default=[], metavar="COLUMN=VALUE",
                        help="leave out items whose metadata COLUMN equals VALUE (repeatable; default none)")
    parser.add_argument("--chunk", type=int, default=DEFAULT_CHUNK, help="users scored per block (bounds memory)")
    add_spark_arguments(parser, "user partitions")
    parser.add_argument("--experiment", default=tracking.DEFAULT_EXPERIMENT, help="MLflow experiment name")


def parse_conditions(texts: list[str]) -> list[tuple[str, str]]:
    out = []
    for text in texts:
        column, sep, value = text.partition("=")
        if not sep or not column:
            raise ValueError(f"--exclude-where expects COLUMN=VALUE, got {text!r}")
        out.append((column, value))
    return out


def run(args) -> int:
    conditions = parse_conditions(args.exclude_where)
    if args.k < 1 or args.chunk < 1:
        raise ValueError(f"--k and --chunk must be >= 1, got {args.k} and {args.chunk}")
    if args.engine == "local" or urlparse(args.out).scheme in ("", "file"):  # hdfs://, s3a://: Spark's to write
        args.out = check_writable(local_output(args.out, args.engine), args.overwrite,
                                  inputs=[args.users, args.candidates, args.new_items, args.data, args.history,
                                          local_model(args.model)])
    check_spark_installed(args)
    tracking.connect(args.experiment)
    from recsys.bundle import ModelBundle

    bundle = ModelBundle.load(tracking.resolve_model_dir(args.model))
    model = bundle.model
    requested = read_ids(args.users, "user_id") if args.users else None
    arrivals, dataset = [], None
    if args.new_items:
        arrivals += add_arrivals(bundle, read_items(args.new_items), Path(args.new_items).parent)
    if args.data:
        dataset = load_dataset(args.data, positive_threshold=positive_threshold(bundle))
        arrivals += add_arrivals(bundle, dataset.items, dataset.root)
    folded = fold_in_histories(bundle, dataset, args.history, users=requested)  # after the arrivals: they count
    users = resolve_users(bundle, requested, args.skip_unknown_users) if requested is not None else None
    allowed = None
    if args.candidates:  # an allow-list, which the arrivals join
        candidates = set(add_candidates(bundle, args.candidates)) | set(arrivals)
        allowed = np.array([i in candidates for i in model.item_ids_])
    if conditions:
        if bundle.items is None:
            raise ValueError(f"{args.model}: the model directory holds no item metadata to filter on")
        excluded = exclusion_mask(bundle.items, model.item_ids_, conditions)
        allowed = ~excluded if allowed is None else allowed & ~excluded
    spark = start_spark(args, "recsys-batch-recommend")  # before the run: fail early
    with tracking.start_run("batch_recommend", run_name="batch-recommend") as run:
        tracking.log_params({"model": args.model, "k": args.k, "chunk": args.chunk, "out": args.out,
                             "engine": args.engine, "partitions": args.partitions,
                             "exclude_where": ";".join(args.exclude_where), "candidates": args.candidates,
                             "new_items": args.new_items, "data": args.data, "history": args.history})
        tracking.log_metrics({"arrivals": len(arrivals), "users_folded_in": len(folded.added) if folded else 0,
                              "users_updated": len(folded.updated) if folded else 0})
        if args.engine == "spark":
            from recsys.spark import spark_batch_recommend

            stats = spark_batch_recommend(model, args.out, users, k=args.k, allowed=allowed, chunk=args.chunk,
                                          spark=spark, partitions=args.partitions, overwrite=args.overwrite)
        else:
            stats = batch_recommend(model, args.out, users, k=args.k, allowed=allowed, chunk=args.chunk,
                                    progress=True, overwrite=args.overwrite)
        tracking.log_metrics({"users": stats.users, "rows": stats.rows, "seconds": stats.seconds,
                              "users_per_second": stats.users_per_second})
    folded_text = (f"; {len(folded.added):,} new users folded in from their history, {len(folded.updated):,} "
                   "known users updated" if folded else "")
    print(f"Wrote {stats.rows:,} rows for {stats.users:,} users in {stats.parts} part(s) to {args.out} "
          f"({stats.users_per_second:,.0f} users/s; {len(arrivals):,} arrivals ranked with the catalog, "
          f"marked is_new{folded_text})")
    print(tracking.run_line(run))
    return 0
