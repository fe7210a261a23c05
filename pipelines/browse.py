"""``recsys browse MODEL [--data DATASET] [--new-items ITEMS]``: a local web explorer of
the model's recommendations, with the photos (see :mod:`recsys.explorer`)."""

from __future__ import annotations

from pathlib import Path

from pipelines.arguments import LOOPBACK, add_server_arguments, check_port
from pipelines.bundle_inputs import positive_threshold
from pipelines.embedding_report import MAX_SKIPPED_SHOWN
from pipelines.inputs import read_items
from recsys import tracking
from recsys.data import load_dataset
from recsys.data.images import max_image_bytes

#: threads answering requests (pages and uploads); waiting connections take none
WORKER_THREADS = 8
#: open connections at most; more wait in the listen backlog
CONNECTION_LIMIT = 1000
MAX_HEADER_BYTES = 64 * 1024


def add_arguments(parser):
    parser.add_argument("model", help="model directory, runs:/RUN_ID/model or models:/NAME@ALIAS")
    parser.add_argument("--data", default=None,
                        help="dataset folder for histories, metadata and photos; its users the model does not know "
                             "are folded in from their history (default: the folder the model was trained on, when "
                             "it still exists)")
    parser.add_argument("--new-items", default=None, metavar="ITEMS",
                        help="items table of new arrivals (item_id, image_path relative to its folder), "
                             "ranked from their photos")
    add_server_arguments(parser, port=8000)
    parser.add_argument("--k", type=int, default=12, help="items and users per list")
    parser.add_argument("--image-root", default=None, metavar="FOLDER",
                        help="serve only photos inside FOLDER (default: wherever the items tables put them)")
    parser.add_argument("--idle-timeout", type=float, default=30.0, metavar="SECONDS",
                        help="close a connection that sends nothing for this long (slow or stalled clients)")


def training_folder(bundle) -> Path | None:
    root = bundle.info.get("dataset", {}).get("root")
    return Path(root) if root and Path(root).is_dir() else None


def model_run(model: str, bundle) -> dict | None:
    """The MLflow run the model came from: from its URI, else from the directory's record."""
    if model.startswith(("runs:/", "models:/")):
        return tracking.run_summary(tracking.model_run_id(model))
    run_id = bundle.info.get("mlflow_run_id")
    return tracking.run_summary(run_id, bundle.info.get("mlflow_tracking_uri")) if run_id else None


def run(args) -> int:
    if args.k < 1 or args.idle_timeout <= 0:
        raise ValueError(f"--k and --idle-timeout must be positive, got {args.k} and {args.idle_timeout}")
    if args.image_root and not Path(args.image_root).is_dir():
        raise FileNotFoundError(f"--image-root {args.image_root}: folder not found")
    check_port(args.host, args.port)
    new_items = read_items(args.new_items) if args.new_items else None
    from recsys.bundle import ModelBundle
    from recsys.explorer.app import create_app
    from recsys.explorer.explorer import Explorer

    bundle = ModelBundle.load(tracking.resolve_model_dir(args.model))
    data = Path(args.data) if args.data else training_folder(bundle)
    dataset = load_dataset(data, positive_threshold=positive_threshold(bundle)) if data else None
    explorer = Explorer(bundle, dataset, new_items, Path(args.new_items).parent if args.new_items else None,
                        run=model_run(args.model, bundle), k=args.k, image_root=args.image_root)
    server = serve(create_app(explorer), args.host, args.port, args.idle_timeout)
    if args.host not in LOOPBACK:
        print(f"Warning: listening on {args.host}: anyone who can reach it sees this model and its users")
    print(f"Explorer of {tracking.redact(args.model)}: {len(bundle.model.user_ids_):,} users, "
          f"{len(bundle.model.item_ids_):,} items ({len(explorer.new_item_ids):,} new); "
          f"{len(explorer.images):,} photos from {data or 'nowhere (no --data)'}"
          + (f" within {args.image_root}" if args.image_root else ""))
    if explorer.folded_in is not None:
        print(f"  {explorer.folded_in.summary()}")
    for item_id, reason in explorer.images.skipped[:MAX_SKIPPED_SHOWN]:
        print(f"  photo of {item_id!r} not served: {reason}")
    if len(explorer.images.skipped) > MAX_SKIPPED_SHOWN:
        print(f"  ... and {len(explorer.images.skipped) - MAX_SKIPPED_SHOWN} more photos not served")
    print(f"Open http://{args.host}:{server.effective_port}/ (Ctrl-C stops it)", flush=True)
    server.run()  # until Ctrl-C or SIGTERM: waitress takes the interrupt and stops its threads
    server.close()
    print("Stopped")
    return 0


def serve(app, host: str, port: int, idle_timeout: float):
    """A waitress server: requests are read whole by its event loop before a worker
    thread sees them, so slow or stalled clients hold no thread, and a connection
    idle for ``idle_timeout`` seconds is closed."""
    from waitress.server import create_server

    from recsys.explorer.app import FORM_OVERHEAD

    return create_server(app, host=host, port=port, threads=WORKER_THREADS, channel_timeout=idle_timeout,
                         connection_limit=CONNECTION_LIMIT, max_request_header_size=MAX_HEADER_BYTES,
                         max_request_body_size=max_image_bytes() + FORM_OVERHEAD, cleanup_interval=1,
                         ident="recsys")
