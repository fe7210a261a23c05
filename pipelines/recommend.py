"""``recsys recommend MODEL_DIR --users USERS.csv --k K --out RECS.parquet [--candidates ITEMS.csv]
[--data DATASET | --history INTERACTIONS]``: users the model does not know are folded in from their history."""

from __future__ import annotations

from pipelines.arguments import add_history_arguments, add_overwrite_argument
from pipelines.bundle_inputs import add_candidates, fold_in_histories, positive_threshold, resolve_users
from pipelines.inputs import read_ids
from pipelines.outputs import check_writable, local_model
from recsys import tracking
from recsys.data import load_dataset
from recsys.io import write_parquet


def add_arguments(parser):
    parser.add_argument("model", help="model directory written by `recsys train`, runs:/RUN_ID/model, "
                                      "or models:/NAME@ALIAS")
    parser.add_argument("--users", required=True, help="CSV or Parquet with a user_id column")
    parser.add_argument("--k", type=int, default=10, help="items per user (default 10)")
    parser.add_argument("--out", required=True,
                        help="Parquet file to write: user_id, rank, item_id, score, is_new (scored from its photo "
                             "alone)")
    add_overwrite_argument(parser)
    parser.add_argument("--candidates", default=None,
                        help="items table (item_id, image_path): rank only these; unknown items are embedded "
                             "from their images on the fly")
    parser.add_argument("--include-seen", action="store_true", help="do not exclude items the user interacted with")
    add_history_arguments(parser, "a dataset folder whose interactions give the users the model does not know "
                                  "(and newer ones of known users) their history: folded in, no retraining")
    parser.add_argument("--skip-unknown-users", action="store_true",
                        help="leave out users the model has never seen and who have no history (default: stop "
                             "with an error)")


def run(args) -> int:
    if args.k < 1:
        raise ValueError(f"--k must be >= 1, got {args.k}")
    args.out = check_writable(args.out, args.overwrite, inputs=[args.users, args.candidates, args.data, args.history,
                                                                local_model(args.model)])
    from recsys.bundle import ModelBundle

    bundle = ModelBundle.load(tracking.resolve_model_dir(args.model))
    requested = read_ids(args.users, "user_id")
    candidates = add_candidates(bundle, args.candidates) if args.candidates else None
    dataset = load_dataset(args.data, positive_threshold=positive_threshold(bundle)) if args.data else None
    fold_in_histories(bundle, dataset, args.history, users=requested)
    users = resolve_users(bundle, requested, args.skip_unknown_users)
    recs = bundle.model.recommend(users, k=args.k, exclude_seen=not args.include_seen, candidates=candidates,
                                  mark_new=True)
    write_parquet(recs, args.out, overwrite=args.overwrite)
    print(f"Wrote {len(recs):,} recommendations for {recs['user_id'].nunique():,} users to {args.out}")
    return 0
