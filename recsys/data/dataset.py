"""The :class:`Dataset`: interactions, the item catalog, and the id <-> index maps.

Models and metrics work on integer indices; users and files speak ids. This
is the one object that translates, so ids survive exactly as given.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data import tables
from recsys.data.tables import DataError
from recsys.idmap import IdMap

#: default star threshold for a rating to count as a positive
DEFAULT_POSITIVE_THRESHOLD = 4.0


@dataclass(frozen=True, eq=False)
class Dataset:
    """Interactions and catalog with stable integer indices.

    Attributes
    ----------
    root : Path
        Folder that relative ``image_path`` values are resolved against.
    interactions : DataFrame
        ``user_id, item_id`` (str), ``user_idx, item_idx`` (int32), optional
        ``timestamp`` (float64 Unix seconds), ``rating`` or ``weight`` (float64).
    items : DataFrame
        One row per catalog item, in index order: ``item_id`` (str),
        ``image_path`` (str, may be empty), metadata columns as given.
    user_ids, item_ids : ndarray of str
        Index -> id. Every catalog item has an index, also items nobody touched.
    warnings : list of str
        Recoverable problems fixed while loading (duplicates dropped, ...).
    """

    root: Path
    interactions: pd.DataFrame
    items: pd.DataFrame
    user_ids: np.ndarray
    item_ids: np.ndarray
    name: str = "dataset"
    layout: str = "contract"
    warnings: tuple[str, ...] = ()
    positive_threshold: float = DEFAULT_POSITIVE_THRESHOLD
    _maps: tuple = field(default=None, repr=False, compare=False)

    @classmethod
    def from_frames(cls, interactions: pd.DataFrame, items: pd.DataFrame, root, *,
                    name: str = "dataset", layout: str = "contract",
                    positive_threshold: float = DEFAULT_POSITIVE_THRESHOLD,
                    sources: tuple[str, str] = ("interactions", "items")) -> "Dataset":
        """Validate raw tables (see :mod:`recsys.data.tables`) and index them."""
        inter, warnings = tables.clean_interactions(interactions, sources[0])
        inter = inter.reset_index(drop=True)  # rows are positions (masks, splits), whatever index a caller's frame had
        cat, item_warnings = tables.clean_items(items, sources[1])
        warnings += item_warnings
        known = inter["item_id"].isin(set(cat["item_id"]))
        if not known.all():
            unknown = inter.loc[~known, "item_id"]
            warnings.append(
                f"{sources[0]}: dropped {int((~known).sum())} interaction(s) whose item_id is not in "
                f"{sources[1]} ({unknown.nunique()} distinct, e.g. {', '.join(map(repr, unknown.unique()[:5]))})")
            inter = inter[known.to_numpy()].reset_index(drop=True)
        if inter.empty and len(interactions):
            raise DataError(f"{sources[0]}: no interaction refers to an item of {sources[1]}")
        user_ids = np.asarray(pd.unique(inter["user_id"]), dtype=object)
        item_ids = cat["item_id"].to_numpy(dtype=object)
        ds = cls(root=Path(root), interactions=inter, items=cat, user_ids=user_ids, item_ids=item_ids,
                 name=name, layout=layout, warnings=tuple(warnings), positive_threshold=positive_threshold)
        inter["user_idx"] = ds.user_index(inter["user_id"])
        inter["item_idx"] = ds.item_index(inter["item_id"])
        return ds

    # -- id maps -------------------------------------------------------------
    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def user_map(self) -> IdMap:
        return self._id_maps()[0]

    @property
    def item_map(self) -> IdMap:
        return self._id_maps()[1]

    def _id_maps(self) -> tuple[IdMap, IdMap]:
        if self._maps is None:  # built on first use, shared by the views of one catalog
            object.__setattr__(self, "_maps", (IdMap(self.user_ids, "user"), IdMap(self.item_ids, "item")))
        return self._maps

    def user_index(self, user_ids, missing: str = "raise") -> np.ndarray:
        """Ids -> int32 indices. ``missing="raise"`` names unknown ids; ``"-1"`` marks them."""
        return self.user_map.rows(user_ids, missing).astype(np.int32)

    def item_index(self, item_ids, missing: str = "raise") -> np.ndarray:
        return self.item_map.rows(item_ids, missing).astype(np.int32)

    # -- views ---------------------------------------------------------------
    @property
    def positive_mask(self) -> np.ndarray:
        """Which interactions are positives (:func:`positive_mask`)."""
        return positive_mask(self.interactions, self.positive_threshold)

    def positives(self) -> pd.DataFrame:
        return self.interactions[self.positive_mask]

    def user_items(self, positives_only: bool = True, frame: pd.DataFrame | None = None) -> sp.csr_matrix:
        """Binary users x items CSR matrix (users are rows, always)."""
        if frame is None:
            frame = self.positives() if positives_only else self.interactions
        data = np.ones(len(frame), dtype=np.float32)
        m = sp.csr_matrix((data, (frame["user_idx"].to_numpy(), frame["item_idx"].to_numpy())),
                          shape=(self.n_users, self.n_items))
        m.sum_duplicates()
        m.data[:] = 1.0
        return m

    def with_interactions(self, interactions: pd.DataFrame) -> "Dataset":
        """Same catalog and id maps, other interactions (a split's train part)."""
        return replace(self, interactions=interactions.reset_index(drop=True))

    def image_paths(self) -> list[str]:
        return self.items["image_path"].tolist()

    def summary(self) -> dict:
        n_pos = int(self.positive_mask.sum())
        return {
            "name": self.name, "layout": self.layout, "root": str(self.root.absolute()),
            "users": self.n_users, "items": self.n_items,
            "items_with_interactions": int(self.interactions["item_idx"].nunique()),
            "interactions": len(self.interactions), "positives": n_pos,
            "positive_rule": ("rating >= %g" % self.positive_threshold if "rating" in self.interactions
                              else "weight > 0" if "weight" in self.interactions else "every interaction"),
            "has_timestamps": "timestamp" in self.interactions,
        }


def positive_mask(interactions: pd.DataFrame, threshold: float = DEFAULT_POSITIVE_THRESHOLD) -> np.ndarray:
    """Which interactions are positives: ``rating >= threshold`` when ratings exist,
    ``weight > 0`` when weights exist, otherwise all of them."""
    if "rating" in interactions:
        return interactions["rating"].to_numpy() >= threshold
    if "weight" in interactions:
        return interactions["weight"].to_numpy() > 0
    return np.ones(len(interactions), dtype=bool)
