"""Recommenders sharing one API: ``fit``, ``score``, ``recommend``."""

from recsys.models.base import Recommender
from recsys.models.baselines import ItemKNN, Popularity, RandomScores

__all__ = ["Recommender", "Popularity", "RandomScores", "ItemKNN"]
