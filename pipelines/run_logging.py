"""What the jobs log to MLflow, in one place, so every run has the same shape."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from recsys import reports, tracking

GALLERY_USERS = 4


def log_inputs(config, dataset) -> None:
    """The whole config as params, the dataset fingerprint, and the config file."""
    tracking.log_params(tracking.flatten(config.to_dict()) | tracking.dataset_fingerprint(dataset))
    tracking.log_dict(config.to_dict(), "config.json")


def log_figure(fig, name: str) -> None:
    tracking.log_figure(fig, name)
    plt.close(fig)


def log_embeddings(item_ids, vectors, has_image) -> None:
    tracking.log_frame(pd.DataFrame({"item_id": pd.Series(item_ids, dtype=str), "has_image": has_image,
                                     "embedding": list(vectors)}), "item_embeddings.parquet")


def log_training(model) -> None:
    tracking.log_history(model.history_)
    tracking.log_metrics({f"best_epochs_{phase}": n for phase, n in model.best_epochs_.items()}
                       | {"image_taste_weight": model.image_weight_, "image_prior_alpha": model.prior_alpha_,
                          "taste_profile_weight": model.profile_weight_,
                          "warm_taste_profile_weight": model.warm_profile_weight_}
                       | ({} if model.newness_shift_ is None else
                          {"newness_shift": model.newness_shift_, "newness_scale": model.newness_scale_}
                          | ({} if model.newness_share_ is None else {"newness_share": model.newness_share_})))
    log_figure(reports.training_curves(model.history_), "plots/training_curves.png")


def log_evaluation(results: pd.DataFrame, table: pd.DataFrame, intervals: pd.DataFrame, main_model: str) -> None:
    """Every model's metrics, the main model's headline NDCG, each model's NDCG@K as a paired
    ratio to the main model's with its interval, and the tables and figures."""
    tracking.log_results(results, main_model)
    ndcg = intervals[intervals["metric"].str.startswith("ndcg_at_")]
    main = ndcg[ndcg["model"] == main_model]
    metrics = ({f"{tracking.HEADLINE_PREFIX}{r.segment}_{r.metric}": r.value for r in main.itertuples()}
               | {f"{r.segment}_{r.metric}_{end}": getattr(r, end) for r in main.itertuples() for end in ("low", "high")}
               | _ratio_metrics(ndcg[ndcg["model"] != main_model],
                                lambda r: f"{r.model}.{r.segment}_{r.metric}_vs_{main_model}"))
    _log_finite(metrics)
    tracking.log_frame(results, "evaluation.csv")
    tracking.log_frame(table, "evaluation_table.csv")
    tracking.log_frame(intervals, "evaluation_intervals.csv")
    for metric in ("ndcg", "recall"):
        log_figure(reports.metric_at_k(results, metric), f"plots/{metric}_at_k.png")


def log_photo_signal(signal: pd.DataFrame, chance: str) -> None:
    """Each photo model's cold NDCG ratio to ``chance`` with its interval (``photo_signal.*``)."""
    _log_finite(_ratio_metrics(signal, lambda r: f"photo_signal.{r.model}_{r.segment}_{r.metric}_vs_{chance}"))


def _ratio_metrics(rows: pd.DataFrame, name) -> dict:
    """Each row's paired ratio and its interval's ends (:func:`recsys.evaluation.intervals.metric_intervals`'
    ``ratio``, ``ratio_low``, ``ratio_high``) under ``name(row)`` plus ``""``, ``_low``, ``_high``."""
    return {f"{name(r)}{end}": getattr(r, f"ratio{end}") for r in rows.itertuples() for end in ("", "_low", "_high")}


def _log_finite(metrics: dict) -> None:
    """Log the metrics that are numbers (a ratio to a model that scored 0 is not)."""
    tracking.log_metrics({name: float(value) for name, value in metrics.items() if np.isfinite(value)})


def log_gallery(split, model, k: int = 6) -> None:
    """History (training part) and top-K of a few cold-test users, cold items marked."""
    dataset = split.train
    users = list(pd.unique(split.cold_test["user_id"]))[:GALLERY_USERS] or list(dataset.user_ids[:GALLERY_USERS])
    cold = dataset.item_ids[split.cold_items]
    recs = model.recommend(users, k=k)
    cold_recs = model.recommend(users, k=k, candidates=cold)
    log_figure(reports.recommendation_gallery(dataset, recs, users, cold_items=cold, k=k,
                                              cold_recommendations=cold_recs), "recommendation_gallery.png")


def log_bundle(bundle, registered_name: str | None = None):
    """Save the model directory and log it as the run's pyfunc model."""
    with tempfile.TemporaryDirectory() as tmp:
        path = bundle.save(Path(tmp) / "bundle")
        info = tracking.log_model(path, bundle.model.user_ids_[:3], registered_name)
    tracking.log_dict(json.loads(json.dumps(bundle.info, default=str)), "bundle_info.json")
    return info
