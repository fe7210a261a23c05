"""Train/test splits: per-user temporal holdout, item cold-start holdout, random.

A :class:`Split` keeps the full catalog and id maps in ``train`` (a
:class:`~recsys.data.Dataset` holding only training interactions), so models
can be asked about cold items they have never seen interact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.data.dataset import Dataset

WARM_METHODS = ("temporal", "random")


@dataclass(frozen=True, eq=False)
class Split:
    """Result of :func:`make_split`.

    Attributes
    ----------
    train : Dataset
        Training interactions (all of them, positive or not) over the whole catalog.
    warm_test : DataFrame
        Held-out positives of items that have training interactions, by users
        that have training interactions (``user_idx, item_idx``).
    cold_test : DataFrame
        Positives of the cold items; rank these among ``cold_items`` only.
    cold_items : ndarray of int
        Item indices removed from training entirely.
    """

    train: Dataset
    warm_test: pd.DataFrame
    cold_test: pd.DataFrame
    cold_items: np.ndarray

    @property
    def warm_items(self) -> np.ndarray:
        return np.unique(self.train.interactions["item_idx"].to_numpy())

    def describe(self) -> dict:
        return {"train_interactions": len(self.train.interactions), "warm_test_positives": len(self.warm_test),
                "cold_test_positives": len(self.cold_test), "cold_items": len(self.cold_items),
                "warm_items": len(self.warm_items)}


def cold_item_holdout(dataset: Dataset, cold_share: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Remove a seeded share of the interacted items from training entirely.

    Returns (remaining interactions, cold-test positives, cold item indices).
    """
    if not 0 <= cold_share < 1:
        raise ValueError(f"`cold_share` must be in [0, 1), got {cold_share}")
    inter = dataset.interactions
    interacted = np.unique(inter["item_idx"].to_numpy())
    rng = np.random.default_rng(seed)
    n_cold = int(round(cold_share * len(interacted)))
    cold = np.sort(rng.choice(interacted, size=n_cold, replace=False)) if n_cold else np.zeros(0, np.int64)
    is_cold = np.isin(inter["item_idx"].to_numpy(), cold)
    cold_test = inter[is_cold & dataset.positive_mask]
    return inter[~is_cold], cold_test, cold


def temporal_holdout(inter: pd.DataFrame, test_share: float, min_interactions: int = 3) -> np.ndarray:
    """Boolean mask: each user's latest ``test_share`` of interactions (at least one).

    Users with fewer than ``min_interactions`` interactions stay wholly in training.
    Ties in time are broken by row order, so the split is deterministic.
    """
    if "timestamp" not in inter:
        raise ValueError("a temporal split needs a 'timestamp' column; use warm='random' instead")
    order = np.lexsort((np.arange(len(inter)), inter["timestamp"].to_numpy(), inter["user_idx"].to_numpy()))
    users = inter["user_idx"].to_numpy()[order]
    counts = np.bincount(users)
    position = _position_in_group(users)
    n = counts[users]
    n_test = np.maximum(1, np.round(test_share * n)).astype(int)
    in_test_sorted = (n >= min_interactions) & (position >= n - n_test)
    mask = np.zeros(len(inter), dtype=bool)
    mask[order] = in_test_sorted
    return mask


def _position_in_group(sorted_keys: np.ndarray) -> np.ndarray:
    """0, 1, 2... within each run of equal keys of a sorted array."""
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_keys)) + 1]
    lengths = np.diff(np.r_[starts, len(sorted_keys)])
    return np.arange(len(sorted_keys)) - np.repeat(starts, lengths)


def random_holdout(inter: pd.DataFrame, test_share: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random(len(inter)) < test_share


def make_split(dataset: Dataset, warm: str = "temporal", test_share: float = 0.2,
               cold_share: float = 0.2, seed: int = 0) -> Split:
    """Cold-item holdout first, then a warm holdout of the remaining interactions.

    Parameters
    ----------
    warm : {"temporal", "random"}
        How the warm test is drawn from each user's remaining interactions.
    test_share : float
        Share of each user's interactions held out for the warm test.
    cold_share : float
        Share of interacted items removed from training (0 disables the cold test).
    """
    if warm not in WARM_METHODS:
        raise ValueError(f"`warm` must be one of {WARM_METHODS}, got {warm!r}")
    if not 0 < test_share < 1:
        raise ValueError(f"`test_share` must be in (0, 1), got {test_share}")
    rest, cold_test, cold_items = cold_item_holdout(dataset, cold_share, seed)
    held = temporal_holdout(rest, test_share) if warm == "temporal" else random_holdout(rest, test_share, seed + 1)
    train = rest[~held]
    test = rest[held]
    positive = dataset.positive_mask[test.index.to_numpy()] if len(test) else np.zeros(0, bool)
    test = test[positive]
    # warm test only covers items and users the model could have learned from
    test = test[test["item_idx"].isin(train["item_idx"]) & test["user_idx"].isin(train["user_idx"])]
    return Split(train=dataset.with_interactions(train), warm_test=test.reset_index(drop=True),
                 cold_test=cold_test.reset_index(drop=True), cold_items=cold_items)
