"""Top-K over score matrices, and the chunked, threaded loop that ranks every user (see recsys.topk_kernel)."""

from __future__ import annotations

import collections
import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import ThreadpoolController

from recsys.topk_kernel import empty_top_k, offer

def unit_rows(x: np.ndarray) -> np.ndarray:
    """Each row scaled to unit length (zero rows stay zero), float32: cosines become dot products."""
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32, copy=False)


#: users per block: 1024 x 20k items is 80 MB of scores, and larger blocks are no faster
DEFAULT_CHUNK = 1024


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` columns of each row, best first (ties: the lower column first).

    Entries equal to ``-inf`` (excluded items) are never returned: their
    slots hold index ``-1`` and score ``-inf``.

    Returns
    -------
    indices : int64 (n_rows, min(k, n_cols))
    values : same dtype as ``scores`` (float32 for any other than float64)
    """
    if k < 1:
        raise ValueError(f"`k` must be >= 1, got {k}")
    scores = np.asarray(scores)
    scores = np.ascontiguousarray(scores, np.float64 if scores.dtype == np.float64 else np.float32)
    values, indices = empty_top_k(len(scores), min(k, scores.shape[1]), scores.dtype)
    offer(scores, 0, values, indices, *_csr_arrays(None, len(scores)))
    return indices, values


def ranked_frame(owners, owner_col: str, candidates, candidate_col: str, idx: np.ndarray,
                 val: np.ndarray, new: np.ndarray | None = None) -> pd.DataFrame:
    """Long table ``owner_col, rank, candidate_col, score`` from :func:`top_k` output.

    Row ``r`` of ``idx`` belongs to ``owners[r]``; its entries index ``candidates``.
    Empty slots (``-1``) are left out; ``rank`` starts at 1. ``new`` (bool over the
    candidates) adds an ``is_new`` column.
    """
    valid = (idx >= 0).ravel()
    rows = np.repeat(np.arange(idx.shape[0]), idx.shape[1])[valid]
    picked = idx.ravel()[valid]
    frame = pd.DataFrame({
        owner_col: np.asarray(owners, dtype=object)[rows],
        "rank": np.tile(np.arange(1, idx.shape[1] + 1, dtype=np.int32), idx.shape[0])[valid],
        candidate_col: np.asarray(candidates, dtype=object)[picked],
        "score": val.ravel()[valid].astype(np.float32),
    })
    if new is not None:
        frame["is_new"] = np.asarray(new, bool)[picked]
    return frame


def new_items(model) -> np.ndarray:
    """Bool over the model's items: those it scores from their photo alone (no training
    interactions: arrivals, and catalog items nobody had touched). False for models
    without that notion (:meth:`Recommender.from_factors`)."""
    warm = getattr(model, "warm_items_", None)
    return np.zeros(len(model.item_ids_), bool) if warm is None else ~np.asarray(warm, bool)


def mask_seen(scores: np.ndarray, seen_rows: sp.csr_matrix, columns: np.ndarray | None = None) -> np.ndarray:
    """Set ``scores[u, j] = -inf`` where ``seen_rows[u, columns[j]]`` is set (in place).

    ``seen_rows`` has one row per row of ``scores``; ``columns`` maps score
    columns to its columns (``None``: the same columns).
    """
    seen = seen_in_columns(seen_rows, columns, scores.shape[1])
    scores[np.repeat(np.arange(seen.shape[0]), np.diff(seen.indptr)), seen.indices] = -np.inf
    return scores


def seen_in_columns(seen_rows, columns: np.ndarray | None, n_columns: int) -> sp.csr_matrix:
    """``seen_rows`` re-indexed to score columns (``columns[j]`` is score column ``j``'s
    column of ``seen_rows``; ``None``: the same), dropping columns no score has."""
    seen_rows = sp.csr_matrix(seen_rows)
    if columns is None:
        return seen_rows
    lookup = np.full(seen_rows.shape[1], -1, dtype=np.int64)
    lookup[columns] = np.arange(len(columns))
    cols = lookup[seen_rows.indices]
    keep = cols >= 0
    rows = np.repeat(np.arange(seen_rows.shape[0]), np.diff(seen_rows.indptr))[keep]
    return sp.csr_matrix((np.ones(keep.sum(), np.float32), (rows, cols[keep])), shape=(seen_rows.shape[0], n_columns))


def _csr_arrays(seen: sp.csr_matrix | None, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """``indptr, indices`` (int64, columns sorted per row) for :func:`recsys.topk_kernel.offer`; empty for none."""
    if seen is None:
        return np.zeros(rows + 1, np.int64), np.empty(0, np.int64)
    seen = seen.sorted_indices()
    return seen.indptr.astype(np.int64), seen.indices.astype(np.int64)


def transposed(vectors):
    """``vectors.T`` for a product: a float32 view (BLAS reads it transposed, no copy), or CSC when sparse."""
    return vectors.T.tocsc() if sp.issparse(vectors) else np.asarray(vectors, np.float32).T


def product(user_block, item_t) -> np.ndarray:
    """Dense float32 scores ``user_block @ item_t``; either side may be a sparse matrix
    (item-kNN's vectors are rows of the interaction and similarity matrices)."""
    if not sp.issparse(user_block):
        user_block = np.asarray(user_block, np.float32)
    scores = user_block @ item_t
    return (scores.toarray() if sp.issparse(scores) else np.asarray(scores)).astype(np.float32, copy=False)


def chunked_top_k(user_vectors, item_vectors, k: int, seen: sp.csr_matrix | None = None,
                  allowed: np.ndarray | None = None, chunk: int = 1024, seen_columns: np.ndarray | None = None):
    """Top-``k`` items for every user, ``chunk`` users at a time: the one ranking loop
    of every model (recommend, batch, Spark, serving, the explorer).

    Only ``allowed`` items are scored at all. ``seen`` has a row per user;
    its columns are the items', or those ``seen_columns`` maps the items to;
    the selection kernel skips them. Memory is bounded by ``chunk x k``
    results and a few ``SLICE x TILE`` score tiles, whatever the numbers of
    users and items.

    A chunk is cut into slices of ``SLICE`` users, ranked on as many threads
    as BLAS has, each running its own products on single-threaded BLAS (so
    BLAS is single-threaded in this process while the generator is open):
    the selection then runs on every core instead of waiting for the
    product. A slice's scores are made ``TILE`` items at a time, so the
    selection reads them from cache.

    Yields ``(first_user_row, indices (n, min(k, n_items)), scores)`` per chunk.
    """
    width = min(k, item_vectors.shape[0])
    to_item = None
    if allowed is not None:
        columns = np.flatnonzero(allowed)
        item_vectors = item_vectors[columns]
        seen_columns = columns if seen_columns is None else np.asarray(seen_columns)[columns]
        to_item = np.append(columns, -1)  # kernel columns to item rows; an empty slot (-1) stays -1
    item_t = transposed(item_vectors)

    def rank(start, stop):
        values, indices = empty_top_k(stop - start, width)
        seen_rows = None if seen is None else seen_in_columns(seen[start:stop], seen_columns, item_t.shape[1])
        seen_arrays = _csr_arrays(seen_rows, stop - start)
        users = user_vectors[start:stop]
        for first in range(0, item_t.shape[1], TILE):
            offer(product(users, item_t[:, first:first + TILE]), first, values, indices, *seen_arrays)
        return indices, values

    def ranked(start, futures):
        idx, val = (np.vstack(part) for part in zip(*(future.result() for future in futures)))
        return start, idx if to_item is None else to_item[idx], val

    n_users = user_vectors.shape[0] if sp.issparse(user_vectors) else len(user_vectors)
    threads = _blas_threads() if n_users > SLICE else 1  # a few users: BLAS's own threads serve them best
    with ThreadPoolExecutor(threads) as pool, _single_threaded_blas() if threads > 1 else contextlib.nullcontext():
        in_flight = collections.deque()  # one chunk queued behind the one handed out: no thread waits on a barrier
        for start in range(0, n_users, chunk):
            stop = min(start + chunk, n_users)
            in_flight.append((start, [pool.submit(rank, first, min(first + SLICE, stop))
                                      for first in range(start, stop, SLICE)]))
            if len(in_flight) == 2:
                yield ranked(*in_flight.popleft())
        while in_flight:
            yield ranked(*in_flight.popleft())


TILE = 2048  # items per product: a slice's tile of scores (2 MB) is still in cache when the kernel reads it
SLICE = 256  # users per thread task: 128 to 512 were within noise at 20k items; 1024 was slower


def _blas_threads() -> int:
    return max([info["num_threads"] for info in ThreadpoolController().select(user_api="blas").info()] + [1])


_blas_lock = threading.Lock()
_blas_callers = 0
_blas_limiter = None


@contextlib.contextmanager
def _single_threaded_blas():
    """BLAS on one thread while any caller is inside; the setting before the
    first comes back when the last leaves (nested limits of callers on other
    threads would otherwise restore each other's and leave BLAS on one thread)."""
    global _blas_callers, _blas_limiter
    with _blas_lock:
        if _blas_callers == 0:
            _blas_limiter = ThreadpoolController().limit(limits=1, user_api="blas")
        _blas_callers += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_callers -= 1
            if _blas_callers == 0:
                _blas_limiter.restore_original_limits()
