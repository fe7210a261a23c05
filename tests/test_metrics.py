"""Metrics against hand-computed values and a naive reference implementation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.evaluation.metrics import auc, coverage, ndcg_per_user, paired_bootstrap, ranking_metrics
from recsys.scoring import mask_seen, top_k


def relevant(rows, n_items):
    r, c = zip(*[(u, i) for u, items in enumerate(rows) for i in items]) if any(rows) else ((), ())
    return sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(len(rows), n_items))


def test_ranking_metrics_hand_computed():
    top = np.array([[1, 2, 3], [4, 0, 5], [0, 1, 2], [0, 1, 2]])
    rel = relevant([{2, 5}, {4}, set(), {3, 4, 5, 6}], 7)  # user 2 has nothing held out: skipped
    m = ranking_metrics(top, rel, k=3)
    ndcg_u0 = (1 / np.log2(3)) / (1 + 1 / np.log2(3))
    assert m["precision"] == pytest.approx((1 / 3 + 1 / 3 + 0) / 3)
    assert m["recall"] == pytest.approx((1 / 2 + 1 + 0) / 3)
    assert m["ndcg"] == pytest.approx((ndcg_u0 + 1 + 0) / 3)
    assert m["map"] == pytest.approx(((1 / 2) / 2 + 1 + 0) / 3)
    assert m["hit_rate"] == pytest.approx(2 / 3)


def test_short_lists_count_missing_slots_as_misses():
    rel = relevant([{0}, {1}], 3)
    m = ranking_metrics(np.array([[0], [2]]), rel, k=3)
    assert m["precision"] == pytest.approx((1 / 3 + 0) / 2) and m["recall"] == pytest.approx(0.5)


def test_k_smaller_than_list_and_bad_k():
    top = np.array([[1, 0]])
    rel = relevant([{0}], 2)
    assert ranking_metrics(top, rel, k=1)["recall"] == 0.0
    assert ranking_metrics(top, rel, k=2)["ndcg"] == pytest.approx(1 / np.log2(3))
    with pytest.raises(ValueError, match="`k` must be >= 1, got 0"):
        ranking_metrics(top, rel, k=0)


def naive_metrics(top, rel_sets, k):
    out = {m: [] for m in ("precision", "recall", "ndcg", "map", "hit_rate")}
    for items, rel in zip(top, rel_sets):
        if not rel:
            continue
        hits = [1.0 if i in rel else 0.0 for i in items[:k]]
        dcg = sum(h / np.log2(r + 2) for r, h in enumerate(hits))
        idcg = sum(1 / np.log2(r + 2) for r in range(min(len(rel), k)))
        ap = sum(sum(hits[: r + 1]) / (r + 1) for r, h in enumerate(hits) if h) / min(len(rel), k)
        out["precision"].append(sum(hits) / k)
        out["recall"].append(sum(hits) / len(rel))
        out["ndcg"].append(dcg / idcg)
        out["map"].append(ap)
        out["hit_rate"].append(float(sum(hits) > 0))
    return {m: float(np.mean(v)) for m, v in out.items()}


def test_vectorised_metrics_match_naive_reference(rng):
    n_users, n_items, k = 57, 40, 10
    scores = rng.random((n_users, n_items))
    rel_sets = [set(rng.choice(n_items, rng.integers(0, 12), replace=False).tolist()) for _ in range(n_users)]
    top = np.argsort(-scores, axis=1)[:, :k]
    fast = ranking_metrics(top, relevant(rel_sets, n_items), k)
    slow = naive_metrics(top, rel_sets, k)
    for name in slow:
        assert fast[name] == pytest.approx(slow[name]), name


def test_auc_hand_computed_and_exclusions():
    scores = np.array([[0.9, 0.1, 0.5, 0.3]])
    assert auc(scores, relevant([{0, 3}], 4)) == pytest.approx(3 / 4)
    scores[0, 2] = -np.inf  # an excluded (seen) item is not ranked
    assert auc(scores, relevant([{0, 3}], 4)) == pytest.approx(1.0)
    assert auc(np.array([[0.5, 0.5]]), relevant([{0}], 2)) == pytest.approx(0.5)  # ties count half
    assert auc(np.array([[0.9, 0.1, 0.5]]), relevant([{1}], 3), candidates=np.array([True, True, False])) == 0.0


def test_auc_matches_pairwise_reference(rng):
    scores = rng.random((20, 15))
    rel_sets = [set(rng.choice(15, 4, replace=False).tolist()) for _ in range(20)]
    ref = np.mean([np.mean([(s[p] > s[n]) + 0.5 * (s[p] == s[n]) for p in rel for n in set(range(15)) - rel])
                   for s, rel in zip(scores, rel_sets)])
    assert auc(scores, relevant(rel_sets, 15)) == pytest.approx(ref)


def test_coverage():
    assert coverage(np.array([[0, 1], [1, 2], [-1, -1]]), 4) == pytest.approx(3 / 4)


def test_top_k_matches_full_sort_and_skips_excluded(rng):
    scores = rng.random((30, 50)).astype(np.float32)
    idx, val = top_k(scores, 7)
    assert np.array_equal(idx, np.argsort(-scores, axis=1)[:, :7])
    assert np.allclose(val, -np.sort(-scores, axis=1)[:, :7])
    seen = sp.csr_matrix(scores > 0.1)  # almost everything seen
    masked = mask_seen(scores.copy(), seen)
    idx, _ = top_k(masked, 7)
    for u in range(30):
        chosen = idx[u][idx[u] >= 0]
        assert not seen[u, chosen].toarray().any()
        assert len(chosen) == min(7, int((scores[u] <= 0.1).sum()))


def test_mask_seen_with_candidate_columns():
    scores = np.zeros((2, 3))
    seen = sp.csr_matrix(np.array([[0, 1, 0, 1, 0], [1, 0, 0, 0, 0]]))
    mask_seen(scores, seen, columns=np.array([3, 0, 2]))  # score columns are items 3, 0, 2
    assert np.isneginf(scores).tolist() == [[True, False, False], [False, True, False]]


@pytest.mark.parametrize("n_cols,k", [(5000, 10), (4999, 3), (700, 20), (161, 5)])
def test_top_k_equals_full_sort_on_wide_rows(rng, n_cols, k):
    # rows of several selection blocks and a ragged remainder
    scores = rng.normal(size=(40, n_cols)).astype(np.float32)
    scores[:, rng.integers(0, n_cols, 300)] = -np.inf  # excluded items
    scores[3, :] = -np.inf
    scores[3, [7, n_cols - 1]] = [1.0, 2.0]  # a row with fewer than k allowed items
    idx, val = top_k(scores, k)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    expected_val = np.take_along_axis(scores, order, axis=1)
    assert np.array_equal(val, expected_val)
    assert np.array_equal(idx, np.where(np.isneginf(expected_val), -1, order))
    assert list(idx[3]) == [n_cols - 1, 7] + [-1] * (k - 2)


def test_ndcg_per_user_averages_to_the_ndcg_and_marks_users_without_positives(rng):
    rel = relevant([[0, 3], [], [5], [1, 2, 4]], 8)
    top = np.array([[3, 0, 1], [0, 1, 2], [2, 3, 4], [4, 7, 6]])
    per_user = ndcg_per_user(top, rel, 3)
    assert np.isnan(per_user[1]) and per_user[2] == 0.0
    assert np.nanmean(per_user) == pytest.approx(ranking_metrics(top, rel, 3)["ndcg"])
    assert per_user[0] == pytest.approx(1.0)  # both relevant items in the top 2


def test_paired_bootstrap_known_answers(rng):
    scores = rng.random(300)
    ratio, low, high = paired_bootstrap(scores, scores.copy())
    assert ratio == 1.0 and low == pytest.approx(1.0) and high == pytest.approx(1.0)  # an identical model
    noisy = scores * rng.uniform(0.5, 1.5, 300)  # a model as good on average, user by user different
    ratio, low, high = paired_bootstrap(noisy, scores, seed=1)
    assert low < 1.0 < high and low < ratio < high
    ratio, low, high = paired_bootstrap(2 * scores, scores)
    assert ratio == pytest.approx(2.0) and low == pytest.approx(2.0) and high == pytest.approx(2.0)
    with pytest.raises(ValueError, match="equal 1-d"):
        paired_bootstrap(scores, scores[:-1])
