"""Holdouts of an interaction log: the building blocks of the test splits
(:mod:`recsys.evaluation.splits`) and of the models' own validation (each user's latest
positives, items first seen last, a bounded sample of users)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.data.dataset import Dataset


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


def before_held(train: pd.DataFrame, held: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``train`` from strictly before each user's first ``held`` row (all of a user's
    rows if none is held, or without timestamps): a profile that cannot see the held-out
    basket, as a profile at a cutoff cannot see the future."""
    if "timestamp" not in train or "timestamp" not in held or held.empty:
        return train
    start = train["user_idx"].map(held.groupby("user_idx")["timestamp"].min()).to_numpy(np.float64)
    return train[~(train["timestamp"].to_numpy(np.float64) >= start)]  # NaN (nothing held) keeps the row


def random_holdout(inter: pd.DataFrame, test_share: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random(len(inter)) < test_share


def latest_items(item_first_seen: np.ndarray, candidates: np.ndarray, share: float, seed: int) -> np.ndarray:
    """Validation items drawn like real cold items: the ``share`` of ``candidates``
    first seen last when times are known (``item_first_seen`` not all NaN),
    else a seeded random share. Sorted item indices, at least one."""
    candidates = np.asarray(candidates)
    n = max(1, int(round(share * len(candidates))))
    when = item_first_seen[candidates]
    if np.isfinite(when).any():
        order = np.lexsort((candidates, np.nan_to_num(when, nan=-np.inf)))
        return np.sort(candidates[order[-n:]])
    return np.sort(np.random.default_rng(seed).choice(candidates, n, replace=False))


def first_seen(dataset: Dataset) -> np.ndarray:
    """Each item's first interaction time (NaN without one, or without timestamps)."""
    out = np.full(dataset.n_items, np.nan)
    inter = dataset.interactions
    if "timestamp" in inter and len(inter):
        first = inter.groupby("item_idx")["timestamp"].min()
        out[first.index.to_numpy()] = first.to_numpy()
    return out


#: users that a validation ranks for at most: early stopping costs the same at any number of users
MAX_VALIDATION_USERS = 10_000


def validation_users(users: np.ndarray, seed: int) -> np.ndarray:
    """``users`` sorted; a seeded sample of ``MAX_VALIDATION_USERS`` of them when there are more."""
    users = np.unique(users)
    if len(users) > MAX_VALIDATION_USERS:
        users = np.sort(np.random.default_rng(seed).choice(users, MAX_VALIDATION_USERS, replace=False))
    return users
