"""One contract, every model: the hybrid's variants, every baseline, and a model made
of given factors pass the same checks (implicit's recommender_base_test does the
same), each against a naive reference computed from ``score``."""

from __future__ import annotations

import ast

import numpy as np
import pandas as pd
import pytest

from conftest import REPO
from recsys.data import Dataset
from recsys.models import ContentKNN, HybridRecommender, ItemKNN, Popularity, RandomScores, Recommender

N_USERS, N_ITEMS = 7, 11  # rectangular and asymmetric on purpose
FAST_HYBRID = dict(factors=4, epochs=2, batch_size=8, validation_share=0.0, taste_epochs=0, image_hidden=8)


def make_shop():
    """Users with 1 to 6 interactions; item "i10" has none (cold); item "i09" has no image."""
    rng = np.random.default_rng(3)
    rows = [(f"u{u}", f"i{j:02d}") for u in range(N_USERS)
            for j in rng.choice(N_ITEMS - 1, size=1 + u % 6, replace=False)]
    items = pd.DataFrame({"item_id": [f"i{j:02d}" for j in range(N_ITEMS)], "image_path": ""})
    dataset = Dataset.from_frames(pd.DataFrame(rows, columns=["user_id", "item_id"]), items, ".")
    features = rng.normal(size=(N_ITEMS, 6)).astype(np.float32)
    features[9] = 0.0
    return dataset, features


def from_factors(dataset, features):
    rng = np.random.default_rng(5)
    return Recommender.from_factors(dataset.user_ids, dataset.item_ids, rng.normal(size=(N_USERS, 3)),
                                    rng.normal(size=(N_ITEMS, 3)), dataset.user_items(positives_only=False))


MODELS = {
    "popularity": lambda d, f: Popularity().fit(d),
    "random": lambda d, f: RandomScores(seed=1).fit(d),
    "item_knn": lambda d, f: ItemKNN(neighbours=4).fit(d),
    "content_knn": lambda d, f: ContentKNN().fit(d, f),
    "hybrid": lambda d, f: HybridRecommender(**FAST_HYBRID).fit(d, f),
    "hybrid_ids_only": lambda d, f: HybridRecommender(use_images=False, **FAST_HYBRID).fit(d),
    "hybrid_images_only": lambda d, f: HybridRecommender(use_ids=False, **FAST_HYBRID).fit(d, f),
    "from_factors": from_factors,
}


@pytest.fixture(scope="module")
def shop():
    return make_shop()


@pytest.fixture(scope="module", params=list(MODELS))
def fitted(request, shop):
    dataset, features = shop
    return MODELS[request.param](dataset, features)


def reference_top(model, user, k, exclude_seen=True, candidates=None):
    """Scores of a user's top ``k`` by sorting ``score`` over the eligible items (ties: by value only)."""
    items = list(model.item_ids_) if candidates is None else list(candidates)
    scores = model.score([user], items)[0]
    if exclude_seen:
        seen = set(model.item_ids_[model.seen_[model.user_index([user])[0]].indices])
        scores = np.array([s for i, s in zip(items, scores) if i not in seen])
    return np.sort(scores)[::-1][:k]


def test_score_is_rectangular_and_each_cell_is_the_single_pair_score(fitted, shop):
    users, items = ["u3", "u0", "u6"], ["i04", "i10", "i00", "i09", "i07"]
    scores = fitted.score(users, items)
    assert scores.shape == (3, 5) and scores.dtype == np.float32
    single = np.array([[fitted.score([u], [i])[0, 0] for i in items] for u in users])
    np.testing.assert_allclose(scores, single, rtol=1e-5, atol=1e-6)


def test_batch_results_equal_single_user_results(fitted, shop):
    users = list(shop[0].user_ids)
    together = fitted.recommend(users, k=4)
    alone = pd.concat([fitted.recommend([u], k=4) for u in users], ignore_index=True)
    assert list(together.columns) == ["user_id", "rank", "item_id", "score"]
    pd.testing.assert_frame_equal(together, alone)


def test_recommendations_are_the_best_unseen_items(fitted, shop):
    dataset = shop[0]
    recs = fitted.recommend(list(dataset.user_ids), k=3)
    seen = set(zip(dataset.interactions.user_id, dataset.interactions.item_id))
    assert not any((u, i) in seen for u, i in zip(recs.user_id, recs.item_id))
    for user, mine in recs.groupby("user_id"):
        assert mine["rank"].tolist() == list(range(1, len(mine) + 1))
        np.testing.assert_allclose(mine.score, reference_top(fitted, user, 3), rtol=1e-5, atol=1e-6)
    with_seen = fitted.recommend(["u5"], k=N_ITEMS, exclude_seen=False)
    assert len(with_seen) == N_ITEMS
    np.testing.assert_allclose(with_seen.score, reference_top(fitted, "u5", N_ITEMS, exclude_seen=False), rtol=1e-5,
                               atol=1e-6)


def test_candidates_restrict_the_ranking(fitted):
    candidates = ["i10", "i02", "i05", "i09"]
    recs = fitted.recommend(["u1", "u4"], k=2, candidates=candidates)
    assert set(recs.item_id) <= set(candidates)
    for user, mine in recs.groupby("user_id"):
        np.testing.assert_allclose(mine.score, reference_top(fitted, user, 2, candidates=candidates), rtol=1e-5,
                                   atol=1e-6)


def test_k_larger_than_the_catalog_gives_every_eligible_item_once(fitted, shop):
    dataset = shop[0]
    recs = fitted.recommend(list(dataset.user_ids), k=100)
    for user, mine in recs.groupby("user_id"):
        had = dataset.interactions.loc[dataset.interactions.user_id == user, "item_id"].nunique()
        assert len(mine) == mine.item_id.nunique() == N_ITEMS - had
        assert mine["rank"].tolist() == list(range(1, N_ITEMS - had + 1))


def test_save_and_load_give_the_same_model(fitted, tmp_path):
    fitted.save(tmp_path / "model")
    for cls in (type(fitted), Recommender):  # a model loads through its class and through the base
        loaded = cls.load(tmp_path / "model")
        assert type(loaded) is type(fitted) and loaded.get_params() == fitted.get_params()
        users, items = list(fitted.user_ids_), list(fitted.item_ids_)
        assert np.array_equal(loaded.score(users, items), fitted.score(users, items))
        pd.testing.assert_frame_equal(loaded.recommend(users, k=5), fitted.recommend(users, k=5))


def test_unknown_ids_are_named(fitted):
    assert fitted.knows_user("u0") and not fitted.knows_user("nobody")
    assert fitted.knows_item("i10") and not fitted.knows_item("no-item")
    with pytest.raises(KeyError, match="unknown user_id.*'nobody'"):
        fitted.recommend(["u0", "nobody"], k=2)
    with pytest.raises(KeyError, match="unknown item_id.*'no-item'"):
        fitted.score(["u0"], ["i01", "no-item"])
    with pytest.raises(KeyError, match="unknown item_id.*'no-item'"):
        fitted.recommend(["u0"], k=2, candidates=["no-item"])


def test_a_model_loaded_as_another_class_is_refused(shop, tmp_path):
    Popularity().fit(shop[0]).save(tmp_path / "popularity")
    with pytest.raises(ValueError, match="holds a 'Popularity' model, expected ItemKNN"):
        ItemKNN.load(tmp_path / "popularity")


def test_features_with_ids_are_aligned_to_the_catalog_by_id(shop):
    """Shuffled, one item missing and one flagged without an image: the model sees the
    catalog's order, with zero rows where there is no usable image."""
    from recsys.models.features import ItemFeatures

    dataset, features = shop
    order = np.random.default_rng(0).permutation(N_ITEMS)[:-1]  # the last of the permutation is left out
    has_image = np.ones(len(order), bool)
    has_image[0] = False
    given = ItemFeatures(dataset.item_ids[order], features[order], has_image)
    expected = features.copy()
    expected[[np.random.default_rng(0).permutation(N_ITEMS)[-1], order[0]]] = 0.0
    by_id, by_row = ContentKNN().fit(dataset, given), ContentKNN().fit(dataset, expected)
    np.testing.assert_array_equal(by_id.item_vectors_, by_row.item_vectors_)
    with pytest.raises(ValueError, match="one row per catalog item"):
        ContentKNN().fit(dataset, features[:-1])


# -- what a model keeps through a failed refit, save and load, and its parameters -------
def test_a_failed_refit_leaves_the_model_as_it_was(tmp_path):
    dataset, features = make_shop()
    model = ContentKNN().fit(dataset, features)
    before = model.recommend(list(dataset.user_ids), k=3)
    other = Dataset.from_frames(dataset.interactions.loc[dataset.interactions.user_id != "u0", ["user_id", "item_id"]],
                                dataset.items, tmp_path)
    with pytest.raises(ValueError, match="needs `item_features`"):
        model.fit(other)  # fails inside the fit, after the new catalog was read
    assert list(model.user_ids_) == list(dataset.user_ids)  # not the failed fit's users next to the old vectors
    pd.testing.assert_frame_equal(model.recommend(list(dataset.user_ids), k=3), before)


def test_save_and_load_keep_the_chosen_prior_strength(tmp_path):
    dataset, features = make_shop()
    model = HybridRecommender(**FAST_HYBRID | {"validation_share": 0.3}).fit(dataset, features)
    loaded = HybridRecommender.load(model.save(tmp_path / "model"))
    assert loaded.prior_alpha_ == model.prior_alpha_


def test_a_new_id_given_twice_is_added_once():
    dataset, features = make_shop()
    model = HybridRecommender(**FAST_HYBRID).fit(dataset, features)
    model.add_items(["new", "new"], features[:2])
    assert list(model.item_ids_).count("new") == 1 and len(model.item_ids_) == len(model.item_vectors_) == 12


def test_without_id_factors_warm_items_score_like_new_photos():
    """``use_ids=False``: a warm item is scored from its image exactly as the same photo
    arriving new (the export used to drop the image prior for warm items)."""
    dataset, features = make_shop()
    model = HybridRecommender(use_ids=False, **FAST_HYBRID).fit(dataset, features)
    warm = np.unique(dataset.interactions["item_idx"])
    as_new = model.user_vectors_ @ model.image_item_vectors(features[warm]).T
    np.testing.assert_allclose(model.score(list(dataset.user_ids), list(dataset.item_ids[warm])), as_new,
                               rtol=1e-4, atol=1e-4)


def test_get_params_follows_the_signature_keyword_only_too():
    class Tuned(HybridRecommender):
        def __init__(self, factors: int = 8, *, temperature: float = 0.5):
            super().__init__(factors=factors)
            self.temperature = temperature

    assert Tuned(temperature=2.0).get_params() == {"factors": 8, "temperature": 2.0}


def literals(predicate) -> list[str]:
    """``file:line`` of the code nodes (not docstrings) of recsys/ and pipelines/ matching ``predicate``."""
    found = []
    for path in sorted([*REPO.glob("recsys/**/*.py"), *REPO.glob("pipelines/*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if predicate(node):
                found.append(f"{path.relative_to(REPO)}:{node.lineno}")
    return found


def test_each_default_has_one_source():
    threshold = literals(lambda n: isinstance(n, ast.Constant) and type(n.value) is float and n.value == 4.0)
    assert [place.split(":")[0] for place in threshold] == ["recsys/data/dataset.py"], threshold
    imagenet = literals(lambda n: isinstance(n, ast.Call) and getattr(n.func, "id", "") == "EncoderConfig" and any(
        k.arg == "weights" and getattr(k.value, "value", None) == "imagenet" for k in n.keywords))
    assert len(imagenet) == 1 and imagenet[0].startswith("recsys/vision/config.py"), imagenet
