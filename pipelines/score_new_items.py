"""``recsys score-new-items MODEL ITEMS --out DIR``: who will want the new items, what
each user should see among them, and which catalog items they resemble."""

from __future__ import annotations

from pathlib import Path

from pipelines.arguments import add_overwrite_argument
from pipelines.embedding_report import print_skipped
from pipelines.inputs import read_items
from pipelines.outputs import check_writable, local_model
from recsys import tracking
from recsys.batch import score_new_items


def add_arguments(parser):
    parser.add_argument("model", help="model directory, runs:/RUN_ID/model or models:/NAME@ALIAS")
    parser.add_argument("items", help="items table of new arrivals (item_id, image_path relative to its folder)")
    parser.add_argument("--out", required=True, help="output folder")
    add_overwrite_argument(parser)
    parser.add_argument("--n-users", type=int, default=100, help="top users per new item")
    parser.add_argument("--k", type=int, default=10, help="top new items per user")
    parser.add_argument("--n-similar", type=int, default=10, help="similar catalog items per new item")
    parser.add_argument("--experiment", default=tracking.DEFAULT_EXPERIMENT, help="MLflow experiment name")


def run(args) -> int:
    args.out = check_writable(args.out, args.overwrite, inputs=[args.items, local_model(args.model)])
    tracking.connect(args.experiment)
    items = read_items(args.items)
    from recsys.bundle import ModelBundle

    bundle = ModelBundle.load(tracking.resolve_model_dir(args.model))
    with tracking.start_run("score_new_items", run_name="score-new-items") as run:
        result = score_new_items(bundle, items, Path(args.items).parent, args.out, args.n_users, args.k,
                                 args.n_similar, overwrite=args.overwrite)
        tracking.log_metrics({"new_items": len(items), "embedded": result.embedded,
                            "skipped": sum(result.skipped.values())})
    print(f"New items: {result.summary()}")
    known = [i for i in items["item_id"].astype(str) if bundle.model.knows_item(i)]
    if known:
        print(f"  {len(known):,} listed id(s) the model already knows (e.g. {known[0]!r}): scored with their "
              "learned vectors, as recommend --candidates scores them, not from the photo")
    print_skipped(result, "skipped {}")
    print(f"Wrote item_top_users, user_top_items and similar_items to {args.out}")
    print(tracking.run_line(run))
    return 0
