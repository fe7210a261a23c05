"""New-item scoring parts: the profile blend as one matrix product, and the export."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.evaluation.splits import latest_items
from recsys.models import cold_start


def test_profile_coefficients_rank_like_the_standardised_blend(rng):
    hybrid = rng.normal(size=(7, 50)) * rng.uniform(0.1, 5, (7, 1)) + rng.normal(size=(7, 1))
    profile = rng.uniform(-1, 1, (7, 50))
    for weight in (0.25, 0.5, 0.9):
        scale, offset = cold_start.profile_coefficients(hybrid, profile, weight)
        fused = (1 - weight) * hybrid + scale[:, None] * profile + offset[:, None]
        reference = cold_start.blend(hybrid, profile, weight)
        assert (np.argsort(-fused, axis=1) == np.argsort(-reference, axis=1)).all()
        # the hybrid's level and at most its spread, whatever the weight: new items do not
        # take over the top (and bottom) of a ranking shared with warm items
        assert np.allclose(fused.mean(axis=1), hybrid.mean(axis=1), atol=1e-4)
        assert (fused.std(axis=1) <= hybrid.std(axis=1) * (1 + 1e-5)).all()
    scale, _ = cold_start.profile_coefficients(hybrid, profile, 0.0)
    assert not scale.any()


def test_with_profiles_scores_new_items_by_profile_and_leaves_warm_ones():
    space = cold_start.unit_rows(np.array([[1.0, 0], [0, 1.0], [1.0, 0.1], [0.1, 1.0]]))
    users = np.ones((2, 1), np.float32)
    items = np.array([[1.0], [2.0], [0.0], [0.0]], np.float32)
    image_only = np.zeros((4, 1), np.float32)
    liked = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 1, 0, 0]], np.float32))  # user 0 likes item 0, user 1 item 1
    u, v = cold_start.with_profiles(users, items, image_only, np.array([1, 1, 0, 0], bool), space, liked, 0.5)
    scores = u @ v.T
    assert np.allclose(scores[:, :2], [[1, 2], [1, 2]])  # warm items: untouched
    assert scores[0, 2] > scores[0, 3] and scores[1, 3] > scores[1, 2]  # new items follow each user's taste


def test_latest_items_are_the_last_first_seen_or_a_seeded_share():
    when = np.array([5.0, 1.0, 9.0, np.nan, 7.0])
    assert latest_items(when, np.array([0, 1, 2, 4]), 0.5, 0).tolist() == [2, 4]
    none = np.full(5, np.nan)
    a, b = latest_items(none, np.arange(5), 0.4, 3), latest_items(none, np.arange(5), 0.4, 3)
    assert len(a) == 2 and (a == b).all()
