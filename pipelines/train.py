"""``recsys train DATASET --out MODEL_DIR``: embed the images, choose the hybrid's settings on a
validation split, fit it on every interaction with them, save the model directory."""

from __future__ import annotations

from pipelines import run_logging
from pipelines.arguments import add_overwrite_argument
from pipelines.embedding_report import embed_with_report
from pipelines.inputs import check_learnable
from pipelines.outputs import check_writable
from pipelines.config import add_encoder_arguments, run_config
from pipelines.training import fit_bundle
from recsys import tracking
from recsys.data import load_dataset


def add_arguments(parser):
    parser.add_argument("dataset", help="dataset folder")
    parser.add_argument("--out", required=True, help="model directory to write (replaced atomically)")
    add_overwrite_argument(parser)
    parser.add_argument("--config", default=None, help="run config (.json, .yaml or .toml)")
    parser.add_argument("--register", default=None, metavar="NAME",
                        help="register the logged model under NAME in the MLflow model registry")
    parser.add_argument("--alias", default=None, metavar="ALIAS",
                        help="with --register: point ALIAS (e.g. champion) at the new version")
    parser.add_argument("--experiment", default=tracking.DEFAULT_EXPERIMENT, help="MLflow experiment name")
    add_encoder_arguments(parser)


def train(dataset, config, encoder, out, overwrite: bool = False):
    """Embed with ``encoder`` (an ``ImageEncoder``), select, fit and save; returns
    ``(bundle, embed_result, fit_seconds)``."""
    check_learnable(dataset)
    embedded = embed_with_report(dataset, encoder, config.store)
    bundle, fit_seconds = fit_bundle(dataset, config, encoder, embedded)
    bundle.save(out, overwrite=overwrite)
    return bundle, embedded, fit_seconds


def run(args) -> int:
    if args.alias and not args.register:
        raise ValueError("--alias needs --register NAME: an alias points at a version of a registered model")
    config = run_config(args)
    args.out = check_writable(args.out, args.overwrite, inputs=[args.dataset])
    tracking.connect(args.experiment)  # an unreachable tracking server fails here, before training
    dataset = load_dataset(args.dataset, positive_threshold=config.positive_threshold)
    from recsys.vision import ImageEncoder

    encoder = ImageEncoder(config.encoder)  # missing ImageNet weights fail here, before any run
    with tracking.start_run("train", run_name=f"train {dataset.name}") as run:
        run_logging.log_inputs(config, dataset)
        bundle, embedded, fit_seconds = train(dataset, config, encoder, args.out, args.overwrite)
        model = bundle.model
        run_logging.log_training(model)
        tracking.log_metric("fit_seconds", fit_seconds)
        run_logging.log_embeddings(dataset.item_ids, embedded.vectors, embedded.has_image)
        info = run_logging.log_bundle(bundle, args.register)
        if args.alias:
            tracking.set_alias(args.register, args.alias, info.registered_model_version)
    print(f"Fitted {type(model).__name__} on {len(dataset.interactions):,} interactions "
          f"({dataset.n_users:,} users, {dataset.n_items:,} items) in {fit_seconds:.1f}s; "
          f"epochs {model.best_epochs_}, image prior alpha {model.prior_alpha_:g}, "
          f"image taste part {'on' if model.image_weight_ else 'off'}, taste-profile weight {model.profile_weight_:g} "
          f"(x{model.warm_profile_weight_:g} on known items)"
          + ("" if model.newness_share_ is None else
             f"; arrivals at {model.newness_share_:.0%} of each top {model.eval_k} on validation "
             f"(shift {model.newness_shift_:g} sd, stretch {model.newness_scale_:.2g})"))
    print(f"Saved model directory {args.out}")
    print(f"{tracking.run_line(run)}; model: {info.model_uri}"
          + (f"; registered as {args.register} version {info.registered_model_version}" if args.register else "")
          + (f", models:/{args.register}@{args.alias}" if args.alias else ""))
    return 0
