"""Whether the photos carry taste: `recsys evaluate`'s verdict on a catalog with a known answer."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.comparison import photo_signal, photo_signal_report
from recsys.data import Dataset
from recsys.evaluation import fit_and_evaluate, make_split
from recsys.models import ContentKNN, RandomScores

COLOURS, PER_COLOUR = 6, 40


def taste_shop(tmp_path):
    """Each user likes one of six colours and buys 8 of its items; the features name the
    colour (plus noise), so the photos carry the whole taste. ``(dataset, features)``."""
    rng = np.random.default_rng(0)
    colour = np.repeat(np.arange(COLOURS), PER_COLOUR)
    items = pd.DataFrame({"item_id": [f"i{i:03d}" for i in range(len(colour))], "image_path": ""})
    rows = [(f"u{u:03d}", items.item_id[i], t) for u in range(300)
            for t, i in enumerate(rng.choice(np.flatnonzero(colour == u % COLOURS), 8, replace=False))]
    interactions = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    features = np.eye(COLOURS, dtype=np.float32)[colour] + 0.3 * rng.standard_normal((len(colour), COLOURS),
                                                                                       dtype=np.float32)
    return Dataset.from_frames(interactions, items, tmp_path), features


def signal_of(dataset, features):
    split = make_split(dataset, seed=0)
    per_user = {}
    fit_and_evaluate({"content_knn": ContentKNN(), "random": RandomScores(seed=0)}, split, features,
                     per_user=per_user)
    return photo_signal(per_user, k=20)


def test_photos_that_carry_the_taste_beat_chance_and_shuffled_ones_do_not(tmp_path):
    dataset, features = taste_shop(tmp_path)
    signal = signal_of(dataset, features)
    row = signal.set_index("model").loc["content_knn"]
    assert row.users >= 50 and row.ratio_low > 1.5  # ranked by colour, new items are found far above chance
    assert "The photos carry taste in this catalog" in photo_signal_report(signal, 20)

    shuffled = features[np.random.default_rng(1).permutation(len(features))]  # each item gets another's photo
    signal = signal_of(dataset, shuffled)
    row = signal.set_index("model").loc["content_knn"]
    assert row.ratio_low <= 1.0 <= row.ratio_high
    report = photo_signal_report(signal, 20)
    assert "The photos carry little taste in this catalog" in report and "content_knn" in report


def test_too_few_cold_users_to_tell_says_so_and_no_cold_segment_says_so():
    few = pd.DataFrame({"model": ["content_knn"], "metric": ["ndcg_at_20"], "value": [0.5], "low": [0.4],
                        "high": [0.6], "ratio": [3.0], "ratio_low": [2.0], "ratio_high": [4.0], "users": [12]})
    assert "Too few cold test users (12, under 50)" in photo_signal_report(few, 20)
    assert photo_signal({"random": {"warm": {}}}, k=20).empty
    assert "no cold items" in photo_signal_report(photo_signal({}, k=20), 20)
