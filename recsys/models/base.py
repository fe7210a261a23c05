"""The one recommender API every model shares (scikit-learn style)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.data.dataset import Dataset
from recsys.scoring import mask_seen, ranked_frame, top_k

#: users scored per block in recommend(): bounds memory at block x n_items floats
USER_BLOCK = 2048


class Recommender:
    """Base class: ``fit -> self``, ``score``, ``recommend``.

    Subclasses implement ``_fit(dataset, item_features)`` and
    ``score_index(user_idx, item_idx) -> float32 (n_users, n_items)``.
    Learned state ends in ``_``; ``__init__`` only stores hyperparameters.
    """

    name = "recommender"
    #: set by ``fit(progress=...)``: whether training phases show progress bars
    _progress = False

    def fit(self, dataset: Dataset, item_features: np.ndarray | None = None,
            progress: bool = False) -> "Recommender":
        """Learn from ``dataset.interactions``.

        Parameters
        ----------
        dataset : Dataset
            Training interactions; the catalog may hold items with none (cold items).
        item_features : float array (dataset.n_items, d), optional
            Image embeddings aligned with ``dataset.item_ids``; rows of items
            without a usable image are ignored where ``item_has_features`` says so.
        progress : bool
            Show a progress bar (rate, ETA) per training phase where fitting takes long.
        """
        self.user_ids_ = np.asarray(dataset.user_ids, dtype=object)
        self.item_ids_ = np.asarray(dataset.item_ids, dtype=object)
        self._user_pos = {u: i for i, u in enumerate(self.user_ids_)}
        self._item_pos = {u: i for i, u in enumerate(self.item_ids_)}
        self.seen_ = dataset.user_items(positives_only=False)
        self._progress = progress
        self._fit(dataset, item_features)
        return self

    def _fit(self, dataset: Dataset, item_features: np.ndarray | None) -> None:
        raise NotImplementedError

    def score_index(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # -- id-level API ----------------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "user_ids_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit() first")

    def _index(self, ids, positions: dict, kind: str) -> np.ndarray:
        ids = [ids] if isinstance(ids, str) else list(ids)
        idx = np.fromiter((positions.get(str(i), -1) for i in ids), dtype=np.int64, count=len(ids))
        if (idx < 0).any():
            bad = [ids[j] for j in np.flatnonzero(idx < 0)[:5]]
            raise KeyError(f"unknown {kind}_id(s) {bad}: not in the training data"
                           + (" (new items need an image: use the hybrid model's candidates)" if kind == "item" else ""))
        return idx

    def score(self, user_ids, item_ids) -> np.ndarray:
        """Scores ``(len(user_ids), len(item_ids))``, float32; higher is better."""
        self._check_fitted()
        return self.score_index(self._index(user_ids, self._user_pos, "user"),
                                self._index(item_ids, self._item_pos, "item"))

    def recommend(self, user_ids, k: int = 10, exclude_seen: bool = True, candidates=None) -> pd.DataFrame:
        """Top-``k`` items per user as a DataFrame ``user_id, rank, item_id, score``.

        ``rank`` starts at 1. ``candidates`` restricts ranking to those item ids.
        A user may get fewer than ``k`` rows when fewer items are eligible.
        """
        self._check_fitted()
        if k < 1:
            raise ValueError(f"`k` must be >= 1, got {k}")
        users = self._index(user_ids, self._user_pos, "user")
        items = (np.arange(len(self.item_ids_)) if candidates is None
                 else self._index(candidates, self._item_pos, "item"))
        frames = []
        for start in range(0, len(users), USER_BLOCK):
            block = users[start:start + USER_BLOCK]
            scores = self.score_index(block, items).astype(np.float32, copy=False)
            if exclude_seen:
                mask_seen(scores, self.seen_[block], None if candidates is None else items)
            frames.append(_topk_frame(self.user_ids_[block], self.item_ids_[items], scores, k))
        return pd.concat(frames, ignore_index=True) if frames else _topk_frame([], [], np.zeros((0, 0)), k)


def _topk_frame(user_ids, item_ids, scores: np.ndarray, k: int) -> pd.DataFrame:
    if scores.size == 0:
        return pd.DataFrame({"user_id": pd.Series(dtype=object), "rank": pd.Series(dtype="int32"),
                             "item_id": pd.Series(dtype=object), "score": pd.Series(dtype="float32")})
    return ranked_frame(user_ids, "user_id", item_ids, "item_id", *top_k(scores, k))


def positive_counts(dataset: Dataset) -> np.ndarray:
    """Positives per item index (float64), the popularity signal."""
    return np.bincount(dataset.positives()["item_idx"].to_numpy(), minlength=dataset.n_items).astype(np.float64)

