"""Top-K selection over score matrices: BLAS-friendly, partial sort, chunked by users."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` columns of each row, best first.

    ``argpartition`` finds the top ``k`` in linear time, then only those are
    sorted. Entries equal to ``-inf`` (excluded items) are never returned:
    their slots hold index ``-1`` and score ``-inf``.

    Returns
    -------
    indices : int64 (n_rows, min(k, n_cols))
    values : same dtype as ``scores``
    """
    if k < 1:
        raise ValueError(f"`k` must be >= 1, got {k}")
    scores = np.asarray(scores)
    k = min(k, scores.shape[1])
    n = scores.shape[1]
    if k < n:  # partition around the k-th largest without a negated copy of the scores
        part = np.argpartition(scores, n - k, axis=1)[:, n - k:]
    else:
        part = np.broadcast_to(np.arange(k), (scores.shape[0], k))
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    indices = np.take_along_axis(part, order, axis=1)
    values = np.take_along_axis(part_scores, order, axis=1)
    indices = np.where(np.isneginf(values), -1, indices)
    return indices, values


def ranked_frame(owners, owner_col: str, candidates, candidate_col: str, idx: np.ndarray,
                 val: np.ndarray) -> pd.DataFrame:
    """Long table ``owner_col, rank, candidate_col, score`` from :func:`top_k` output.

    Row ``r`` of ``idx`` belongs to ``owners[r]``; its entries index ``candidates``.
    Empty slots (``-1``) are left out; ``rank`` starts at 1.
    """
    valid = (idx >= 0).ravel()
    rows = np.repeat(np.arange(idx.shape[0]), idx.shape[1])[valid]
    return pd.DataFrame({
        owner_col: np.asarray(owners, dtype=object)[rows],
        "rank": np.tile(np.arange(1, idx.shape[1] + 1, dtype=np.int32), idx.shape[0])[valid],
        candidate_col: np.asarray(candidates, dtype=object)[idx.ravel()[valid]],
        "score": val.ravel()[valid].astype(np.float32),
    })


def mask_seen(scores: np.ndarray, seen_rows: sp.csr_matrix, columns: np.ndarray | None = None) -> np.ndarray:
    """Set ``scores[u, j] = -inf`` where ``seen_rows[u, columns[j]]`` is set (in place).

    ``seen_rows`` has one row per row of ``scores``; ``columns`` maps score
    columns to its columns (``None``: the same columns).
    """
    seen_rows = sp.csr_matrix(seen_rows)
    if columns is not None:
        lookup = np.full(seen_rows.shape[1], -1, dtype=np.int64)
        lookup[columns] = np.arange(len(columns))
    rows = np.repeat(np.arange(seen_rows.shape[0]), np.diff(seen_rows.indptr))
    cols = seen_rows.indices if columns is None else lookup[seen_rows.indices]
    keep = cols >= 0
    scores[rows[keep], cols[keep]] = -np.inf
    return scores


def chunked_top_k(user_vectors: np.ndarray, item_vectors: np.ndarray, k: int, seen: sp.csr_matrix | None = None,
                  allowed: np.ndarray | None = None, chunk: int = 1024):
    """Top-``k`` items for every user, ``chunk`` users at a time.

    One BLAS matrix product per chunk, seen items and disallowed items set to
    ``-inf``, then :func:`top_k`. Memory is bounded by ``chunk x n_items``
    scores whatever the number of users.

    Yields ``(first_user_row, indices (n, k), scores (n, k))`` per chunk.
    """
    item_t = np.ascontiguousarray(np.asarray(item_vectors, np.float32).T)
    blocked = None if allowed is None else ~np.asarray(allowed, bool)
    for start in range(0, len(user_vectors), chunk):
        scores = np.asarray(user_vectors[start:start + chunk], np.float32) @ item_t
        if blocked is not None:
            scores[:, blocked] = -np.inf
        if seen is not None:
            mask_seen(scores, seen[start:start + chunk])
        idx, val = top_k(scores, k)
        yield start, idx, val
