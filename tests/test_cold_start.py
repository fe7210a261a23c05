"""New-item scoring parts: the profile blend as one matrix product, and the export."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.evaluation.holdouts import latest_items
from recsys.models import cold_start
from recsys.scoring import unit_rows


def standardised_blend(hybrid, profile, weight):
    """The definition: each side standardised per user (row), then mixed."""
    def z(s):
        return (s - s.mean(axis=1, keepdims=True)) / s.std(axis=1, keepdims=True)
    return (1.0 - weight) * z(hybrid) + weight * z(profile)


def factor_pairs(rng):
    users = rng.normal(size=(7, 5)) * rng.uniform(0.1, 5, (7, 1))
    items = rng.normal(size=(50, 5)) + rng.normal(size=5)
    profiles, embeddings = rng.uniform(-1, 1, (7, 3)), rng.uniform(-1, 1, (50, 3))
    return users, items, profiles, embeddings


def test_score_moments_equal_those_of_the_score_matrix(rng):
    users, items, _, _ = factor_pairs(rng)
    mean, std = cold_start.score_moments(users, items)
    np.testing.assert_allclose(mean, (users @ items.T).mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(std, (users @ items.T).std(axis=1), rtol=1e-6)


def test_blend_vectors_rank_like_the_standardised_blend(rng):
    users, items, profiles, embeddings = factor_pairs(rng)
    for weight in (0.0, 0.25, 0.5, 0.9):
        u, v = cold_start.blend_vectors(users, items, profiles, embeddings, weight)
        reference = standardised_blend(users @ items.T, profiles @ embeddings.T, weight)
        assert (np.argsort(-(u @ v.T), axis=1) == np.argsort(-reference, axis=1)).all()


def test_profile_coefficients_rank_like_the_standardised_blend(rng):
    users, items, profiles, embeddings = factor_pairs(rng)
    hybrid, profile = users @ items.T, profiles @ embeddings.T
    moments = cold_start.score_moments(users, items), cold_start.score_moments(profiles, embeddings)
    for weight in (0.25, 0.5, 0.9):
        scale, offset = cold_start.profile_coefficients(*moments, weight)
        fused = (1 - weight) * hybrid + scale[:, None] * profile + offset[:, None]
        assert (np.argsort(-fused, axis=1) == np.argsort(-standardised_blend(hybrid, profile, weight), axis=1)).all()
        # the hybrid's level and at most its spread, whatever the weight: new items do not
        # take over the top (and bottom) of a ranking shared with warm items
        assert np.allclose(fused.mean(axis=1), hybrid.mean(axis=1), atol=1e-4)
        assert (fused.std(axis=1) <= hybrid.std(axis=1) * (1 + 1e-5)).all()
    scale, _ = cold_start.profile_coefficients(*moments, 0.0)
    assert not scale.any()


def test_with_profiles_scores_new_items_by_profile_and_warm_ones_by_their_weight():
    space = unit_rows(np.array([[1.0, 0], [0, 1.0], [1.0, 0.1], [0.1, 1.0]]))
    users = np.ones((2, 1), np.float32)
    items = np.array([[1.0], [2.0], [0.0], [0.0]], np.float32)
    image_only = np.array([[1.0], [0.0], [0.5], [0.5]], np.float32)  # new items alike: taste decides
    liked = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 1, 0, 0]], np.float32))  # user 0 likes item 0, user 1 item 1
    u, v = cold_start.with_profiles(users, items, image_only, np.array([1, 1, 0, 0], bool), space, liked, 0.5)
    scores = u @ v.T
    assert np.allclose(scores[:, :2], [[1, 2], [1, 2]])  # warm items: untouched
    assert scores[0, 2] > scores[0, 3] and scores[1, 3] > scores[1, 2]  # new items follow each user's taste
    # with a warm weight, known items add the profile term to their ID score; new ones stay as they were
    u, v = cold_start.with_profiles(users, items, image_only, np.array([1, 1, 0, 0], bool), space, liked, 0.5,
                                    warm_weight=2.0)
    warm_scores = u @ v.T
    assert warm_scores[0, 0] - warm_scores[0, 1] > scores[0, 0] - scores[0, 1]  # user 0 likes item 0's look
    assert warm_scores[1, 1] - warm_scores[1, 0] > scores[1, 1] - scores[1, 0]
    assert np.allclose(warm_scores[:, 2:], scores[:, 2:])


def test_latest_items_are_the_last_first_seen_or_a_seeded_share():
    when = np.array([5.0, 1.0, 9.0, np.nan, 7.0])
    assert latest_items(when, np.array([0, 1, 2, 4]), 0.5, 0).tolist() == [2, 4]
    none = np.full(5, np.nan)
    a, b = latest_items(none, np.arange(5), 0.4, 3), latest_items(none, np.arange(5), 0.4, 3)
    assert len(a) == 2 and (a == b).all()
