"""The top-K kernel (recsys.topk_kernel) and the threaded loop over users (recsys.scoring.chunked_top_k),
checked against a naive full sort: ties, excluded and NaN scores, seen items, allow-lists, BLAS threads."""

import threading

import numpy as np
import pytest
import scipy.sparse as sp
from threadpoolctl import ThreadpoolController

from recsys.scoring import SLICE, TILE, chunked_top_k, top_k


def naive_top_k(scores, k):
    """Stable full sort, best first; excluded (-inf) and NaN entries become empty slots."""
    scores = np.where(np.isnan(scores), -np.inf, scores)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    values = np.take_along_axis(scores, order, axis=1)
    return np.where(np.isneginf(values), -1, order), values


def test_ties_go_to_the_lower_column_as_in_a_stable_sort(rng):
    scores = rng.integers(0, 4, size=(50, 300)).astype(np.float32)  # a handful of values: ties everywhere
    idx, val = top_k(scores, 25)
    expected_idx, expected_val = naive_top_k(scores, 25)
    assert np.array_equal(idx, expected_idx)
    assert np.array_equal(val, expected_val)


def test_nan_and_excluded_scores_are_never_chosen(rng):
    scores = rng.normal(size=(6, 200))  # float64 stays float64
    scores[0, ::2] = np.nan
    scores[1, :] = np.nan
    scores[2, 5:] = -np.inf
    idx, val = top_k(scores, 10)
    assert val.dtype == np.float64
    expected_idx, expected_val = naive_top_k(scores, 10)
    assert np.array_equal(idx, expected_idx)
    assert np.array_equal(val, expected_val)
    assert (idx[1] == -1).all() and (idx[2, 5:] == -1).all()


@pytest.mark.parametrize("k", [1, 7, 40])
def test_chunked_top_k_equals_a_full_sort_with_seen_items_and_an_allow_list(rng, k):
    # more users than a slice (the threaded path) and more items than a tile (lists carried across tiles)
    n_users, n_items, factors = 2 * SLICE + 37, TILE + 333, 8
    users = rng.normal(size=(n_users, factors)).astype(np.float32)
    items = rng.normal(size=(n_items, factors)).astype(np.float32)
    allowed = rng.random(n_items) < 0.9
    seen_columns = rng.permutation(n_items + 50)[:n_items]  # item j is column seen_columns[j] of the seen matrix
    seen = sp.random(n_users, n_items + 50, density=0.05, format="lil", random_state=1)
    seen[3] = 1.0  # a user who has seen everything
    seen = seen.tocsr()

    scores = users @ items.T
    scores[:, ~allowed] = -np.inf
    scores[seen[:, seen_columns].toarray() > 0] = -np.inf
    expected_idx, expected_val = naive_top_k(scores, k)

    parts = list(chunked_top_k(users, items, k, seen, allowed, chunk=300, seen_columns=seen_columns))
    assert [start for start, _, _ in parts] == list(range(0, n_users, 300))
    idx = np.vstack([part[1] for part in parts])
    val = np.vstack([part[2] for part in parts])
    assert np.array_equal(idx, expected_idx)
    np.testing.assert_allclose(val, expected_val, rtol=1e-5)
    assert (idx[3] == -1).all()


def test_an_allow_list_shorter_than_k_leaves_empty_slots(rng):
    users, items = rng.normal(size=(5, 4)).astype(np.float32), rng.normal(size=(30, 4)).astype(np.float32)
    allowed = np.zeros(30, bool)
    allowed[[4, 17]] = True
    (_, idx, val), = chunked_top_k(users, items, 5, allowed=allowed)
    assert idx.shape == (5, 5)
    assert set(idx[:, :2].ravel()) == {4, 17} and (idx[:, 2:] == -1).all() and np.isneginf(val[:, 2:]).all()


def blas_threads():
    return [info["num_threads"] for info in ThreadpoolController().select(user_api="blas").info()]


def test_blas_threads_come_back_after_ranking_finished_abandoned_or_concurrent(rng):
    before = blas_threads()
    users, items = rng.normal(size=(3 * SLICE, 8)).astype(np.float32), rng.normal(size=(500, 8)).astype(np.float32)
    for _ in chunked_top_k(users, items, 5, chunk=SLICE):
        pass
    assert blas_threads() == before
    ranking = chunked_top_k(users, items, 5, chunk=SLICE)
    next(ranking)
    ranking.close()  # a consumer that stops early
    assert blas_threads() == before
    results = []
    workers = [threading.Thread(target=lambda: results.append(len(list(chunked_top_k(users, items, 5, chunk=64)))))
               for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert results == [12] * 3 and blas_threads() == before
