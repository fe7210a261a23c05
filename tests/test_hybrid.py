"""The hybrid recommender: a known answer on tiny synthetic data, the API contract,
save/load, cold items and new items."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import COLD_PER_COLOUR
from recsys.data.demo import draw_item
from recsys.models import HybridRecommender
from recsys.vision import EncoderConfig, ImageEncoder
from recsys.vision.pixels import letterbox


def test_red_lover_gets_unseen_red_items_first_including_cold(shop):
    dataset, items, _, model = shop
    red_user = "user-00"  # users 0, 6, 12... like red
    assert dataset.interactions.query("user_id == @red_user").item_id.str.startswith("red").all()
    top = model.recommend([red_user], k=5)
    assert top.item_id.str.startswith("red-").all(), top
    cold = items[items.cold].item_id.tolist()
    cold_top = model.recommend([red_user], k=COLD_PER_COLOUR, candidates=cold)
    assert sorted(cold_top.item_id) == ["red-08", "red-09"], cold_top
    assert not model.warm_items_[dataset.item_index(cold)].any()


def test_exclude_seen_never_returns_a_seen_item(shop):
    dataset, _, _, model = shop
    users = list(dataset.user_ids)
    recs = model.recommend(users, k=20)
    seen = set(zip(dataset.interactions.user_id, dataset.interactions.item_id))
    assert not any(pair in seen for pair in zip(recs.user_id, recs.item_id))
    with_seen = model.recommend(users, k=20, exclude_seen=False)
    assert any(pair in seen for pair in zip(with_seen.user_id, with_seen.item_id))


def test_recommend_frame_contract(shop):
    dataset, _, _, model = shop
    recs = model.recommend(["user-01", "user-02", "user-03"], k=4)
    assert list(recs.columns) == ["user_id", "rank", "item_id", "score"]
    assert recs.groupby("user_id")["rank"].apply(list).tolist() == [[1, 2, 3, 4]] * 3
    assert (recs.groupby("user_id")["score"].diff().dropna() <= 0).all()
    with pytest.raises(ValueError, match="`k` must be >= 1, got 0"):
        model.recommend(["user-01"], k=0)
    with pytest.raises(KeyError, match="unknown user_id"):
        model.recommend(["nobody"])


def test_score_shapes_for_batches(shop):
    dataset, _, _, model = shop
    users, items = list(dataset.user_ids[:3]), list(dataset.item_ids[:7])  # rectangular on purpose
    scores = model.score(users, items)
    assert scores.shape == (3, 7)
    assert model.score(users[0], items).shape == (1, 7)
    for r, u in enumerate(users):  # every cell equals the single-pair score
        for c, i in enumerate(items):
            assert scores[r, c] == pytest.approx(model.score([u], [i])[0, 0], rel=1e-5)


def test_save_load_gives_identical_scores(shop, tmp_path):
    dataset, _, features, model = shop
    model.save(tmp_path / "m")
    loaded = HybridRecommender.load(tmp_path / "m")
    users, items = list(dataset.user_ids), list(dataset.item_ids)
    assert np.array_equal(loaded.score(users, items), model.score(users, items))
    assert loaded.get_params() == model.get_params()
    assert np.allclose(loaded.image_item_vectors(features[:3]), model.image_item_vectors(features[:3]))


def test_new_items_are_scored_from_their_image(shop):
    dataset, items, features, model = shop
    fresh = HybridRecommender.load(model.save(shop[0].root / "copy"))
    red_pixels = letterbox(draw_item("red", "star", "solid", np.random.default_rng(9)), 32)
    blue_pixels = letterbox(draw_item("blue", "star", "solid", np.random.default_rng(9)), 32)
    vectors = ImageEncoder(EncoderConfig("compact_cnn", image_size=32)).encode(np.stack([red_pixels, blue_pixels]))
    fresh.add_items(["new-red", "new-blue"], vectors)
    top = fresh.recommend(["user-00"], k=1, candidates=["new-blue", "new-red"])
    assert top.item_id.tolist() == ["new-red"]
    assert fresh.recommend(["user-00"], k=100).item_id.isin(["new-red"]).any()


def test_fit_is_repeatable_with_a_seed(shop):
    dataset, _, features, model = shop
    again = HybridRecommender(**model.get_params()).fit(dataset, features)
    assert np.array_equal(again.item_vectors_, model.item_vectors_)


def test_bad_parameters_are_named(shop):
    dataset, _, features, _ = shop
    with pytest.raises(ValueError, match="`loss` must be one of"):
        HybridRecommender(loss="hinge").fit(dataset, features)
    with pytest.raises(ValueError, match="needs `item_features`"):
        HybridRecommender().fit(dataset)
    with pytest.raises(ValueError, match="one row per catalog item"):
        HybridRecommender().fit(dataset, features[:5])


def test_new_item_vectors_equal_the_exported_cold_vectors(shop):
    # add_items and the fitted catalog score a photo the same way (tower, prior, calibration, profile block)
    dataset, _, features, model = shop
    cold = np.flatnonzero(~model.warm_items_ & (np.abs(features).sum(axis=1) > 0))
    assert len(cold) > 0
    assert np.allclose(model.image_item_vectors(features[cold]), model.item_vectors_[cold], atol=1e-5)
