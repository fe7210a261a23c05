"""``recsys embed DATASET``: embed every item image, reusing the store, and report."""

from __future__ import annotations

from pipelines.common import embed_with_report, print_skipped
from pipelines.config import add_encoder_arguments, encoder_config
from recsys.data import load_dataset
from recsys.vision.store import DEFAULT_STORE


def add_arguments(parser):
    parser.add_argument("dataset", help="dataset folder")
    add_encoder_arguments(parser)
    parser.add_argument("--store", default=str(DEFAULT_STORE),
                        help=f"embedding store folder, keyed by encoder fingerprint (default {DEFAULT_STORE})")
    parser.add_argument("--batch-size", type=int, default=64, help="images per CNN batch")


def run(args) -> int:
    from recsys.vision import ImageEncoder

    dataset = load_dataset(args.dataset)
    encoder = ImageEncoder(encoder_config(args))
    result = embed_with_report(dataset, encoder, args.store, args.batch_size)
    print_skipped(result, "skipped item {}")
    print(f"Store: {encoder.fingerprint()}.parquet in {args.store}")
    return 0
