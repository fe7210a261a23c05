"""The evaluation protocol: fit on a split's train part, rank warm and cold test items.

- warm: users with held-out positives rank every warm item (items with
  training interactions), items they interacted with in training excluded;
- cold: users with positives on cold items rank the cold items only;
- all: the nightly job as a shop runs it: every user known in training with
  any held-out positive ranks the whole catalog (warm and cold items together,
  their own training items excluded) against all of those positives. Besides
  the usual metrics it reports ``new_share_at_K``, the share of the top K that
  is cold items, and ``new_share_of_positives``, their share of the positives;
- new_users (cutoff split): users first seen after the cutoff rank the whole
  catalog from their first positives alone (``Split.new_user_history``, folded
  in: :meth:`~recsys.models.base.Recommender.user_vectors_for`; a model trained
  on that history ranks them as known users), against the rest of their
  positives. Models that cannot fold in users have no such segment.
"""

from __future__ import annotations

import copy
import time

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.evaluation import metrics
from recsys.evaluation.splits import Split
from recsys.progress import labelled
from recsys.scoring import mask_seen, top_k

DEFAULT_KS = (10, 20)
#: users per scoring block, to bound memory on large catalogs
USER_BLOCK = 1024


def evaluate_segment(model, users: np.ndarray, candidates: np.ndarray, test: pd.DataFrame,
                     seen: sp.csr_matrix | None, ks=DEFAULT_KS, new_items: np.ndarray | None = None,
                     per_user: dict | None = None) -> dict[str, float]:
    """Metrics for one segment. ``test`` holds ``user_idx, item_idx`` positives.

    ``new_items`` (item indices): also report their share of each top K and of the
    positives. ``per_user`` (a dict): filled with each user's value of each ranking metric
    at each K (``ndcg_at_20``...), a Series indexed by user index, for intervals and
    paired comparisons between models (:mod:`recsys.evaluation.intervals`).
    """
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
    is_new = None if new_items is None else np.isin(candidates, new_items)
    for k in ks:
        for name, values in metrics.ranking_metrics_per_user(top, relevant, k).items():
            out[f"{name}_at_{k}"] = float(np.nanmean(values))  # every segment user has a positive
            if per_user is not None:
                per_user[f"{name}_at_{k}"] = pd.Series(values, index=users)
        out[f"coverage_at_{k}"] = metrics.coverage(top[:, :k], len(candidates))
        if is_new is not None:
            out[f"new_share_at_{k}"] = metrics.share_in_top(top[:, :k], is_new)
    if is_new is not None:
        out["new_share_of_positives"] = float(np.mean(is_new[relevant.indices])) if relevant.nnz else 0.0
    out["auc"] = float(np.nansum(np.array(aucs) * weights) / np.sum(np.array(weights)[~np.isnan(aucs)]))
    out["users"] = len(users)
    return out


def evaluate(model, split: Split, ks=DEFAULT_KS, seed: int = 0, per_user: dict | None = None
             ) -> dict[str, dict[str, float]]:
    """``{"warm": {...}, "cold": {...}, "all": {...}}`` metrics of a fitted model on a split
    (``per_user``: filled with ``{segment: {metric: Series}}``, see :func:`evaluate_segment`).

    Equal scores are ranked in one seeded random order of the candidates (the same for
    every model): a model that scores all new items alike then ranks them as random
    does. In index order it would inherit whatever the ids encode: MovieLens numbers
    movies by date, and popular classics come first.
    """
    seen = split.train.user_items(positives_only=False)
    rng = np.random.default_rng(seed)
    known = np.unique(split.train.interactions["user_idx"].to_numpy())
    future = pd.concat([split.warm_test, split.cold_test])[["user_idx", "item_idx"]].drop_duplicates()
    future = future[future["user_idx"].isin(known)]
    segments = {"warm": (split.warm_items, split.warm_test, seen, None),
                "cold": (split.cold_items, split.cold_test, None, None),
                "all": (np.union1d(split.warm_items, split.cold_items), future, seen, split.cold_items)}
    per_user = {} if per_user is None else per_user
    out = {name: evaluate_segment(model, np.unique(test["user_idx"].to_numpy()), rng.permutation(candidates), test,
                                  excluded, ks, new_items=new, per_user=per_user.setdefault(name, {}))
           for name, (candidates, test, excluded, new) in segments.items()}
    if len(split.new_user_test):
        scorer, history_seen = new_user_scorer(model, split)
        out["new_users"] = {} if scorer is None else evaluate_segment(
            scorer, np.unique(split.new_user_test["user_idx"].to_numpy()), rng.permutation(segments["all"][0]),
            split.new_user_test, history_seen, ks, new_items=split.cold_items,
            per_user=per_user.setdefault("new_users", {}))
    return out


def new_user_scorer(model, split: Split):
    """``(a model scoring the new users, their history's interactions as users x items)``: the
    model itself where it was trained on their history, else a copy with them folded in
    (None for a model that cannot fold in users)."""
    history = split.train.with_interactions(split.new_user_history)
    seen = history.user_items(positives_only=False)
    users = np.unique(split.new_user_test["user_idx"].to_numpy())
    if np.isin(users, split.train.interactions["user_idx"].to_numpy()).all():
        return model, seen
    if not model.folds_in_users:
        return None, seen
    scorer = copy.copy(model)  # fold_in replaces the model's arrays, never writes into them
    scorer.fold_in(model.user_ids_[users], history.user_items()[users], seen[users])
    return scorer, seen


def fit_and_evaluate(models: dict, split: Split, item_features=None, ks=DEFAULT_KS,
                     progress: bool = False, per_user: dict | None = None) -> pd.DataFrame:
    """Fit each model on ``split.train`` (``progress``: with progress bars) and evaluate
    it: one long table ``model, segment, metric, value`` (fit seconds as segment ``fit``,
    metric ``fit_seconds``). ``per_user``: filled with ``{model: {segment: {metric: Series}}}``."""
    rows = []
    for name, model in models.items():
        start = time.perf_counter()
        with labelled(name):
            model.fit(split.train, item_features, progress=progress)
        fit_seconds = time.perf_counter() - start
        users = None if per_user is None else per_user.setdefault(name, {})
        for segment, values in evaluate(model, split, ks, per_user=users).items():
            rows += [(name, segment, metric, value) for metric, value in values.items()]
        rows.append((name, "fit", "fit_seconds", fit_seconds))
    return pd.DataFrame(rows, columns=["model", "segment", "metric", "value"])


def metric_table(results: pd.DataFrame, metric_names=("recall_at_20", "ndcg_at_20", "map_at_20")) -> pd.DataFrame:
    """Wide table: one row per model, columns ``<segment>_<metric>`` (warm, cold, all), ``fit_seconds``."""
    scores = results[results["metric"].isin(metric_names)]
    wide = scores.pivot_table(index="model", columns=["segment", "metric"], values="value", sort=False)
    wide.columns = [f"{seg}_{metric}" for seg, metric in wide.columns]
    fit = results[results["metric"] == "fit_seconds"].set_index("model")["value"].rename("fit_seconds")
    return wide.join(fit).loc[results["model"].unique()]
