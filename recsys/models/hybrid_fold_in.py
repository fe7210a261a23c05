"""How the hybrid's training makes its users fold-ins (:mod:`recsys.models.fold_in`): after
the phase that learns the users, every user's factors are replaced by the fold-in of their
training positives, so known users and users who arrive later are scored alike; the fold-in's
strength is chosen on validation with the epochs."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.evaluation.metrics import ndcg_of_factors
from recsys.models import fold_in
from recsys.models.base import binary


def binary_matrix(rows: np.ndarray, columns: np.ndarray, shape: tuple) -> sp.csr_matrix:
    """1 where a (row, column) pair occurs, repeats counted once."""
    return binary(sp.csr_matrix((np.ones(len(rows), np.float32), (rows, columns)), shape=shape))


class FoldInTraining:
    """The fold-in steps of :class:`~recsys.models.hybrid.HybridRecommender`'s fit."""

    def _fold_items(self, state, positives):
        """``(items with a positive in ``positives``, their vectors)``: what the users are scored
        against in training, ID factors with their bias (image ones without IDs)."""
        items = np.unique(positives["item_idx"].to_numpy())
        _, v = self._vectors(state, np.zeros(0, np.int32), items,
                             np.full(len(items), float(self.use_ids), np.float32))
        return items, v

    def _fold_users(self, state, positives, strength):
        """Every user's factors become the fold-in of their ``positives`` (:mod:`recsys.models.fold_in`),
        as a user who arrives later will get them. Returns ``(fold items mask, FoldIn)``."""
        items, v = self._fold_items(state, positives)
        net = state.net
        solver = fold_in.FoldIn.fit(v[:, :-1], v[:, -1], strength)
        liked = binary_matrix(positives["user_idx"].to_numpy(), np.searchsorted(items, positives["item_idx"]),
                              (net.n_users, len(items)))
        net.user_factors.embeddings.assign(solver.solve(liked, v[:, :-1]))
        mask = np.zeros(net.n_items, bool)
        mask[items] = True
        return mask, solver

    def _choose_fold_in_strength(self, state, train, validation):
        """The fold-in's ``strength``: the one whose users, folded in from ``train``, rank their held-out
        positives of known items best (the trained users' NDCG is kept beside, for comparison)."""
        users = self._validation_users(validation)
        if len(users) == 0:
            return
        items, v = self._fold_items(state, train)
        mine = train[train["user_idx"].isin(users)]
        liked = binary_matrix(np.searchsorted(users, mine["user_idx"]), np.searchsorted(items, mine["item_idx"]),
                              (len(users), len(items)))
        relevant = self._relevant(users, items, validation)
        ndcg = {}
        for strength in fold_in.STRENGTHS:
            factors = fold_in.FoldIn.fit(v[:, :-1], v[:, -1], strength).solve(liked, v[:, :-1])
            ndcg[strength] = ndcg_of_factors(np.hstack([factors, np.ones((len(users), 1), np.float32)]), v,
                                             relevant, self.eval_k, liked)
        trained = ndcg_of_factors(np.asarray(state.net.user_vectors(users.astype(np.int32))), v, relevant, self.eval_k,
                                  liked)
        self.fold_in_strength_ = max(ndcg, key=ndcg.get)
        self.history_.append({"phase": "fold_in", "validation": True, "trained_users_val_ndcg": trained,
                              **{f"strength_{a:g}_val_ndcg": n for a, n in ndcg.items()}})
