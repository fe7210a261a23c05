"""The one early-stopping loop (recsys.models.training) against a hand-run reference, and model
selection apart from the fit (recsys.models.hybrid_selection): a fit with given settings
validates nothing, and selecting first then fitting is the same model as a plain ``fit``."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.models import HybridRecommender
from recsys.models.hybrid_selection import HybridSettings, select_settings
from recsys.models.training import train_epochs


class Scripted:
    """A "model" whose weights are the epoch count and whose validation scores follow a script."""

    def __init__(self, scores):
        self.weights, self.scores, self.calls = 0, list(scores), 0

    def run_epoch(self) -> float:
        self.weights += 1
        return 1.0 / self.weights

    def validate(self) -> float:
        self.calls += 1
        return self.scores[self.weights]  # the score of the weights as they are now (0: the start)


def reference(scores, epochs, patience, score_start):
    """Early stopping by hand: the best epoch, and how many epochs ran."""
    best, best_epoch = (scores[0], 0) if score_start else (-np.inf, epochs)
    ran = 0
    for epoch in range(1, epochs + 1):
        ran = epoch
        if scores[epoch] > best:
            best, best_epoch = scores[epoch], epoch
        elif epoch - best_epoch >= patience:
            break
    return best_epoch, ran


@pytest.mark.parametrize("scores, patience, score_start", [
    ([0.0, 0.1, 0.3, 0.2, 0.25, 0.1, 0.4, 0.5], 3, False),  # stops 3 epochs after the best, at epoch 5
    ([0.0, 0.1, 0.3, 0.2, 0.25, 0.1, 0.4, 0.5], 4, False),  # one more epoch of patience finds a better one
    ([0.9, 0.1, 0.3, 0.2, 0.25, 0.1, 0.4, 0.5], 2, True),  # the starting weights stay the best
    ([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7], 1, True),  # never stale: every epoch runs
])
def test_the_loop_stops_after_patience_and_keeps_the_best_weights(scores, patience, score_start):
    model = Scripted(scores)
    restored = []
    best, records = train_epochs(model.run_epoch, 7, "test", validate=model.validate,
                                 weights=(lambda: model.weights, restored.append), patience=patience,
                                 score_start=score_start)
    expected_best, ran = reference(scores, 7, patience, score_start)
    assert best == expected_best and restored == [expected_best]
    assert [r["epoch"] for r in records] == list(range(0 if score_start else 1, ran + 1))
    assert [r["val_ndcg"] for r in records] == scores[0 if score_start else 1:ran + 1]


def test_without_validation_every_epoch_runs_and_nothing_is_restored():
    model = Scripted([0.0] * 8)
    best, records = train_epochs(model.run_epoch, 5, "test")
    assert best == 5 and model.weights == 5 and model.calls == 0
    assert [set(r) for r in records] == [{"epoch", "loss", "seconds"}] * 5


@pytest.fixture(scope="module")
def demo_fit(tmp_path_factory):
    """A small demo shop (with times, arrivals and sign-ups: every validated choice is made) and random features."""
    from recsys.data import load_dataset
    from recsys.data.demo import DemoConfig, write_demo

    dataset = load_dataset(write_demo(tmp_path_factory.mktemp("small") / "demo", DemoConfig(n_users=120, n_items=200)))
    features = np.maximum(np.random.default_rng(0).normal(size=(dataset.n_items, 16)), 0).astype(np.float32)
    return dataset, features, dict(factors=8, epochs=3, taste_epochs=2, seed=0)


@pytest.mark.slow
def test_selecting_then_fitting_is_the_plain_fit_bit_for_bit(demo_fit):
    dataset, features, params = demo_fit
    plain = HybridRecommender(**params).fit(dataset, features)
    model = HybridRecommender(**params)
    settings = select_settings(model, dataset, features)
    assert not hasattr(model, "best_epochs_")  # the selector leaves the model as it was
    model.fit(dataset, features, settings=settings)
    assert np.array_equal(model.user_vectors_, plain.user_vectors_)
    assert np.array_equal(model.item_vectors_, plain.item_vectors_)
    assert model.best_epochs_ == plain.best_epochs_ == settings.best_epochs
    assert settings.history and all(r["validation"] for r in settings.history)


@pytest.mark.slow
def test_a_fit_with_given_settings_validates_nothing(demo_fit):
    dataset, features, params = demo_fit
    settings = HybridSettings({"ids": 2, "images": 1, "taste": 1}, profile_weight=0.5, newness_shift=0.0)
    model = HybridRecommender(**params).fit(dataset, features, settings=settings)
    assert model.history_ and not any(r["validation"] for r in model.history_)
    assert [r["phase"] for r in model.history_] == ["ids", "ids", "images"]
    assert model.profile_weight_ == 0.5 and model.best_epochs_ == settings.best_epochs
