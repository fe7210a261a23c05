"""``recsys serve MODEL``: the logged model over HTTP, answering as ``mlflow models serve``
does (MLflow's own scoring app: ``/invocations``, ``/ping``, ``/health``, ``/version``),
with the request body capped before it is read (:mod:`recsys.serving.server`)."""

from __future__ import annotations

from pathlib import Path

from pipelines.arguments import LOOPBACK, add_server_arguments, check_port
from recsys import tracking
from recsys.serving.server import MAX_BODY_MB_ENV, max_body_bytes, scoring_app


def add_arguments(parser):
    parser.add_argument("model", help="runs:/RUN_ID/model, models:/NAME@ALIAS or a downloaded MLflow model folder")
    add_server_arguments(parser, port=5000)
    parser.add_argument("--max-body-mb", type=float, default=None, metavar="MIB",
                        help=f"refuse (413) a request body over this many MiB before reading it (default: "
                             f"{MAX_BODY_MB_ENV}, else one photo at the image cap in base64)")


def mlflow_model_folder(model: str) -> Path:
    if model.startswith(("runs:/", "models:/")):
        return tracking.download_model(model)
    folder = Path(model)
    if not (folder / "MLmodel").is_file():
        raise FileNotFoundError(f"{model}: not an MLflow model folder (no MLmodel file); give runs:/RUN_ID/model or "
                                "models:/NAME@ALIAS (a `recsys train --out` folder is served through its MLflow run)")
    return folder


def run(args) -> int:
    cap = max_body_bytes() if args.max_body_mb is None else int(args.max_body_mb * 2**20)
    if cap <= 0:
        raise ValueError(f"--max-body-mb must be positive, got {args.max_body_mb}")
    check_port(args.host, args.port)
    import uvicorn

    app = scoring_app(str(mlflow_model_folder(args.model)), cap)
    if args.host not in LOOPBACK:
        print(f"Warning: listening on {args.host}: anyone who can reach it can query this model")
    print(f"Serving {tracking.redact(args.model)} on http://{args.host}:{args.port}/invocations "
          f"(request bodies up to {cap / 2**20:g} MiB; Ctrl-C stops it)", flush=True)
    try:  # uvicorn stops on Ctrl-C or SIGTERM, then raises the signal again
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning", timeout_keep_alive=30)
    except KeyboardInterrupt:
        pass
    print("Stopped")
    return 0
