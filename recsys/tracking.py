"""MLflow: runs, the recommender as a pyfunc model, the registry, model URIs.

The only module of the library that imports mlflow.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

import recsys

#: MLflow 3's default: an SQLite file in the working directory
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
DEFAULT_EXPERIMENT = "recsys"
MODEL_NAME_IN_RUN = "model"


class TrackingError(ConnectionError):
    """The tracking server cannot be used; raised before any long work starts."""


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def connect(experiment: str = DEFAULT_EXPERIMENT, timeout: float = 5.0) -> str:
    """Point MLflow at the tracking store and check it answers; returns the URI.

    HTTP servers are probed on ``/health`` with a short timeout, so an
    unreachable server fails here, in seconds, not after training.
    """
    uri = tracking_uri()
    if uri.startswith(("http://", "https://")):
        import requests

        try:
            response = requests.get(uri.rstrip("/") + "/health", timeout=timeout)
            response.raise_for_status()
        except requests.RequestException as exc:
            raise TrackingError(f"MLflow tracking server {uri} cannot be reached ({type(exc).__name__}); "
                                "start it, fix MLFLOW_TRACKING_URI, or unset it to use sqlite:///mlflow.db") from None
    mlflow.set_tracking_uri(uri)
    if not os.environ.get("MLFLOW_RUN_ID"):  # under `mlflow run`, log into the project's run
        if uri.startswith("sqlite:///") and mlflow.get_experiment_by_name(experiment) is None:
            # artifacts beside the database, not in whatever folder the first run started from
            store = Path(uri.removeprefix("sqlite:///")).resolve().parent
            mlflow.create_experiment(experiment, artifact_location=(store / "mlruns").as_uri())
        mlflow.set_experiment(experiment)
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
        name = f"{row.metric}" if row.segment == "all" else f"{row.segment}_{row.metric}"
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


# -- the pyfunc model ---------------------------------------------------------------
class RecommenderModel(mlflow.pyfunc.PythonModel):
    """The model directory behind MLflow's pyfunc interface.

    Two input forms, one output ``user_id, rank, item_id, score``:

    - a column ``user_id``: top-``k`` items for each user (seen items excluded);
    - columns ``item_id, image_path``: new items scored from their images; for
      each item, its top-``k`` users by log p(item | user) (``rank`` is the
      user's rank for that item), as ``recsys score-new-items`` writes them.
    """

    def load_context(self, context):
        from recsys.bundle import ModelBundle

        self.bundle = ModelBundle.load(context.artifacts["bundle"])

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        params = params or {}
        k = int(params.get("k", 10))
        if "image_path" in model_input.columns and model_input["image_path"].notna().any():
            return self._score_new_items(model_input, k)
        if "user_id" not in model_input.columns:
            raise ValueError("input needs a 'user_id' column (top-K per user) or 'item_id' and 'image_path' "
                             f"columns (new items); got {list(model_input.columns)}")
        users = model_input["user_id"].astype(str).tolist()
        return self.bundle.model.recommend(users, k=k, exclude_seen=bool(params.get("exclude_seen", True)))

    def _score_new_items(self, frame: pd.DataFrame, k: int) -> pd.DataFrame:
        from recsys.batch import item_top_users, score_images

        items = frame[["item_id", "image_path"]].astype(str)
        _, ids, scores = score_images(self.bundle, items, root=Path.cwd())
        return item_top_users(self.bundle.model, ids, scores, k)[["user_id", "rank", "item_id", "score"]]


SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("string", "user_id", required=False), ColSpec("string", "item_id", required=False),
                   ColSpec("string", "image_path", required=False)]),
    outputs=Schema([ColSpec("string", "user_id"), ColSpec("integer", "rank"), ColSpec("string", "item_id"),
                    ColSpec("float", "score")]),
    params=ParamSchema([ParamSpec("k", "long", 10), ParamSpec("exclude_seen", "boolean", True)]),
)


def log_model(bundle_dir: str | Path, example_users, registered_name: str | None = None):
    """Log a model directory as a pyfunc model in the active run (optionally registered)."""
    example = pd.DataFrame({"user_id": [str(u) for u in example_users]})
    return mlflow.pyfunc.log_model(
        name=MODEL_NAME_IN_RUN, python_model=RecommenderModel(), artifacts={"bundle": str(bundle_dir)},
        signature=SIGNATURE, input_example=example, registered_model_name=registered_name)


def set_alias(name: str, alias: str, version: str | int) -> None:
    mlflow.MlflowClient().set_registered_model_alias(name, alias, str(version))


def resolve_model_dir(model: str) -> Path:
    """A local model directory for ``MODEL_DIR``, ``runs:/...`` or ``models:/NAME@ALIAS``."""
    if not model.startswith(("runs:/", "models:/")):
        return Path(model)
    mlflow.set_tracking_uri(tracking_uri())
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model))
    except mlflow.exceptions.MlflowException as exc:
        raise ValueError(f"{model}: cannot be loaded from {tracking_uri()}: {exc.message}") from None
    bundle = local / "artifacts" / "bundle"
    if not bundle.is_dir():
        raise ValueError(f"{model}: not a recsys model (no artifacts/bundle inside)")
    return bundle
