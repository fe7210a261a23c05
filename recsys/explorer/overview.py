"""What the start page and the model page sum up: the catalog's newest and most recommended
items, and the hybrid against each baseline as the model's MLflow run measured them."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from recsys.scoring import chunked_top_k
from recsys.tracking import HEADLINE_PREFIX

#: users whose top K the "most recommended" list counts (a seeded sample)
RECOMMENDED_SAMPLE = 2000
#: a metric of an evaluation run: ``[model.]segment_ndcg_at_K`` (the main model unprefixed)
_NDCG = re.compile(r"^(?:(?P<model>[a-z][a-z_]*)\.)?(?P<segment>warm|cold|all|new_users)_ndcg_at_(?P<k>\d+)$")
SEGMENTS = ("warm", "cold", "all", "new_users")


def most_recommended(model, k: int, n: int, sample: int = RECOMMENDED_SAMPLE) -> list[tuple[str, int]]:
    """``[(item id, users)]``: the ``n`` items in the most top-``k`` lists of a seeded sample
    of users (their seen items excluded), most first."""
    users = np.random.default_rng(0).permutation(len(model.user_ids_))[:sample]
    counts = np.zeros(len(model.item_ids_), np.int64)
    for _, idx, _ in chunked_top_k(model.user_vectors_[users], model.item_vectors_, k, model.seen_[users]):
        np.add.at(counts, idx[idx >= 0], 1)
    top = np.argsort(-counts, kind="stable")[:n]
    return [(str(model.item_ids_[i]), int(counts[i])) for i in top if counts[i] > 0]


def newest_items(dataset, n: int) -> list[tuple[str, str]]:
    """``[(item id, first seen)]``: the ``n`` items whose first interaction is the latest
    (none without timestamps)."""
    if dataset is None or "timestamp" not in dataset.interactions:
        return []
    first = dataset.interactions.groupby("item_id")["timestamp"].min().nlargest(n)  # epoch seconds
    return [(str(item), f"{pd.Timestamp(when, unit='s'):%Y-%m-%d}") for item, when in first.items()]


def comparison(metrics: dict, main: str = "hybrid") -> dict:
    """The model page's table from an evaluation run's metrics: ``{"columns": ["warm@10", ...],
    "rows": [(model, [(ndcg, ratio to main) or None, ...])]}``, the main model first, at the
    K values the evaluation asked for; empty ``rows`` for a run that evaluated nothing
    (``recsys train``)."""
    found = {}
    for name, value in metrics.items():
        match = _NDCG.match(name)
        if match:
            found[(match["model"] or main, match["segment"], int(match["k"]))] = value
    columns = {(s, k) for _, s, k in found}
    headline_names = (n.removeprefix(HEADLINE_PREFIX) for n in metrics if n.startswith(HEADLINE_PREFIX))
    headline = {(m["segment"], int(m["k"])) for m in map(_NDCG.match, headline_names) if m}
    columns = sorted(columns & headline or columns, key=lambda c: (SEGMENTS.index(c[0]), c[1]))  # the run's K values
    models = [main] + sorted({m for m, _, _ in found} - {main})
    rows = []
    for model in models:
        cells = []
        for segment, k in columns:
            value, reference = found.get((model, segment, k)), found.get((main, segment, k))
            ratio = value / reference if value is not None and reference else None
            cells.append(None if value is None else (value, ratio))
        rows.append((model, cells))
    return {"columns": [f"{s}@{k}" for s, k in columns], "rows": rows if columns else []}
