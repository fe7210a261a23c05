"""``recsys embed DATASET``: embed every item image, reusing the store, and report."""

from __future__ import annotations

import dataclasses

from pipelines.common import embed_with_report, print_skipped
from pipelines.config import RunConfig, load_config
from recsys.data import load_dataset
from recsys.vision.config import ENCODERS, EncoderConfig
from recsys.vision.store import DEFAULT_STORE


def add_encoder_arguments(parser):
    group = parser.add_argument_group("image encoder")
    group.add_argument("--encoder", choices=ENCODERS, default=None,
                       help="CNN turning images into embeddings (default mobilenet_v2)")
    group.add_argument("--weights", default=None,
                       help="'imagenet' (downloads once), a local .h5 file, or 'none' for random init "
                            "(default imagenet for backbones)")
    group.add_argument("--image-size", type=int, default=None, help="square input side in pixels (default 128)")
    group.add_argument("--embedding-dim", type=int, default=None,
                       help="projection head size; default keeps the pooled CNN features")


def encoder_config(args, base: EncoderConfig | None = None) -> EncoderConfig:
    """Command-line options over a base config (from a config file, or the defaults)."""
    base = base or EncoderConfig(weights="imagenet")
    changes = {}
    if args.encoder is not None:
        changes["name"] = args.encoder
    if args.weights is not None:
        changes["weights"] = None if args.weights.lower() == "none" else args.weights
    if args.image_size is not None:
        changes["image_size"] = args.image_size
    if args.embedding_dim is not None:
        changes["embedding_dim"] = args.embedding_dim
    return EncoderConfig(**(vars(base) | changes))


def run_config(args) -> RunConfig:
    """The ``--config`` file (or the defaults) with the encoder options of the command line over it."""
    config = load_config(args.config)
    return dataclasses.replace(config, encoder=encoder_config(args, config.encoder))


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
