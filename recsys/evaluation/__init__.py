"""Evaluation protocol: splits, ranking metrics, and warm/cold evaluation of any recommender."""

from recsys.evaluation.metrics import auc, coverage, ranking_metrics
from recsys.evaluation.protocol import evaluate, fit_and_evaluate, metric_table
from recsys.evaluation.splits import Split, make_split

__all__ = ["Split", "make_split", "evaluate", "fit_and_evaluate", "metric_table",
           "ranking_metrics", "auc", "coverage"]
