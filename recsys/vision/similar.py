"""Visually similar items by centred cosine similarity of image embeddings.

The score is the cosine between two embeddings after subtracting the catalog's
mean embedding (items with an image): -1 to 1, 0 for an item no closer than
the average one. CNN features (ReLU outputs) all point one way, so their raw
cosines sit near 1 (0.9999 for a random CNN) and say little; centred, they spread.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.idmap import IdMap
from recsys.scoring import chunked_top_k, ranked_frame, unit_rows

#: query rows scored per block, bounding memory at block x n_items floats
QUERY_BLOCK = 1024


class SimilarItems:
    """Nearest catalog items of catalog items or of new image embeddings.

    Parameters
    ----------
    item_ids : (n,) ids of the catalog
    vectors : float (n, d) image embeddings
    has_image : bool (n,), optional; items without an image are never returned
    """

    def __init__(self, item_ids, vectors: np.ndarray, has_image: np.ndarray | None = None):
        self.item_map = IdMap(item_ids, "item")
        self.item_ids = self.item_map.ids
        vectors = np.asarray(vectors, np.float32)
        self.has_image = np.ones(len(self.item_ids), bool) if has_image is None else np.asarray(has_image, bool)
        #: the catalog's mean embedding, subtracted from every vector and query
        self.mean = vectors[self.has_image].mean(axis=0) if self.has_image.any() else np.zeros(vectors.shape[1])
        self.vectors = self._centred_unit(vectors)

    def _centred_unit(self, vectors: np.ndarray) -> np.ndarray:
        centred = np.asarray(vectors, np.float32) - self.mean.astype(np.float32)
        return unit_rows(centred)

    def _search(self, queries: np.ndarray, k: int, exclude: np.ndarray | None):
        """Top-``k`` of centred unit ``queries`` against the catalog (the one chunked top-K);
        ``exclude[r]``: the catalog row query ``r`` may not return (itself)."""
        n = len(queries)
        own = None if exclude is None else sp.csr_matrix(
            (np.ones(n, np.float32), (np.arange(n), exclude)), shape=(n, len(self.item_ids)))
        parts = list(chunked_top_k(queries, self.vectors, k, own, allowed=self.has_image, chunk=QUERY_BLOCK))
        return np.vstack([idx for _, idx, _ in parts]), np.vstack([val for _, _, val in parts])

    def neighbours(self, item_ids, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Index arrays ``(len(item_ids), k)`` of neighbours and their centred cosine similarities."""
        rows = np.array([self._position(i) for i in item_ids], dtype=np.int64)
        return self._search(self.vectors[rows], k, exclude=rows)

    def similar_items(self, item_ids, k: int = 10) -> pd.DataFrame:
        """``item_id, rank, similar_item_id, score`` for catalog items."""
        item_ids = [item_ids] if isinstance(item_ids, str) else list(item_ids)
        idx, val = self.neighbours(item_ids, k)
        return self._frame(item_ids, idx, val)

    def similar_to(self, query_ids, vectors: np.ndarray, k: int = 10) -> pd.DataFrame:
        """Neighbours of new images given their embeddings; ``query_ids`` label the rows."""
        idx, val = self._search(self._centred_unit(vectors), k, exclude=None)
        return self._frame(list(query_ids), idx, val)

    def has_image_of(self, item_id) -> bool:
        """Whether ``item_id`` is in the catalog with an image (so it has neighbours)."""
        return item_id in self.item_map and bool(self.has_image[self.item_map.row(item_id)])

    def _position(self, item_id) -> int:
        if item_id not in self.item_map:
            raise KeyError(f"unknown item_id {item_id!r}: not in the embedded catalog "
                           "(embed the new image and use similar_to)")
        return self.item_map.row(item_id)

    def _frame(self, query_ids, idx, val) -> pd.DataFrame:
        return ranked_frame(query_ids, "item_id", self.item_ids, "similar_item_id", idx, val)
