"""MLflow: runs, logging the recommender as a pyfunc model, the registry, model URIs.

With :mod:`recsys.serving` (the model MLflow loads), the only modules of the
library that import mlflow.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

import recsys
from recsys.io import DEFAULT_TRACKING_URI, locked, sqlite_store, tracking_uri  # noqa: F401 (recsys.tracking's API)
from recsys.quiet import VERBOSE_ENV

# MLflow draws a progress bar per downloaded artifact (about 20 per model): noise in
# logs and notebook cells. Read at each download; set it to true to see them again.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
# MLflow prints each run's URL with the tracking URI's credentials in it; recsys prints
# the run id and the store itself, redacted (:func:`redact`)
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
# MLflow's INFO lines ("Creating initial MLflow database tables...", "Successfully registered
# model") say what recsys prints itself; warnings and errors still show
if not os.environ.get(VERBOSE_ENV):
    logging.getLogger("mlflow").setLevel(logging.WARNING)

DEFAULT_EXPERIMENT = "recsys"
#: an evaluation run logs the hybrid's NDCG@K per segment again under names with this prefix,
#: which sort before every other metric, so MLflow's runs list shows them first
HEADLINE_PREFIX = "_hybrid."
#: the experiment tag that picks MLflow's UI: its model-training view, not the GenAI one
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_NAME_IN_RUN = "model"


#: what jobs log, so that mlflow is imported here and in recsys.serving only
log_params, log_metrics, log_metric, log_dict, log_figure = (
    mlflow.log_params, mlflow.log_metrics, mlflow.log_metric, mlflow.log_dict, mlflow.log_figure)


class TrackingError(ConnectionError):
    """The tracking server or store cannot be used; raised before any long work starts."""


#: the user info of a URL (``alice:TOKEN@`` in ``http://alice:TOKEN@host``)
_USER_INFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]*@")


def redact(text) -> str:
    """``text`` with the user info (user, password, token) of every URL in it removed:
    what recsys writes, prints or shows never holds credentials. MLflow itself still
    sends them, or takes ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``."""
    return _USER_INFO.sub(r"\1", str(text))


def shown_uri() -> str:
    """The tracking URI as recsys prints, stores and shows it (:func:`redact`)."""
    return redact(tracking_uri())


def run_line(run) -> str:
    """How every command names its MLflow run: its id and the store, redacted."""
    return f"MLflow run {run.info.run_id} ({shown_uri()})"


def check_server(uri: str, timeout: float = 5.0) -> None:
    """An HTTP tracking server must answer ``/health`` within ``timeout`` seconds."""
    if not uri.startswith(("http://", "https://")):
        return
    import requests

    try:
        response = requests.get(uri.rstrip("/") + "/health", timeout=timeout)
        response.raise_for_status()
    except requests.RequestException as exc:
        raise TrackingError(f"MLflow tracking server {redact(uri)} cannot be reached ({type(exc).__name__}); "
                            "start it, fix MLFLOW_TRACKING_URI, or unset it to use sqlite:///mlflow.db") from None


def connect(experiment: str = DEFAULT_EXPERIMENT, timeout: float = 5.0) -> str:
    """Point MLflow at the tracking store and check it can be used; returns the URI.

    HTTP servers are probed on ``/health`` with a short timeout, so an
    unreachable server fails here, in seconds, not after training. A SQLite
    store must be writable; its first use (creating the tables) and creating
    the experiment happen under a lock, so concurrent first runs do not collide.
    """
    uri = tracking_uri()
    check_server(uri, timeout)
    mlflow.set_tracking_uri(uri)
    store = sqlite_store(uri)
    if store is not None:
        for path in (store, store.parent):
            if path.exists() and not os.access(path, os.W_OK):
                raise TrackingError(f"MLflow tracking store {redact(uri)}: {path} is read-only; use a writable "
                                    "folder or set MLFLOW_TRACKING_URI")
        store.parent.mkdir(parents=True, exist_ok=True)
    try:
        with locked(store.parent) if store is not None else contextlib.nullcontext():
            if not os.environ.get("MLFLOW_RUN_ID"):  # under `mlflow run`, log into the project's run
                if store is not None and mlflow.get_experiment_by_name(experiment) is None:
                    # artifacts beside the database, not in whatever folder the first run started from
                    mlflow.create_experiment(experiment, artifact_location=(store.parent / "mlruns").as_uri())
                if not mlflow.set_experiment(experiment).tags.get(EXPERIMENT_KIND_TAG):
                    # MLflow 3 opens an untagged experiment in its GenAI view (traces, token usage)
                    mlflow.set_experiment_tag(EXPERIMENT_KIND_TAG, "custom_model_development")
    except mlflow.exceptions.MlflowException as exc:
        raise TrackingError(redact(f"MLflow tracking store {uri}: {exc.message.strip().splitlines()[0]}")) from None
    return uri


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def start_run(job: str, run_name: str | None = None, **tags):
    """``mlflow.start_run`` with the tags every recsys run carries."""
    return mlflow.start_run(run_name=run_name or job, tags={
        "recsys.job": job, "recsys.version": recsys.__version__, "mlflow.source.git.commit": git_commit(), **tags})


def flatten(config: dict, prefix: str = "") -> dict:
    """``{"model": {"factors": 64}} -> {"model.factors": 64}`` (params are flat)."""
    out = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out |= flatten(value, name + ".")
        else:
            out[name] = value if not isinstance(value, (list, tuple)) else json.dumps(list(value))
    return out


def dataset_fingerprint(dataset) -> dict:
    """Path, counts and a content hash of the interactions and the catalog."""
    h = hashlib.sha256()
    for frame in (dataset.interactions.drop(columns=["user_idx", "item_idx"]), dataset.items):
        h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    s = dataset.summary()
    return {"dataset.path": str(Path(dataset.root).resolve()), "dataset.layout": s["layout"],
            "dataset.users": s["users"], "dataset.items": s["items"], "dataset.interactions": s["interactions"],
            "dataset.positives": s["positives"], "dataset.content_sha256": h.hexdigest()[:16]}


def log_history(history: list[dict]) -> None:
    """Per-epoch losses and validation metrics (``step=epoch``). Epoch selection runs
    are prefixed ``select_``, the final training ``train_``."""
    for record in history:
        if "epoch" not in record:
            continue
        stage = "select" if record.get("validation") else "train"
        metrics = {f"{stage}_{record['phase']}_loss": record["loss"]}
        metrics |= {f"{stage}_{record['phase']}_{k}": v for k, v in record.items() if k.startswith("val_")}
        mlflow.log_metrics(metrics, step=record["epoch"])


def log_results(results: pd.DataFrame, main_model: str) -> None:
    """Final metrics of an evaluation: the main model's as ``warm_ndcg_at_20``,
    the others' as ``<model>.warm_ndcg_at_20``."""
    metrics = {}
    for row in results.itertuples():
        if not np.isfinite(row.value):
            continue
        name = f"{row.metric}" if row.segment == "fit" else f"{row.segment}_{row.metric}"
        metrics[name if row.model == main_model else f"{row.model}.{name}"] = float(row.value)
    mlflow.log_metrics(metrics)


def log_frame(frame: pd.DataFrame, name: str) -> None:
    """A table as a run artifact: Parquet for a ``.parquet`` name, else CSV (``*table.csv`` keeps its index)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        if name.endswith(".parquet"):
            frame.to_parquet(path, index=False)
        else:
            frame.to_csv(path, index=name.endswith("table.csv"))
        mlflow.log_artifact(str(path))


# -- the logged model -----------------------------------------------------------------
#: the code MLflow logs and runs to build the pyfunc model (no pickle)
MODEL_CODE = Path(__file__).with_name("serving") / "model_code.py"


def model_requirements() -> list[str]:
    """What the logged model's environment installs: recsys from the project folder it
    was logged from (a source checkout), else the installed release."""
    root = Path(recsys.__file__).resolve().parents[1]
    if (root / "pyproject.toml").is_file():
        return [f"recsys @ {root.as_uri()}"]
    return [f"recsys=={recsys.__version__}"]


def log_model(bundle_dir: str | Path, example_users, registered_name: str | None = None):
    """Log a model directory as a pyfunc model in the active run (optionally registered):
    the code of :mod:`recsys.serving.model_code` and the directory as plain files."""
    from recsys.serving import SIGNATURE

    example = pd.DataFrame({"user_id": [str(u) for u in example_users]})
    return mlflow.pyfunc.log_model(
        name=MODEL_NAME_IN_RUN, python_model=str(MODEL_CODE), artifacts={"bundle": str(bundle_dir)},
        signature=SIGNATURE, input_example=example, registered_model_name=registered_name,
        pip_requirements=model_requirements())


def set_alias(name: str, alias: str, version: str | int) -> None:
    mlflow.MlflowClient().set_registered_model_alias(name, alias, str(version))


def download_model(model: str) -> Path:
    """The local MLflow model folder of ``runs:/...`` or ``models:/NAME@ALIAS`` (an
    unreachable tracking server fails in seconds, like every command)."""
    check_server(tracking_uri())
    mlflow.set_tracking_uri(tracking_uri())
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model))
    except mlflow.exceptions.MlflowException as exc:
        raise ValueError(redact(f"{model}: cannot be loaded from {tracking_uri()}: {exc.message}")) from None
    if not (local / "artifacts" / "bundle").is_dir():
        raise ValueError(f"{model}: not a recsys model (no artifacts/bundle inside)")
    return local


def resolve_model_dir(model: str) -> Path:
    """A local model directory for ``MODEL_DIR``, ``runs:/...`` or ``models:/NAME@ALIAS``."""
    if not model.startswith(("runs:/", "models:/")):
        return Path(model)
    return download_model(model) / "artifacts" / "bundle"


def active_run_reference() -> dict:
    """The active run's id and store, recorded in a model directory saved inside it
    (so ``recsys browse`` can link a plain folder back to its run); ``{}`` outside a run."""
    run = mlflow.active_run()
    return {"mlflow_run_id": run.info.run_id, "mlflow_tracking_uri": shown_uri()} if run else {}


def model_run_id(model: str) -> str:
    """The run that logged ``runs:/RUN_ID/...`` or ``models:/NAME@ALIAS`` (or ``/VERSION``)."""
    if model.startswith("runs:/"):
        return model.removeprefix("runs:/").split("/")[0]
    name, _, ref = model.removeprefix("models:/").partition("@")
    client = mlflow.MlflowClient()
    if ref:
        return client.get_model_version_by_alias(name, ref).run_id
    name, _, version = name.rpartition("/")
    return client.get_model_version(name, version).run_id


def run_summary(run_id: str, uri: str | None = None) -> dict:
    """What a page shows of a run: name, status, start, metrics, and where to see it
    (``uri``: the store as a model directory recorded it; the current store when it
    is that one, credentials included). An unreachable store or unknown run gives
    ``{"run_id", "error"}``, not an exception. Nothing returned holds credentials."""
    uri = tracking_uri() if uri is None or redact(uri) == shown_uri() else uri
    shown = redact(uri)
    try:
        check_server(uri)
        run = mlflow.MlflowClient(tracking_uri=uri).get_run(run_id)
    except (TrackingError, mlflow.exceptions.MlflowException) as exc:
        return {"run_id": run_id, "tracking_uri": shown, "error": redact(str(exc).strip().splitlines()[0])}
    path = f"#/experiments/{run.info.experiment_id}/runs/{run_id}"
    web = shown.rstrip("/") if uri.startswith(("http://", "https://")) else "http://127.0.0.1:5000"
    return {"run_id": run_id, "tracking_uri": shown, "name": run.info.run_name, "status": run.info.status,
            "started": pd.Timestamp(run.info.start_time, unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M UTC"),
            "metrics": dict(sorted(run.data.metrics.items())), "url": f"{web}/{path}",
            "ui_command": None if uri.startswith(("http://", "https://")) else ui_command(shown)}


def ui_command(store: str) -> str:
    """``mlflow ui`` on ``store`` with this environment's ``mlflow``, as a user types it from here
    (``.venv/bin/mlflow``): a bare ``mlflow`` works only in an activated virtual environment."""
    command = Path(sys.executable).parent / "mlflow"
    try:
        command = command.relative_to(Path.cwd())
    except ValueError:
        pass
    return f"{command} ui --backend-store-uri {store}"
