"""Users' histories from an interactions table, folded into a fitted model without retraining.

A nightly job meets users the model never saw (signed up, or bought for the
first time, since the last training) and known users who did more since. Both
get their vectors from what they did (:meth:`~recsys.models.base.Recommender.fold_in`):
new users from their history, known ones from their training positives plus
the newer ones, so what they saw stays excluded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data.dataset import DEFAULT_POSITIVE_THRESHOLD, positive_mask
from recsys.data.tables import ID_COLUMNS, clean_interactions, read_table


@dataclass
class FoldInReport:
    """What :func:`fold_in` did: users added, known users updated, rows left out."""

    added: list = field(default_factory=list)
    updated: list = field(default_factory=list)
    unknown_item_rows: int = 0

    def summary(self) -> str:
        text = f"{len(self.added):,} new user(s) folded in, {len(self.updated):,} known user(s) updated from newer " \
               "interactions"
        if self.unknown_item_rows:
            text += f" ({self.unknown_item_rows:,} interaction(s) on items the model does not know left out)"
        return text


def read_history(path: str | os.PathLike, positive_threshold: float = DEFAULT_POSITIVE_THRESHOLD
                 ) -> tuple[pd.DataFrame, np.ndarray]:
    """An interactions table in the interactions layout (``user_id, item_id``, optional
    ``timestamp``, ``rating`` or ``weight``) and which of its rows are positives."""
    frame, _ = clean_interactions(read_table(path, ID_COLUMNS), str(path))
    return frame, positive_mask(frame, positive_threshold)


def fold_in(model, interactions: pd.DataFrame, positive: np.ndarray, users=None) -> FoldInReport:
    """Fold into ``model`` every user of ``interactions`` (``user_id, item_id``) it does not know,
    and every known user with interactions it has not seen; ``users``: only these ids.
    Interactions on items the model does not know are left out (and counted)."""
    user_ids = interactions["user_id"].astype(str).to_numpy()
    items = model.item_map_.rows(interactions["item_id"].astype(str).to_numpy(), missing="-1")
    keep = items >= 0
    report = FoldInReport(unknown_item_rows=int((~keep).sum()))
    if users is not None:
        keep &= np.isin(user_ids, np.asarray([str(u) for u in users], dtype=object))
    rows = model.user_map_.rows(user_ids, missing="-1")
    known = keep & (rows >= 0)
    if known.any():  # a known user's interaction the model saw in training adds nothing
        keep[known] = np.asarray(model.seen_[rows[known], items[known]]).ravel() == 0
    if not keep.any():
        return report
    folded, user_row = np.unique(user_ids[keep], return_inverse=True)
    shape = (len(folded), len(model.item_ids_))
    seen = sp.csr_matrix((np.ones(int(keep.sum()), np.float32), (user_row, items[keep])), shape=shape)
    liked = np.asarray(positive, bool)[keep]
    positives = sp.csr_matrix((np.ones(int(liked.sum()), np.float32), (user_row[liked], items[keep][liked])),
                              shape=shape)
    report.added, report.updated = model.fold_in(folded, positives, seen)
    return report
