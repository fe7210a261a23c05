"""Fold-in: a user's ID factors from their history against fixed item factors, without retraining.

The hybrid learns its factors with a (sampled) softmax: a user's positives
should stand out from every known item. Folding a user in solves the same
problem for the user alone, item factors fixed (implicit's ``recalculate_user``
does this for ALS's squared loss)::

    p_u = argmax_p  sum_{i in H_u} log softmax(Q p + b)_i  -  |H_u| lambda/2 |p|^2

taken as one Newton step from ``p = 0``, where the softmax is the popularity
prior ``softmax(b)``: with ``m`` and ``C`` the mean and covariance of the item
factors under that prior, ``p_u = (C + lambda I)^-1 (mean_{i in H_u} q_i - m)``.
A ridge regression in closed form: one ``d x d`` eigendecomposition for the
whole catalog, then a product per user (10,000 users in well under a second).

The penalty grows with the history, so a user with 5 positives and one with
500 get factors of one size: a constant penalty, chosen on validation (whose
users are the known ones, 57 positives each on MovieLens), shrinks a new
user's 5 positives to near popularity: on MovieLens users who arrived after a
cutoff, NDCG@20 0.206 (below popularity's 0.234) against 0.287 with this
penalty. ``lambda`` is ``strength`` times the mean eigenvalue of ``C`` (so it
does not depend on the factors' scale), chosen on validation
(:meth:`HybridRecommender._choose_fold_in_strength`). More Newton steps
towards the exact optimum overfit (MovieLens, cf only: warm NDCG@20 from
0.129 to 0.104 after 6 steps; the one step beat the trained vectors).

The hybrid gives every user, known or new, these factors (known users at the
end of training, from their training positives), so a history scores the same
wherever it comes from.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

#: penalties per positive tried on validation, in mean eigenvalues of the item factors' covariance
STRENGTHS = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
DEFAULT_STRENGTH = 10.0
#: the arrays a model file keeps of a :class:`FoldIn`
ARRAY_NAMES = ("fold_in_mean", "fold_in_eigenvalues", "fold_in_eigenvectors")


class FoldIn:
    """The fold-in solve: the popularity prior's mean and covariance of the item factors it
    was fitted on (:meth:`fit`), and the ``strength``. Saved with the model as three arrays."""

    def __init__(self, prior_mean: np.ndarray, eigenvalues: np.ndarray, eigenvectors: np.ndarray, strength: float):
        self.prior_mean, self.eigenvalues, self.eigenvectors = (np.asarray(a, np.float64) for a in
                                                                 (prior_mean, eigenvalues, eigenvectors))
        self.strength = float(strength)

    @property
    def penalty(self) -> float:
        """``lambda``: the strength in mean eigenvalues of the covariance."""
        return self.strength * max(float(self.eigenvalues.mean()) if self.eigenvalues.size else 0.0, 1e-12)

    @classmethod
    def fit(cls, factors: np.ndarray, bias: np.ndarray, strength: float = DEFAULT_STRENGTH) -> "FoldIn":
        """From item factors ``(n_items, f)`` and their biases ``(n_items,)``."""
        factors, bias = np.asarray(factors, np.float64), np.asarray(bias, np.float64)
        prior = np.exp(bias - bias.max(initial=0.0))
        prior /= max(prior.sum(), 1e-300)
        mean = prior @ factors
        centred = factors - mean
        covariance = (centred * prior[:, None]).T @ centred
        eigenvalues, eigenvectors = np.linalg.eigh((covariance + covariance.T) / 2)
        return cls(mean, np.maximum(eigenvalues, 0.0), eigenvectors, strength)

    def solve(self, history: sp.csr_matrix, factors: np.ndarray) -> np.ndarray:
        """Factors ``float32 (n_users, f)`` of each row of ``history`` (users x items whose factors
        are ``factors``; a value weighs a positive, usually 1). No history: zeros, the popularity ranking."""
        history = sp.csr_matrix(history, dtype=np.float64)
        counts = np.asarray(history.sum(axis=1)).ravel()
        mean = np.asarray(history @ np.asarray(factors, np.float64)) / np.maximum(counts, 1e-12)[:, None]
        gradient = np.where(counts[:, None] > 0, mean - self.prior_mean, 0.0)
        # (C + lambda I)^-1 through C's eigenvectors: one product for every user
        inverse = 1.0 / (self.eigenvalues + self.penalty)
        return (((gradient @ self.eigenvectors) * inverse) @ self.eigenvectors.T).astype(np.float32)

    def arrays(self) -> dict[str, np.ndarray]:
        return dict(zip(ARRAY_NAMES, (self.prior_mean, self.eigenvalues, self.eigenvectors)))

    @classmethod
    def from_arrays(cls, arrays: dict, strength: float) -> "FoldIn":
        return cls(*(arrays[name] for name in ARRAY_NAMES), strength)
