"""``recsys embed DATASET``: embed every item image, reusing the store, and report; on this machine or on Spark."""

from __future__ import annotations

import functools
from pathlib import Path

from pipelines.arguments import add_spark_arguments
from pipelines.embedding_report import embed_with_report, print_skipped
from pipelines.spark_session import check_spark_installed, start_spark
from pipelines.config import add_encoder_arguments, encoder_config
from recsys.data import load_dataset
from recsys.vision.store import DEFAULT_STORE


def add_arguments(parser):
    parser.add_argument("dataset", help="dataset folder")
    add_encoder_arguments(parser)
    parser.add_argument("--store", default=str(DEFAULT_STORE),
                        help=f"embedding store folder, keyed by encoder fingerprint (default {DEFAULT_STORE})")
    parser.add_argument("--batch-size", type=int, default=64, help="images per CNN batch")
    add_spark_arguments(parser, "image partitions")


def run(args) -> int:
    from recsys.vision import ImageEncoder

    check_spark_installed(args)
    dataset = load_dataset(args.dataset)
    if Path(args.store).resolve().is_relative_to(dataset.root.resolve()):
        raise ValueError(f"--store {args.store}: inside the dataset folder {args.dataset}; recsys never writes "
                         "into its input: choose a folder outside it")
    encoder = ImageEncoder(encoder_config(args))
    embed = None
    if args.engine == "spark":
        from recsys.vision.spark_embed import spark_embed_files

        embed = functools.partial(spark_embed_files, spark=start_spark(args, "recsys-embed"),
                                  partitions=args.partitions)
    result = embed_with_report(dataset, encoder, args.store, args.batch_size, embed)
    print_skipped(result, "skipped item {}")
    print(f"Store: {encoder.fingerprint()}.parquet in {args.store}")
    return 0
