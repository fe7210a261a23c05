"""Recommenders sharing one API: ``fit``, ``score``, ``recommend``."""

from recsys.models.base import Recommender
from recsys.models.baselines import ContentKNN, ItemKNN, Popularity, RandomScores

__all__ = ["Recommender", "Popularity", "RandomScores", "ItemKNN", "ContentKNN", "HybridRecommender"]


def __getattr__(name):
    # the hybrid needs TensorFlow: loaded on first use, not with the baselines
    if name == "HybridRecommender":
        from recsys.models.hybrid import HybridRecommender

        return HybridRecommender
    raise AttributeError(f"module 'recsys.models' has no attribute {name!r}")
