"""``recsys browse MODEL [--data DATASET] [--new-items ITEMS]``: a local web explorer of
the model's recommendations, with the photos (see :mod:`recsys.explorer`)."""

from __future__ import annotations

import errno
import socket
from pathlib import Path

from pipelines.common import read_items
from recsys import tracking
from recsys.data import load_dataset

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def add_arguments(parser):
    parser.add_argument("model", help="model directory, runs:/RUN_ID/model or models:/NAME@ALIAS")
    parser.add_argument("--data", default=None,
                        help="dataset folder for histories, metadata and photos (default: the folder the model "
                             "was trained on, when it still exists)")
    parser.add_argument("--new-items", default=None, metavar="ITEMS",
                        help="items table of new arrivals (item_id, image_path relative to its folder), "
                             "ranked from their photos")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on; anything but loopback shows the model to your network")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")
    parser.add_argument("--k", type=int, default=12, help="items and users per list")


def check_port(host: str, port: int) -> None:
    """Fail before loading anything when the address cannot be served."""
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ValueError(f"--port {port}: {host}:{port} is already in use; pick another port") from None
        raise ValueError(f"--host {host} --port {port}: cannot listen there ({exc.strerror or exc})") from None


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
    if args.k < 1:
        raise ValueError(f"--k must be >= 1, got {args.k}")
    check_port(args.host, args.port)
    new_items = read_items(args.new_items) if args.new_items else None
    from werkzeug.serving import make_server

    from recsys.bundle import ModelBundle
    from recsys.explorer.app import create_app
    from recsys.explorer.catalog import Explorer

    bundle = ModelBundle.load(tracking.resolve_model_dir(args.model))
    data = Path(args.data) if args.data else training_folder(bundle)
    dataset = load_dataset(data) if data else None
    explorer = Explorer(bundle, dataset, new_items, Path(args.new_items).parent if args.new_items else None,
                        run=model_run(args.model, bundle), k=args.k)
    server = make_server(args.host, args.port, create_app(explorer), threaded=True)
    if args.host not in LOOPBACK:
        print(f"Warning: listening on {args.host}: anyone who can reach it sees this model and its users")
    print(f"Explorer of {args.model}: {len(bundle.model.user_ids_):,} users, {len(bundle.model.item_ids_):,} items "
          f"({len(explorer.new_item_ids):,} new); photos from {data or 'nowhere (no --data)'}")
    print(f"Open http://{args.host}:{server.server_port}/ (Ctrl-C stops it)", flush=True)
    server.serve_forever()  # until Ctrl-C or SIGTERM (werkzeug takes the interrupt and closes the socket)
    print("Stopped")
    return 0
