"""Bugs found reading the model code (issue 14), one test each; every one failed
before its fix. They use only what the models offered before, so they can be run
against the old code too. The bundle's catalog after new items: tests/test_batch.py."""

from __future__ import annotations

import ast

import numpy as np
import pandas as pd
import pytest

from conftest import REPO
from recsys.data import Dataset
from recsys.models import ContentKNN, HybridRecommender
from test_model_contract import FAST_HYBRID, make_shop


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
