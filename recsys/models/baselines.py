"""Baselines in the same API, for honest comparison: popularity, random, item-kNN."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.models.base import Recommender, positive_counts


class Popularity(Recommender):
    """Score = number of training positives of the item (cold items all score 0)."""

    name = "popularity"

    def _fit(self, dataset, item_features=None):
        self.item_popularity_ = positive_counts(dataset).astype(np.float32)

    def score_index(self, user_idx, item_idx):
        return np.broadcast_to(self.item_popularity_[item_idx], (len(user_idx), len(item_idx))).copy()


class RandomScores(Recommender):
    """Seeded uniform random scores: the floor every model must clear."""

    name = "random"

    def __init__(self, seed: int = 0):
        self.seed = seed

    def _fit(self, dataset, item_features=None):
        pass

    def score_index(self, user_idx, item_idx):
        # A per-user generator keeps a user's scores independent of batching.
        out = np.empty((len(user_idx), len(item_idx)), dtype=np.float32)
        for row, u in enumerate(user_idx):
            out[row] = np.random.default_rng((self.seed, int(u))).random(len(self.item_ids_))[item_idx]
        return out


class ItemKNN(Recommender):
    """Item-item cosine similarity on co-occurrence; score = sum of similarities
    to the user's positives over each item's ``neighbours`` nearest items."""

    name = "item_knn"

    def __init__(self, neighbours: int = 100, shrink: float = 10.0):
        self.neighbours = neighbours
        self.shrink = shrink

    def _fit(self, dataset, item_features=None):
        x = dataset.user_items().astype(np.float32).tocsc()
        norms = np.sqrt(np.asarray(x.power(2).sum(axis=0)).ravel())
        co = (x.T @ x).tocsr().astype(np.float32)
        co.setdiag(0)
        co.eliminate_zeros()
        rows = np.repeat(np.arange(co.shape[0]), np.diff(co.indptr))
        co.data /= norms[rows] * norms[co.indices] + self.shrink
        self.similarity_ = _keep_top_per_row(co, self.neighbours)
        self.user_positives_ = dataset.user_items()

    def score_index(self, user_idx, item_idx):
        return np.asarray((self.user_positives_[user_idx] @ self.similarity_[:, item_idx]).todense(),
                          dtype=np.float32)


def _keep_top_per_row(m: sp.csr_matrix, n: int) -> sp.csr_matrix:
    m = m.tocsr()
    keep = np.zeros(m.nnz, dtype=bool)
    for r in range(m.shape[0]):
        lo, hi = m.indptr[r], m.indptr[r + 1]
        if hi - lo <= n:
            keep[lo:hi] = True
        else:
            keep[lo + np.argpartition(-m.data[lo:hi], n - 1)[:n]] = True
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    return sp.csr_matrix((m.data[keep], (rows[keep], m.indices[keep])), shape=m.shape)


class ContentKNN(Recommender):
    """Pure content: score = cosine between an item's image embedding and the
    mean embedding of the user's training positives. Needs no interactions on
    the item, so it ranks cold items too."""

    name = "content_knn"

    def _fit(self, dataset, item_features=None):
        if item_features is None:
            raise ValueError("ContentKNN needs `item_features` (image embeddings aligned with dataset.item_ids)")
        f = np.asarray(item_features, dtype=np.float32)
        self.item_unit_ = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
        profiles = dataset.user_items() @ self.item_unit_
        self.user_unit_ = profiles / np.maximum(np.linalg.norm(profiles, axis=1, keepdims=True), 1e-12)

    def score_index(self, user_idx, item_idx):
        return self.user_unit_[user_idx] @ self.item_unit_[item_idx].T
