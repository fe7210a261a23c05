"""Visually similar items by centred cosine similarity of image embeddings.

The score is the cosine between two embeddings after subtracting the catalog's
mean embedding (items with an image): -1 to 1, 0 for an item no closer than
the average one. CNN features (ReLU outputs) all point one way, so their raw
cosines sit near 1 (0.9999 for a random CNN) and say little; centred, they spread.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.scoring import ranked_frame, top_k

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
        self.item_ids = np.asarray(item_ids, dtype=object)
        vectors = np.asarray(vectors, np.float32)
        self.has_image = np.ones(len(self.item_ids), bool) if has_image is None else np.asarray(has_image, bool)
        #: the catalog's mean embedding, subtracted from every vector and query
        self.mean = vectors[self.has_image].mean(axis=0) if self.has_image.any() else np.zeros(vectors.shape[1])
        self.vectors = self._centred_unit(vectors)
        self._pos = {i: n for n, i in enumerate(self.item_ids)}

    def _centred_unit(self, vectors: np.ndarray) -> np.ndarray:
        centred = np.asarray(vectors, np.float32) - self.mean.astype(np.float32)
        return centred / np.maximum(np.linalg.norm(centred, axis=1, keepdims=True), 1e-12)

    def _search(self, queries: np.ndarray, k: int, exclude: np.ndarray | None):
        """Top-``k`` of centred unit ``queries`` against the catalog."""
        out_idx, out_val = [], []
        for start in range(0, len(queries), QUERY_BLOCK):
            sims = queries[start:start + QUERY_BLOCK].astype(np.float32) @ self.vectors.T
            sims[:, ~self.has_image] = -np.inf
            if exclude is not None:  # a catalog item is not its own neighbour
                block = exclude[start:start + QUERY_BLOCK]
                sims[np.arange(len(block)), block] = -np.inf
            idx, val = top_k(sims, k)
            out_idx.append(idx)
            out_val.append(val)
        return np.vstack(out_idx), np.vstack(out_val)

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
        position = self._pos.get(str(item_id))
        return position is not None and bool(self.has_image[position])

    def _position(self, item_id) -> int:
        try:
            return self._pos[str(item_id)]
        except KeyError:
            raise KeyError(f"unknown item_id {item_id!r}: not in the embedded catalog "
                           "(embed the new image and use similar_to)") from None

    def _frame(self, query_ids, idx, val) -> pd.DataFrame:
        return ranked_frame(query_ids, "item_id", self.item_ids, "similar_item_id", idx, val)
