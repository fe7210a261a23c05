"""Ranking metrics at K, vectorised over users.

Definitions (as in Microsoft Recommenders and Cornac):

- ``hits[u, r]`` is 1 when the item at rank ``r`` (0-based) is relevant to ``u``;
  ``n_rel[u]`` is the number of relevant (held-out positive) items of ``u``.
- Precision@K = sum(hits) / K
- Recall@K = sum(hits) / n_rel
- HitRate@K = 1 if any hit
- NDCG@K = sum(hits / log2(r + 2)) / IDCG, IDCG = sum_{r < min(n_rel, K)} 1 / log2(r + 2)
- MAP@K = sum_r(Precision@(r+1) * hits[r]) / min(n_rel, K)
- AUC = P(score of a relevant item > score of an irrelevant candidate), ties count 1/2
- Coverage@K = distinct items recommended to anyone / number of candidate items

Every per-user value is averaged over users with at least one relevant item.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.stats import rankdata

from recsys.evaluation.intervals import percentile_interval, resampled_sums
from recsys.scoring import chunked_top_k

RANKING_METRICS = ("precision", "recall", "ndcg", "map", "hit_rate")


def hits_at_k(top_items: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """Boolean ``(n_users, K)``: is ``top_items[u, r]`` in row ``u`` of ``relevant``.

    ``top_items`` holds column indices of ``relevant``; ``-1`` marks an empty slot.
    """
    top_items = np.asarray(top_items)
    rows = np.repeat(np.arange(top_items.shape[0]), top_items.shape[1])
    cols = top_items.ravel()
    valid = cols >= 0
    out = np.zeros(cols.shape, dtype=bool)
    out[valid] = np.asarray(relevant[rows[valid], cols[valid]]).ravel() > 0
    return out.reshape(top_items.shape)


def ranking_metrics(top_items: np.ndarray, relevant: sp.csr_matrix, k: int) -> dict[str, float]:
    """Mean Precision, Recall, NDCG, MAP and HitRate at ``k`` over users with relevant items.

    Parameters
    ----------
    top_items : int array (n_users, >= k)
        Recommended column indices of ``relevant``, best first.
    relevant : CSR (n_users, n_items)
        Held-out positives, users as rows in the same order as ``top_items``.
    """
    per_user = ranking_metrics_per_user(top_items, relevant, k)
    if not np.isfinite(per_user["ndcg"]).any():
        return {m: float("nan") for m in RANKING_METRICS}
    return {m: float(np.nanmean(values)) for m, values in per_user.items()}


def ranking_metrics_per_user(top_items: np.ndarray, relevant: sp.csr_matrix, k: int) -> dict[str, np.ndarray]:
    """Each user's Precision, Recall, NDCG, MAP and HitRate at ``k`` (rows of ``relevant``;
    NaN for users without relevant items): what a bootstrap over users resamples."""
    if k < 1:
        raise ValueError(f"`k` must be >= 1, got {k}")
    users, hits, n_rel = _hits(top_items, relevant, k)
    precision_at_r = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    n_hits = hits.sum(axis=1)
    values = {"precision": n_hits / k, "recall": n_hits / n_rel, "ndcg": _ndcg_rows(hits, n_rel, k),
              "map": (precision_at_r * hits).sum(axis=1) / np.minimum(n_rel, k), "hit_rate": (n_hits > 0) * 1.0}
    out = {}
    for name in RANKING_METRICS:
        out[name] = np.full(len(users), np.nan)
        out[name][users] = values[name]
    return out


def _hits(top_items: np.ndarray, relevant: sp.csr_matrix, k: int):
    """``(users with relevant items, their hits (float, users x k), their relevant counts)``;
    with fewer than ``k`` candidates the missing slots are misses."""
    relevant = sp.csr_matrix(relevant)
    n_rel = np.diff(relevant.indptr)
    users = n_rel > 0
    top_items = np.asarray(top_items)[users, :k]
    if top_items.shape[1] < k:
        top_items = np.pad(top_items, ((0, 0), (0, k - top_items.shape[1])), constant_values=-1)
    return users, hits_at_k(top_items, relevant[users]).astype(np.float64), n_rel[users].astype(np.float64)


def _ndcg_rows(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discounts)[np.minimum(n_rel, k).astype(int) - 1]
    return (hits[:, :k] * discounts).sum(axis=1) / ideal


def ndcg_per_user(top_items: np.ndarray, relevant: sp.csr_matrix, k: int) -> np.ndarray:
    """NDCG@k of each user (row of ``relevant``); NaN for users without relevant items.
    Their mean is :func:`ranking_metrics`' ``ndcg``."""
    return ranking_metrics_per_user(top_items, relevant, k)["ndcg"]


def share_in_top(top_items: np.ndarray, flagged: np.ndarray) -> float:
    """Share of the filled slots (not ``-1``) of ``top_items`` that hold ``flagged`` items
    (a bool mask over the columns); 0 with none filled."""
    picked = np.asarray(flagged, bool)[top_items[top_items >= 0]]
    return float(picked.mean()) if picked.size else 0.0


def paired_bootstrap(ours: np.ndarray, theirs: np.ndarray, level: float = 0.9, rounds: int = 2000,
                     seed: int = 0) -> tuple[float, float, float]:
    """``(ratio, low, high)``: the ratio of means ``mean(ours) / mean(theirs)`` over the same
    users, and its ``level`` interval from resampling users with both of their values kept
    together (a paired bootstrap, :mod:`recsys.evaluation.intervals`). NaN where ``theirs``
    sums to 0."""
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    if ours.shape != theirs.shape or ours.ndim != 1:
        raise ValueError(f"paired values need two equal 1-d arrays, got shapes {ours.shape} and {theirs.shape}")
    if len(ours) == 0:
        return float("nan"), float("nan"), float("nan")
    sums = resampled_sums(np.column_stack([ours, theirs]), rounds, seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = ours.sum() / theirs.sum()
        return float(ratio), *percentile_interval(sums[:, 0] / sums[:, 1], level)


def ndcg_of_factors(user_vectors, item_vectors, relevant: sp.csr_matrix, k: int, seen: sp.csr_matrix | None = None,
                    seen_columns: np.ndarray | None = None) -> float:
    """NDCG@k of ranking the items by ``user_vectors @ item_vectors.T`` against ``relevant``
    (users x items), ``seen`` items excluded (see :func:`recsys.scoring.chunked_top_k`):
    ranked chunk by chunk, never holding the users x items scores."""
    tops = [idx for _, idx, _ in chunked_top_k(user_vectors, item_vectors, k, seen, seen_columns=seen_columns)]
    return ranking_metrics(np.vstack(tops) if tops else np.zeros((0, k), np.int64), relevant, k)["ndcg"]


def auc(scores: np.ndarray, relevant: sp.csr_matrix, candidates: np.ndarray | None = None) -> float:
    """Mean per-user AUC from full score rows.

    ``scores`` is ``(n_users, n_items)``; entries that are ``-inf`` (excluded
    items) or outside ``candidates`` (bool mask over items) are not ranked.
    """
    scores = np.asarray(scores, dtype=np.float64)
    relevant = sp.csr_matrix(relevant)
    usable = np.isfinite(scores)
    if candidates is not None:
        usable &= np.asarray(candidates, dtype=bool)[None, :]
    rel = relevant.toarray().astype(bool) & usable
    n_pos = rel.sum(axis=1)
    n_neg = usable.sum(axis=1) - n_pos
    users = (n_pos > 0) & (n_neg > 0)
    if not users.any():
        return float("nan")
    s = np.where(usable, scores, -np.inf)[users]
    # Average ranks over usable items only: unusable entries are -inf and rank first,
    # so subtract their count.
    ranks = rankdata(s, axis=1, method="average") - (~usable[users]).sum(axis=1, keepdims=True)
    pos_rank_sum = np.where(rel[users], ranks, 0.0).sum(axis=1)
    p, n = n_pos[users], n_neg[users]
    return float(np.mean((pos_rank_sum - p * (p + 1) / 2) / (p * n)))


def coverage(top_items: np.ndarray, n_candidates: int) -> float:
    """Share of the candidate items recommended to at least one user."""
    top_items = np.asarray(top_items)
    return float(np.unique(top_items[top_items >= 0]).size / max(n_candidates, 1))
