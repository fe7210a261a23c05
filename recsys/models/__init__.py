"""Recommenders sharing one API: ``fit``, ``score``, ``recommend``."""

from recsys.models.base import Recommender
from recsys.models.baselines import ContentKNN, ItemKNN, Popularity, RandomScores
from recsys.models.hybrid import HybridRecommender

__all__ = ["Recommender", "Popularity", "RandomScores", "ItemKNN", "ContentKNN", "HybridRecommender"]
