"""The one model contract every recommender shares: a fitted model is a factor model.

A fitted model holds

- ``user_map_``, ``item_map_``: :class:`~recsys.idmap.IdMap` (``user_ids_`` and
  ``item_ids_`` are their ids), with :meth:`~Recommender.knows_user`,
  :meth:`~Recommender.user_index` and their item twins;
- ``user_vectors_`` (n_users, d) and ``item_vectors_`` (n_items, d), dense
  arrays or CSR matrices: a score is their dot product;
- ``seen_``: CSR users x items of the training interactions.

Models whose user vectors follow from a user's history (``folds_in_users``)
also give vectors to users they never saw, from their positives, without
retraining: :meth:`~Recommender.user_vectors_for` and :meth:`~Recommender.fold_in`.

Batch jobs, Spark, serving, ``recommend``, the explorer and the evaluation use
only these and the methods below (implicit's ``MatrixFactorizationBase`` has
the same shape). A model writes ``_fit`` and sets the vectors; ranking is the
one chunked top-K of :mod:`recsys.scoring`. :meth:`Recommender.from_factors`
makes a fitted model of vectors computed elsewhere.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data.dataset import Dataset
from recsys.idmap import IdMap
from recsys.models.features import align_features
from recsys.scoring import chunked_top_k, new_items, product, ranked_frame, transposed


class Recommender:
    """Base class: ``fit -> self``, ``score``, ``recommend``, ``save``/``load``.

    Subclasses implement ``_fit(dataset, item_features)``, which sets
    ``user_vectors_`` and ``item_vectors_``. Learned state ends in ``_``;
    ``__init__`` only stores hyperparameters (scikit-learn style).
    """

    name = "recommender"
    #: learned attributes beyond the contract that ``save`` keeps: arrays, and JSON values
    saved_arrays: tuple[str, ...] = ()
    saved_json: tuple[str, ...] = ()
    #: set by ``fit(progress=...)``: whether training phases show progress bars
    _progress = False
    #: class name -> class of every model class defined, for ``load``
    registry: dict[str, type] = {}
    #: whether :meth:`user_vectors_for` gives users vectors from their history
    folds_in_users = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        Recommender.registry[cls.__name__] = cls

    @classmethod
    def from_factors(cls, user_ids, item_ids, user_vectors, item_vectors, seen=None) -> "Recommender":
        """A fitted model scoring with given vectors (another library's factors, or
        synthetic ones); ``seen``: CSR users x items to exclude (default none)."""
        model = Recommender()
        model.user_map_, model.item_map_ = IdMap(user_ids, "user"), IdMap(item_ids, "item")
        model.user_vectors_, model.item_vectors_ = user_vectors, item_vectors
        model.seen_ = sp.csr_matrix((len(model.user_map_), len(model.item_map_)), dtype=np.float32) \
            if seen is None else sp.csr_matrix(seen)
        model.check_state()
        return model

    def get_params(self) -> dict:
        """Hyperparameters, as given to ``__init__`` (scikit-learn's ``inspect.signature`` way)."""
        skip = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        return {name: getattr(self, name) for name, p in inspect.signature(type(self).__init__).parameters.items()
                if name != "self" and p.kind not in skip}

    def fit(self, dataset: Dataset, item_features=None, progress: bool = False, **options) -> "Recommender":
        """Learn from ``dataset.interactions``.

        Parameters
        ----------
        dataset : Dataset
            Training interactions; the catalog may hold items with none (cold items).
        item_features : ItemFeatures, EmbedResult or float array (dataset.n_items, d), optional
            Image embeddings. With item ids (an ``ItemFeatures`` or an embedding
            result) they are aligned to the catalog by id, and items without an
            image get a zero row; a plain array must follow ``dataset.item_ids``.
        progress : bool
            Show a progress bar (rate, ETA) per training phase where fitting takes long.
        options
            What a model's own fit takes (the hybrid's ``settings``).

        A fit that fails leaves the model as it was (a refit cannot mix new ids with old vectors).
        """
        before = dict(vars(self))
        try:
            self.user_map_, self.item_map_ = dataset.user_map, dataset.item_map
            self.seen_ = dataset.user_items(positives_only=False)
            self._progress = progress
            self._fit(dataset, align_features(item_features, dataset), **options)
            self.check_state()
        except BaseException:
            vars(self).clear()
            vars(self).update(before)
            raise
        return self

    def _fit(self, dataset: Dataset, item_features: np.ndarray | None, **options) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot be trained; it scores with given factors")

    # -- the fitted contract ---------------------------------------------------
    @property
    def user_ids_(self) -> np.ndarray:
        return self.user_map_.ids

    @property
    def item_ids_(self) -> np.ndarray:
        return self.item_map_.ids

    def check_is_fitted(self) -> None:
        if "user_map_" not in vars(self):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit() first")

    def check_state(self) -> None:
        """The vectors and the seen matrix agree with the id maps."""
        n_users, n_items = len(self.user_map_), len(self.item_map_)
        u, v = self.user_vectors_, self.item_vectors_
        if u.shape[0] != n_users or v.shape[0] != n_items or u.shape[1] != v.shape[1] \
                or self.seen_.shape != (n_users, n_items):
            raise ValueError(f"inconsistent factors: {n_users} users and {n_items} items, user vectors {u.shape}, "
                             f"item vectors {v.shape}, seen {self.seen_.shape}")

    def knows_user(self, user_id) -> bool:
        self.check_is_fitted()
        return user_id in self.user_map_

    def knows_item(self, item_id) -> bool:
        self.check_is_fitted()
        return item_id in self.item_map_

    def user_index(self, user_ids) -> np.ndarray:
        """Rows of ``user_ids``; an unknown id is a ``KeyError`` naming it."""
        self.check_is_fitted()
        return self.user_map_.rows(user_ids)

    def item_index(self, item_ids) -> np.ndarray:
        self.check_is_fitted()
        return self.item_map_.rows(item_ids)

    def score_index(self, user_idx, item_idx) -> np.ndarray:
        """Scores ``float32 (len(user_idx), len(item_idx))`` by rows."""
        return product(self.user_vectors_[np.asarray(user_idx)], transposed(self.item_vectors_[np.asarray(item_idx)]))

    def score(self, user_ids, item_ids) -> np.ndarray:
        """Scores ``(len(user_ids), len(item_ids))``, float32; higher is better."""
        return self.score_index(self.user_index(user_ids), self.item_index(item_ids))

    def recommend(self, user_ids, k: int = 10, exclude_seen: bool = True, candidates=None,
                  mark_new: bool = False) -> pd.DataFrame:
        """Top-``k`` items per user as a DataFrame ``user_id, rank, item_id, score``.

        ``rank`` starts at 1. ``candidates`` restricts ranking to those item ids.
        A user may get fewer than ``k`` rows when fewer items are eligible.
        ``mark_new`` adds ``is_new``: items scored from their photo alone (:func:`recsys.scoring.new_items`).
        """
        if k < 1:
            raise ValueError(f"`k` must be >= 1, got {k}")
        rows = self.user_index(user_ids)
        columns = None if candidates is None else self.item_index(candidates)
        items, item_vectors = ((self.item_ids_, self.item_vectors_) if columns is None
                               else (self.item_ids_[columns], self.item_vectors_[columns]))
        new = (new_items(self) if columns is None else new_items(self)[columns]) if mark_new else None
        seen = self.seen_[rows] if exclude_seen else None
        frames = [ranked_frame(self.user_ids_[rows[start:start + len(idx)]], "user_id", items, "item_id", idx, val,
                               new)
                  for start, idx, val in chunked_top_k(self.user_vectors_[rows], item_vectors, k, seen,
                                                       seen_columns=columns)]
        return pd.concat(frames, ignore_index=True) if frames else ranked_frame(
            [], "user_id", [], "item_id", np.zeros((0, 0), np.int64), np.zeros((0, 0), np.float32),
            None if new is None else np.zeros(0, bool))

    # -- users from their history (fold-in) -----------------------------------------
    def user_vectors_for(self, positives: sp.csr_matrix):
        """Vectors of users given by their positives (CSR users x this model's items), on the
        known users' scale, without retraining. Models with ``folds_in_users`` implement it."""
        raise ValueError(f"{type(self).__name__} cannot give vectors to users it was not trained on")

    def _training_positives(self) -> sp.csr_matrix:
        """Users x items of the training positives (models that keep them apart from ``seen_``
        say so; by default every interaction counts)."""
        return self.seen_

    def fold_in(self, user_ids, positives: sp.csr_matrix, seen: sp.csr_matrix | None = None) -> tuple[list, list]:
        """Give ``user_ids`` vectors from their history, without retraining: users the model does
        not know are added; known ones are folded in again from their training positives plus
        these (newer interactions), so what they saw stays excluded.

        ``positives``: CSR ``len(user_ids)`` x this model's items; ``seen``: every interaction
        to exclude from their rankings (default: ``positives``). Returns ``(added, updated)`` ids.
        """
        self.check_is_fitted()
        user_ids = np.asarray([str(u) for u in user_ids], dtype=object)
        if len(set(user_ids)) != len(user_ids):
            raise ValueError("fold_in: each user once, please")
        rows = self.user_map_.rows(user_ids, missing="-1")
        known = np.flatnonzero(rows >= 0)
        # picks each known user's training row
        earlier = sp.csr_matrix((np.ones(len(known), np.float32), (known, rows[known])),
                                shape=(len(user_ids), len(self.user_map_)))
        positives = binary(sp.csr_matrix(positives) + earlier @ self._training_positives())
        seen = binary(positives + earlier @ self.seen_ + (0 if seen is None else sp.csr_matrix(seen)))
        vectors = self.user_vectors_for(positives)
        added = list(user_ids[rows < 0])
        self.user_map_ = self.user_map_.extended(added)
        rows = self.user_map_.rows(user_ids)
        if sp.issparse(self.user_vectors_):
            self.user_vectors_ = replace_rows(self.user_vectors_, rows, vectors, len(self.user_map_))
        else:
            self.user_vectors_ = np.vstack([self.user_vectors_, np.zeros(
                (len(added), self.user_vectors_.shape[1]), self.user_vectors_.dtype)])
            self.user_vectors_[rows] = vectors
        self.seen_ = binary(replace_rows(self.seen_, rows, seen, len(self.user_map_)))
        self._folded_in(rows, positives)
        return added, list(user_ids[known])

    def _folded_in(self, rows: np.ndarray, positives: sp.csr_matrix) -> None:
        """Hook for a model that keeps more per user (the hybrid: its users' positives)."""

    # -- persistence (no pickle): recsys.models.files ------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write ``model.json`` (class, hyperparameters) and ``arrays.npz`` (learned state)."""
        from recsys.models import files

        return files.save(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Recommender":
        """A model saved by :meth:`save`, of this class or a subclass (any model, from ``Recommender``)."""
        from recsys.models import files

        return files.load(path, cls)

    @classmethod
    def state_array_names(cls) -> tuple[str, ...]:
        """The names :meth:`state_arrays` may write (the only extra arrays a load reads)."""
        return tuple(name.rstrip("_") for name in cls.saved_arrays)

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Learned arrays beyond the contract, by name (``saved_arrays`` by default)."""
        return {name.rstrip("_"): getattr(self, name) for name in self.saved_arrays}

    def restore_state(self, arrays: dict[str, np.ndarray], state: dict) -> None:
        """Set what :meth:`state_arrays` and ``saved_json`` wrote."""
        for name in self.saved_arrays:
            setattr(self, name, arrays[name.rstrip("_")])
        for name in self.saved_json:
            setattr(self, name, state[name.rstrip("_")])


def binary(matrix) -> sp.csr_matrix:
    out = sp.csr_matrix(matrix, dtype=np.float32)
    out.sum_duplicates()
    out.eliminate_zeros()
    out.data[:] = 1.0
    return out


def replace_rows(matrix: sp.csr_matrix, rows: np.ndarray, values: sp.csr_matrix, n_rows: int) -> sp.csr_matrix:
    """``matrix`` grown to ``n_rows`` rows, its ``rows`` replaced by those of ``values``."""
    keep = np.ones(n_rows, np.float32)
    keep[rows] = 0.0
    grown = sp.vstack([matrix, sp.csr_matrix((n_rows - matrix.shape[0], matrix.shape[1]), dtype=matrix.dtype)])
    placed = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, np.arange(len(rows)))), shape=(n_rows, len(rows)))
    out = sp.csr_matrix(sp.diags(keep) @ grown + placed @ sp.csr_matrix(values))
    out.eliminate_zeros()
    return out


def positive_counts(dataset: Dataset) -> np.ndarray:
    """Positives per item index (float64), the popularity signal."""
    return np.bincount(dataset.positives()["item_idx"].to_numpy(), minlength=dataset.n_items).astype(np.float64)


Recommender.registry["Recommender"] = Recommender
