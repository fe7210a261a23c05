"""``recsys embed DATASET``: embed every item image, reusing the store, and report."""

from __future__ import annotations

from recsys.data import load_dataset
from recsys.vision import ENCODERS, EncoderConfig, ImageEncoder, embed_dataset
from recsys.vision.store import DEFAULT_STORE

MAX_SKIPPED_SHOWN = 20


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


def add_arguments(parser):
    parser.add_argument("dataset", help="dataset folder")
    add_encoder_arguments(parser)
    parser.add_argument("--store", default=str(DEFAULT_STORE),
                        help=f"embedding store folder, keyed by encoder fingerprint (default {DEFAULT_STORE})")
    parser.add_argument("--batch-size", type=int, default=64)


def run(args) -> int:
    dataset = load_dataset(args.dataset)
    encoder = ImageEncoder(encoder_config(args))
    print(f"Embedding {dataset.n_items:,} items of {dataset.name} with {encoder.config.name} "
          f"({encoder.image_size}px, {encoder.dim}-d, fingerprint {encoder.fingerprint()})")
    result = embed_dataset(dataset, encoder, store_dir=args.store, batch_size=args.batch_size, progress=True)
    print(result.summary())
    for item_id, reason in result.skipped_items[:MAX_SKIPPED_SHOWN]:
        print(f"  skipped item {item_id!r}: {reason}")
    if len(result.skipped_items) > MAX_SKIPPED_SHOWN:
        print(f"  ... and {len(result.skipped_items) - MAX_SKIPPED_SHOWN} more")
    print(f"Store: {encoder.fingerprint()}.parquet in {args.store}")
    return 0
