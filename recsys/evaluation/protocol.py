"""The evaluation protocol: fit on a split's train part, rank warm and cold test items.

- warm: users with held-out positives rank every warm item (items with
  training interactions), items they interacted with in training excluded;
- cold: users with positives on cold items rank the cold items only.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.evaluation import metrics
from recsys.evaluation.splits import Split
from recsys.scoring import mask_seen, top_k

DEFAULT_KS = (10, 20)
#: users per scoring block, to bound memory on large catalogs
USER_BLOCK = 1024


def evaluate_segment(model, users: np.ndarray, candidates: np.ndarray, test: pd.DataFrame,
                     seen: sp.csr_matrix | None, ks=DEFAULT_KS) -> dict[str, float]:
    """Metrics for one segment. ``test`` holds ``user_idx, item_idx`` positives."""
    if len(users) == 0 or len(candidates) == 0:
        return {}
    col = np.full(int(max(candidates.max(), test["item_idx"].max())) + 1, -1, dtype=np.int64)
    col[candidates] = np.arange(len(candidates))
    row = {u: r for r, u in enumerate(users)}
    relevant = sp.csr_matrix(
        (np.ones(len(test), np.float32), ([row[u] for u in test["user_idx"]], col[test["item_idx"].to_numpy()])),
        shape=(len(users), len(candidates)))
    relevant.sum_duplicates()
    kmax = max(ks)
    tops, aucs, weights = [], [], []
    for start in range(0, len(users), USER_BLOCK):
        block = users[start:start + USER_BLOCK]
        scores = np.asarray(model.score_index(block, candidates), dtype=np.float64)
        if seen is not None:
            mask_seen(scores, seen[block], candidates)
        tops.append(top_k(scores, kmax)[0])
        aucs.append(metrics.auc(scores, relevant[start:start + USER_BLOCK]))
        weights.append(len(block))
    top = np.vstack(tops)
    out = {}
    for k in ks:
        for name, value in metrics.ranking_metrics(top, relevant, k).items():
            out[f"{name}_at_{k}"] = value
        out[f"coverage_at_{k}"] = metrics.coverage(top[:, :k], len(candidates))
    out["auc"] = float(np.nansum(np.array(aucs) * weights) / np.sum(np.array(weights)[~np.isnan(aucs)]))
    out["users"] = len(users)
    return out


def evaluate(model, split: Split, ks=DEFAULT_KS, seed: int = 0) -> dict[str, dict[str, float]]:
    """``{"warm": {...}, "cold": {...}}`` metrics of a fitted model on a split.

    Equal scores are ranked in one seeded random order of the candidates (the same for
    every model): a model that scores all new items alike then ranks them as random
    does. In index order it would inherit whatever the ids encode: MovieLens numbers
    movies by date, and popular classics come first.
    """
    seen = split.train.user_items(positives_only=False)
    warm_users = np.unique(split.warm_test["user_idx"].to_numpy())
    cold_users = np.unique(split.cold_test["user_idx"].to_numpy())
    rng = np.random.default_rng(seed)
    return {
        "warm": evaluate_segment(model, warm_users, rng.permutation(split.warm_items), split.warm_test, seen, ks),
        "cold": evaluate_segment(model, cold_users, rng.permutation(split.cold_items), split.cold_test, None, ks),
    }


def fit_and_evaluate(models: dict, split: Split, item_features=None, ks=DEFAULT_KS,
                     progress: bool = False) -> pd.DataFrame:
    """Fit each model on ``split.train`` (``progress``: with progress bars) and evaluate
    it: one long table ``model, segment, metric, value`` (fit seconds as ``fit_seconds``)."""
    rows = []
    for name, model in models.items():
        start = time.perf_counter()
        model.fit(split.train, item_features, progress=progress)
        fit_seconds = time.perf_counter() - start
        for segment, values in evaluate(model, split, ks).items():
            rows += [(name, segment, metric, value) for metric, value in values.items()]
        rows.append((name, "all", "fit_seconds", fit_seconds))
    return pd.DataFrame(rows, columns=["model", "segment", "metric", "value"])


def metric_table(results: pd.DataFrame, metric_names=("recall_at_20", "ndcg_at_20", "map_at_20")) -> pd.DataFrame:
    """Wide table: one row per model, columns ``warm_<metric>``, ``cold_<metric>``, ``fit_seconds``."""
    scores = results[results["metric"].isin(metric_names)]
    wide = scores.pivot_table(index="model", columns=["segment", "metric"], values="value", sort=False)
    wide.columns = [f"{seg}_{metric}" for seg, metric in wide.columns]
    fit = results[results["metric"] == "fit_seconds"].set_index("model")["value"].rename("fit_seconds")
    return wide.join(fit).loc[results["model"].unique()]
