"""The newness shift: one scale for known items and arrivals (recsys.models.newness), and the
hybrid's share of arrivals in the whole-catalog ranking on logs with a known answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys.data.dataset import Dataset
from recsys.evaluation import evaluate, make_split
from recsys.evaluation.metrics import share_in_top
from recsys.models import HybridRecommender
from recsys.models import newness

WEEK = 7 * 86400


def test_with_shift_stretches_new_scores_about_their_mean_and_moves_them_by_the_spread(rng):
    users, items = rng.normal(size=(9, 5)), rng.normal(size=(60, 5))
    warm = np.arange(60) < 35
    u, v, scale = newness.with_shift(users, items, warm, 1.5, scale=3.0)
    assert scale == 3.0 and u.shape == (9, 6) and v.shape == (60, 6)
    raw = users @ items.T
    sigma, mu = raw[:, warm].std(axis=1), raw[:, ~warm].mean(axis=1)
    expected = np.where(warm, raw, mu[:, None] + 3.0 * (raw - mu[:, None]) + 1.5 * sigma[:, None])
    np.testing.assert_allclose(u @ v.T, expected, rtol=1e-4, atol=1e-4)


def test_default_scale_makes_new_items_spread_as_known_ones(rng):
    users = rng.normal(size=(40, 4))
    items = np.vstack([rng.normal(size=(50, 4)), 0.1 * rng.normal(size=(30, 4))])  # arrivals squeezed
    warm = np.arange(80) < 50
    u, v, scale = newness.with_shift(users, items, warm, 0.0)
    scores = u @ v.T
    ratio = np.median(scores[:, warm].std(axis=1) / scores[:, ~warm].std(axis=1))
    assert scale > 5 and ratio == pytest.approx(1.0, rel=1e-3)
    few = np.arange(80) < 70  # 10 arrivals: too few to measure their spread
    assert newness.with_shift(users, items, few, 0.0)[2] == 1.0


def test_solve_shift_finds_the_nearest_share_of_a_full_search(rng):
    users, items = rng.normal(size=(30, 6)), rng.normal(size=(200, 6))
    warm = rng.random(200) < 0.7
    spread = newness.moments(users, items, warm)
    for target in (0.0, 0.25, 0.6, 1.0):
        shares = {s: share_in_top(newness.ranked(users, items, warm, s, None, 10, 1.0, spread), ~warm)
                  for s in newness.SHIFTS}
        nearest = min(newness.SHIFTS, key=lambda s: (abs(shares[s] - target), s))
        solved = newness.solve_shift(users, items, warm, target, None, 10, 1.0)
        assert abs(shares[solved] - target) == pytest.approx(abs(shares[nearest] - target))


def test_choose_shift_takes_the_best_ndcg_under_the_fair_share():
    results = {0.0: (0.10, 0.0), 0.5: (0.12, 0.2), 1.0: (0.15, 0.4), 1.5: (0.20, 0.8)}
    assert newness.choose_shift(results, 0.5) == 1.0  # 1.5 ranks best but holds too many arrivals
    assert newness.choose_shift(results, 1.0) == 1.5
    assert newness.choose_shift({0.0: (0.2, 0.0), 1.0: (0.1, 0.3)}, 0.5) == 0.0  # arrivals rank worse


def test_shift_results_match_a_naive_ranking(rng):
    users, items = rng.normal(size=(12, 4)), rng.normal(size=(40, 4))
    warm = np.arange(40) < 25
    relevant = sp.random(12, 40, density=0.1, random_state=1, format="csr")
    relevant.data[:] = 1.0
    results = newness.shift_results(users, items, warm, relevant, None, 5, 1.0)
    for shift in (0.0, 2.0):
        u, v, _ = newness.with_shift(users, items, warm, shift, 1.0)
        top = np.argsort(-(u @ v.T), axis=1, kind="stable")[:, :5]
        assert results[shift][1] == pytest.approx(np.mean(~warm[top]))


def arrivals_log(share, seed=0, n_users=400, periods=6, per_period=80, buys=3, clusters=6, dim=24):
    """Weekly arrivals taking ``share`` of each week's purchases (from the second week on); the
    rest are of items bought before. Taste (a cluster) and popularity show in the features."""
    rng = np.random.default_rng(seed)
    n_items = periods * per_period
    cluster = rng.integers(0, clusters, n_items)
    log_pop = rng.normal(0, 0.8, n_items)
    centres = rng.normal(0, 1, (clusters, dim))
    features = np.maximum(centres[cluster] + 0.5 * rng.normal(0, 1, (n_items, dim)), 0)
    features = np.hstack([features, np.maximum(log_pop + 2, 0)[:, None]]).astype(np.float32)
    arrival = np.repeat(np.arange(periods), per_period)
    taste = rng.integers(0, clusters, n_users)
    bought = np.zeros((n_users, n_items), bool)
    known, rows = arrival == 0, []
    for week in range(periods):
        for u in range(n_users):
            n_new = rng.binomial(buys, share) if week > 0 else 0
            for pool, n in ((arrival == week, n_new), (known, buys - n_new)):
                w = np.where(pool & ~bought[u], np.exp(2.0 * (cluster == taste[u]) + log_pop), 0.0)
                for i in rng.choice(n_items, size=min(n, int((w > 0).sum())), replace=False, p=w / w.sum()):
                    bought[u, i] = True
                    rows.append((f"u{u}", f"i{i}", week * WEEK + rng.uniform(0, WEEK)))
        known = known | bought.any(axis=0)
    items = pd.DataFrame({"item_id": [f"i{i}" for i in range(n_items)], "image_path": ""})
    return Dataset.from_frames(pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]), items, "."), features


@pytest.mark.slow
def test_share_of_arrivals_in_the_top_k_follows_their_share_of_the_future():
    shares = {}
    for share in (0.0, 0.3, 0.7):
        dataset, features = arrivals_log(share)
        split = make_split(dataset, kind="cutoff", last="1w")
        model = HybridRecommender(factors=16, epochs=10, taste_epochs=3, seed=0).fit(split.train, features)
        result = evaluate(model, split, ks=(20,))["all"]
        assert result["new_share_of_positives"] == pytest.approx(share, abs=0.05)
        shares[share] = result["new_share_at_20"]
    assert shares[0.0] < shares[0.3] < shares[0.7], shares
    for share, got in shares.items():
        assert abs(got - share) <= 0.15, shares


@pytest.mark.slow
def test_arrivals_added_after_training_take_about_the_share_they_take_when_the_catalog_held_them():
    """The nightly job of a model trained before its arrivals came: they are added from their photos
    (``add_items``) and still reach about the share of each top 20 validation chose."""
    dataset, features = arrivals_log(0.7, seed=1)
    split = make_split(dataset, kind="cutoff", last="1w")
    known = np.unique(split.train.interactions["item_idx"].to_numpy())
    before = Dataset.from_frames(split.train.interactions[["user_id", "item_id", "timestamp"]],
                                 dataset.items.iloc[known], ".")
    model = HybridRecommender(factors=16, epochs=10, taste_epochs=3, seed=0).fit(before, features[known])
    assert model.warm_items_.all() and model.newness_share_ > 0.3
    arrivals = split.cold_items
    model.add_items(dataset.item_ids[arrivals], features[arrivals])
    users = np.unique(split.cold_test["user_idx"].to_numpy())
    recs = model.recommend(dataset.user_ids[users], k=20)
    share = recs["item_id"].isin(set(dataset.item_ids[arrivals])).mean()
    assert abs(share - model.newness_share_) <= 0.2, (share, model.newness_share_)
