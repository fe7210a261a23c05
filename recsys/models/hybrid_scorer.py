"""The fitted hybrid: its state frozen into plain vectors (export, calibration, the
cold-start blocks), new items scored from their photos, new users folded in from
their history, and what is saved.

:class:`~recsys.models.hybrid.HybridRecommender` adds the training to it.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.models import cold_start, fold_in, newness
from recsys.models.base import Recommender, binary, replace_rows
from recsys.models.files import read_seen
from recsys.models.fold_in import FoldIn
from recsys.models.hybrid_net import TrainingState

#: what a user vector is made of beyond the ID factors, kept as arrays (moments of item sets)
REFERENCES = {"profile_image": ("profile_reference_", "image"), "profile_space": ("profile_reference_", "space"),
              "newness_known": ("newness_reference_", "known"), "newness_new": ("newness_reference_", "new")}


class HybridScorer(Recommender):
    """A trained hybrid, scoring with one matrix product (layout: :func:`cold_start.with_profiles`)."""

    saved_arrays = ("warm_items_", "image_mean_", "image_std_", "prior_coef_", "fold_items_", "item_space_")
    saved_json = ("prior_intercept_", "image_weight_", "profile_weight_", "warm_profile_weight_", "newness_shift_",
                  "newness_scale_", "newness_share_", "image_scale_", "image_shift_", "prior_alpha_", "best_epochs_",
                  "fold_in_strength_", "history_")

    @property
    def folds_in_users(self) -> bool:
        """Fitted, or saved, by a recsys that folds users in (older model files cannot)."""
        return "fold_in_" in vars(self)

    def _prior(self, features):
        if not self.use_images:
            return np.zeros(len(features), np.float32)
        return (np.asarray(features, np.float32) @ self.prior_coef_ + self.prior_intercept_).astype(np.float32)

    def _standardise(self, f):
        return cold_start.standardise(f, self.image_mean_, self.image_std_)

    @staticmethod
    def _vectors(state: TrainingState, users, items, id_mask, image_weight=1.0):
        """User and item vectors; items with ``id_mask`` 0 get ``image_weight`` x the
        image tower plus the image prior as their bias."""
        u = np.asarray(state.net.user_vectors(users.astype(np.int32)))
        v = np.array(state.net.item_vectors(items.astype(np.int32), state.features[items],
                                            id_mask.astype(np.float32)))
        cold = 1.0 - id_mask
        v *= (id_mask + cold * image_weight)[:, None]
        v[:, -1] += cold * state.prior[items]
        return u, v

    def _export(self, state: TrainingState, raw, user_items):
        """Freeze the learned state into plain arrays: scoring is then one matrix product
        (layout: :func:`cold_start.with_profiles`). Users are composed as a fold-in composes
        them (:meth:`_compose_users`), from their ID factors and ``user_items``."""
        net = state.net
        all_items = np.arange(len(self.item_ids_))
        users = np.arange(len(self.user_ids_))
        # without ID factors every item, warm or not, is scored from its image (prior included)
        id_mask = self.warm_items_ if self.use_ids else np.zeros(len(all_items), bool)
        self.user_vectors_, self.item_vectors_ = self._vectors(
            state, users, all_items, id_mask.astype(np.float32), self.image_weight_)
        self.image_scale_, self.image_shift_ = 1.0, 0.0
        self.liked_ = sp.csr_matrix(user_items, dtype=np.float32)
        self.item_space_ = np.zeros((len(all_items), 0), np.float32)
        self.tower_ = ([np.asarray(w) for w in net.image_hidden_layer.get_weights() + net.image_out.get_weights()]
                       if self.use_images else [])
        if not (self.use_ids and self.use_images):
            return
        _, image_only = self._vectors(state, users[:0], all_items,
                                      np.zeros(len(all_items), np.float32), self.image_weight_)
        self.image_scale_, self.image_shift_ = cold_start.calibration(
            self.user_vectors_, self.item_vectors_, image_only, self.warm_items_, self.seed)
        image_only = cold_start.rescale(image_only, self.image_scale_, self.image_shift_)
        self.item_space_ = self.space_.embed(raw, cold_start.has_image(raw))
        self.profile_reference_ = cold_start.profile_reference(image_only, self.item_space_, self.seed)
        self.user_vectors_ = cold_start.profile_users(self.user_vectors_, cold_start.profiles(self.item_space_, user_items),
                                                      self.profile_reference_, self.profile_weight_)
        self.item_vectors_ = cold_start.profile_item_vectors(self.item_vectors_, image_only, self.warm_items_,
                                                             self.item_space_, self.profile_weight_,
                                                             self.warm_profile_weight_)
        # the catalog's photos scored as new items' are: the newness stretch's reference where few are new
        rows = np.random.default_rng(self.seed).permutation(np.flatnonzero(cold_start.has_image(raw)))[:2000]
        new_like = cold_start.cold_item_vectors(image_only[rows], self.item_space_[rows], self.profile_weight_)
        self._solve_newness_shift()
        self.newness_reference_ = newness.reference(self.item_vectors_, self.warm_items_, new_like)
        self.user_vectors_, self.item_vectors_, self.newness_scale_ = newness.with_shift(
            self.user_vectors_, self.item_vectors_, self.warm_items_, self.newness_shift_,
            None if self.newness_share_ is None else self.newness_scale_,
            spread=newness.user_spread(self.user_vectors_, self.newness_reference_))
        keep = 1.0 - max(self.profile_weight_, 0.0)  # new items added later: scaled as with_profiles did
        self.image_scale_, self.image_shift_ = keep * self.image_scale_, keep * self.image_shift_

    def _compose_users(self, factors: np.ndarray, positives: sp.csr_matrix) -> np.ndarray:
        """Whole user vectors from ID factors and positives, laid out as :meth:`_export` lays them:
        ``[p, 1]``, then the taste profile (:func:`cold_start.profile_users`) and the newness
        column (:func:`newness.user_column`) over the items they were fitted on."""
        users = np.hstack([factors, np.ones((len(factors), 1), np.float32)])
        if not (self.use_ids and self.use_images):
            return users
        users = cold_start.profile_users(users, cold_start.profiles(self.item_space_, positives),
                                         self.profile_reference_, self.profile_weight_)
        if self.newness_shift_ is None:
            return users
        column = newness.user_column(newness.user_spread(users, self.newness_reference_), self.newness_shift_,
                                     self.newness_scale_)
        return np.hstack([users, column[:, None]])

    def user_vectors_for(self, positives: sp.csr_matrix) -> np.ndarray:
        """Vectors of users from their positives (CSR users x the model's items), without
        retraining: ID factors by the fold-in solve (:mod:`recsys.models.fold_in`) against the
        fixed item factors, the taste profile from the items' photos. Every known user's vector
        was made this way from their training positives, so a history scores the same whoever it is."""
        self._check_folds_in()
        positives = sp.csr_matrix(positives, dtype=np.float32)
        if positives.shape[1] != len(self.item_ids_):
            raise ValueError(f"positives have {positives.shape[1]} item columns, the model has {len(self.item_ids_)}")
        fold = np.flatnonzero(self.fold_items_)
        factors = self.fold_in_.solve(positives[:, fold], self.item_vectors_[fold, :self.factors])
        return self._compose_users(factors, positives).astype(np.float32)

    def _check_folds_in(self):
        self.check_is_fitted()
        if not self.folds_in_users:
            raise ValueError("this model was saved before recsys could fold in users: train it again")

    def _training_positives(self) -> sp.csr_matrix:
        self._check_folds_in()
        return self.liked_

    def _folded_in(self, rows, positives):
        self.liked_ = binary(replace_rows(self.liked_, rows, positives, len(self.user_map_)))

    def _solve_newness_shift(self, max_users: int = 2000):
        """Where the catalog already holds items without interactions (this week's arrivals, as the
        nightly job meets them; ``newness.MIN_NEW_ITEMS`` at least), the shift that gives them the
        share of each top K that validation chose (``newness_share_``), solved on a sample of users
        with validation's stretch; else validation's shift stands."""
        if self.newness_share_ is None or (~self.warm_items_).sum() < newness.MIN_NEW_ITEMS:
            return
        users = np.random.default_rng(self.seed).permutation(len(self.user_ids_))[:max_users]
        self.newness_shift_ = newness.solve_shift(self.user_vectors_[users], self.item_vectors_, self.warm_items_,
                                                  self.newness_share_, self.seen_[users], self.eval_k,
                                                  self.newness_scale_)
        self.history_.append({"phase": "newness", "validation": False, "share": self.newness_share_,
                              "solved_shift": self.newness_shift_})

    def image_item_vectors(self, features: np.ndarray) -> np.ndarray:
        """Item vectors of new items from their image embeddings alone (cold start)."""
        self.check_is_fitted()
        if not self.use_images:
            raise ValueError("this model was trained without images (use_images=False): it cannot score new items")
        w1, b1, w2, b2 = self.tower_
        vectors = self.image_weight_ * (np.maximum(self._standardise(features) @ w1 + b1, 0.0) @ w2 + b2)
        vectors[:, -1] += self._prior(features)
        vectors = cold_start.rescale(vectors, self.image_scale_, self.image_shift_).astype(np.float32)
        if self.use_ids:  # the taste-profile block (see _export)
            space = self.space_.embed(features, cold_start.has_image(features))
            vectors = np.hstack([vectors, space, np.ones((len(vectors), 1), np.float32)])
        if self.newness_shift_ is not None:  # stretched, with the newness column (recsys.models.newness)
            vectors = np.hstack([self.newness_scale_ * vectors, np.ones((len(vectors), 1), np.float32)])
        return vectors

    def add_items(self, item_ids, features: np.ndarray) -> list[str]:
        """Add new items, scored from their images; known ids, and repeats, are left out.
        Returns the ids added."""
        item_ids = [str(i) for i in item_ids]
        new = self.item_map_.new(item_ids)
        if not new:
            return []
        first = {i: n for n, i in reversed(list(enumerate(item_ids)))}  # each new id's first row
        rows = np.asarray(features, np.float32)[[first[i] for i in new]]
        vectors = self.image_item_vectors(rows)
        self.item_map_ = self.item_map_.extended(new)
        self.item_vectors_ = np.vstack([self.item_vectors_, vectors])
        self.warm_items_ = np.concatenate([self.warm_items_, np.zeros(len(new), bool)])
        self.fold_items_ = np.concatenate([self.fold_items_, np.zeros(len(new), bool)])
        if self.item_space_.shape[1]:  # their photos in the profile space, for the profiles of folded-in users
            self.item_space_ = np.vstack([self.item_space_, self.space_.embed(rows, cold_start.has_image(rows))])
        else:
            self.item_space_ = np.zeros((len(self.item_map_), 0), np.float32)
        shape = (self.seen_.shape[0], len(self.item_map_))
        self.seen_, self.liked_ = sp.csr_matrix(self.seen_, shape=shape), sp.csr_matrix(self.liked_, shape=shape)
        return new

    # -- persistence: recsys.models.files ---------------------------------------
    @classmethod
    def state_array_names(cls) -> tuple[str, ...]:
        return super().state_array_names() + ("space_mean", "space_components", "liked_indptr", "liked_indices") + \
            tuple(f"tower_{k}" for k in range(4)) + fold_in.ARRAY_NAMES + \
            tuple(f"{name}_{part}" for name in REFERENCES for part in ("mean", "covariance"))

    def state_arrays(self) -> dict[str, np.ndarray]:
        references = {}
        for name, (attribute, key) in REFERENCES.items():
            moments = getattr(self, attribute, {}).get(key)
            if moments is not None:
                references |= {f"{name}_mean": moments[0], f"{name}_covariance": moments[1]}
        return super().state_arrays() | {"space_mean": self.space_.mean, "space_components": self.space_.components,
                                         "liked_indptr": self.liked_.indptr, "liked_indices": self.liked_.indices,
                                         **{f"tower_{k}": w for k, w in enumerate(self.tower_)},
                                         **self.fold_in_.arrays(), **references}

    def restore_state(self, arrays: dict[str, np.ndarray], state: dict) -> None:
        # written before known items had a profile term, before the newness column, or before fold-in
        state = {"warm_profile_weight": 0.0, "newness_shift": None, "newness_scale": 1.0, "newness_share": None,
                 "fold_in_strength": None} | state
        n_items = len(self.item_map_)
        arrays = {"fold_items": np.zeros(n_items, bool), "item_space": np.zeros((n_items, 0), np.float32)} | arrays
        super().restore_state(arrays, state)
        self.space_ = cold_start.ImageSpace(arrays["space_mean"], arrays["space_components"])
        self.tower_ = [arrays[f"tower_{k}"] for k in range(4) if f"tower_{k}" in arrays]
        if len(self.warm_items_) != n_items or len(self.fold_items_) != n_items or len(self.item_space_) != n_items:
            raise ValueError(f"warm_items, fold_items or item_space do not have {n_items} rows")
        if state["fold_in_strength"] is None or "liked_indptr" not in arrays:
            return  # saved before fold-in: user_vectors_for says so
        self.fold_in_ = FoldIn.from_arrays(arrays, state["fold_in_strength"])
        self.liked_ = read_seen(arrays, len(self.user_map_), n_items, "liked")
        moments = {name: (arrays[f"{name}_mean"], arrays[f"{name}_covariance"]) if f"{name}_mean" in arrays else None
                   for name in REFERENCES}
        self.profile_reference_ = {"image": moments["profile_image"], "space": moments["profile_space"]}
        # (how many new items the stretch saw is not kept: only the stretch, fixed at fit, reads it)
        self.newness_reference_ = {"known": moments["newness_known"], "new": moments["newness_new"], "new_items": 0}
