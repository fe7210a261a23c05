"""The fitted hybrid: its state frozen into plain vectors (export, calibration, the
cold-start blocks), new items scored from their photos, and what is saved.

:class:`~recsys.models.hybrid.HybridRecommender` adds the training to it.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.models import cold_start, newness
from recsys.models.base import Recommender


class HybridScorer(Recommender):
    """A trained hybrid, scoring with one matrix product (layout: :func:`cold_start.with_profiles`)."""

    saved_arrays = ("warm_items_", "image_mean_", "image_std_", "prior_coef_")
    saved_json = ("prior_intercept_", "image_weight_", "profile_weight_", "warm_profile_weight_", "newness_shift_",
                  "newness_scale_", "newness_share_", "image_scale_", "image_shift_", "prior_alpha_", "best_epochs_",
                  "history_")

    def _prior(self, features):
        if not self.use_images:
            return np.zeros(len(features), np.float32)
        return (np.asarray(features, np.float32) @ self.prior_coef_ + self.prior_intercept_).astype(np.float32)

    def _standardise(self, f):
        return cold_start.standardise(f, self.image_mean_, self.image_std_)

    def _vectors(self, net, features, prior, users, items, id_mask, image_weight=1.0):
        """User and item vectors; items with ``id_mask`` 0 get ``image_weight`` x the
        image tower plus the image prior as their bias."""
        u = np.asarray(net.user_vectors(users.astype(np.int32)))
        v = np.array(net.item_vectors(items.astype(np.int32), features[items], id_mask.astype(np.float32)))
        cold = 1.0 - id_mask
        v *= (id_mask + cold * image_weight)[:, None]
        v[:, -1] += cold * prior[items]
        return u, v

    def _export(self, features, raw, user_items):
        """Freeze the learned state into plain arrays: scoring is then one matrix product
        (layout: :func:`cold_start.with_profiles`)."""
        net = self.net_
        all_items = np.arange(len(self.item_ids_))
        prior = self._prior(raw if raw is not None else features)
        users = np.arange(len(self.user_ids_))
        # without ID factors every item, warm or not, is scored from its image (prior included)
        id_mask = self.warm_items_ if self.use_ids else np.zeros(len(all_items), bool)
        self.user_vectors_, self.item_vectors_ = self._vectors(
            net, features, prior, users, all_items, id_mask.astype(np.float32), self.image_weight_)
        self.image_scale_, self.image_shift_ = 1.0, 0.0
        self.tower_ = ([np.asarray(w) for w in net.image_hidden_layer.get_weights() + net.image_out.get_weights()]
                       if self.use_images else [])
        if not (self.use_ids and self.use_images):
            return
        _, image_only = self._vectors(net, features, prior, users[:0], all_items,
                                      np.zeros(len(all_items), np.float32), self.image_weight_)
        self.image_scale_, self.image_shift_ = cold_start.calibration(
            self.user_vectors_, self.item_vectors_, image_only, self.warm_items_, self.seed)
        image_only = cold_start.rescale(image_only, self.image_scale_, self.image_shift_)
        space = self.space_.embed(raw, cold_start.has_image(raw))
        self.user_vectors_, self.item_vectors_ = cold_start.with_profiles(
            self.user_vectors_, self.item_vectors_, image_only, self.warm_items_, space, user_items,
            self.profile_weight_, self.warm_profile_weight_, self.seed)
        # the catalog's photos scored as new items' are: the newness stretch's reference where few are new
        rows = np.random.default_rng(self.seed).permutation(np.flatnonzero(cold_start.has_image(raw)))[:2000]
        new_like = cold_start.cold_item_vectors(image_only[rows], space[rows], self.profile_weight_)
        self._solve_newness_shift()
        self.user_vectors_, self.item_vectors_, self.newness_scale_ = newness.with_shift(
            self.user_vectors_, self.item_vectors_, self.warm_items_, self.newness_shift_,
            None if self.newness_share_ is None else self.newness_scale_, new_like)
        keep = 1.0 - max(self.profile_weight_, 0.0)  # new items added later: scaled as with_profiles did
        self.image_scale_, self.image_shift_ = keep * self.image_scale_, keep * self.image_shift_

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
        vectors = self.image_item_vectors(np.asarray(features, np.float32)[[first[i] for i in new]])
        self.item_map_ = self.item_map_.extended(new)
        self.item_vectors_ = np.vstack([self.item_vectors_, vectors])
        self.warm_items_ = np.concatenate([self.warm_items_, np.zeros(len(new), bool)])
        self.seen_ = sp.csr_matrix(self.seen_, shape=(self.seen_.shape[0], len(self.item_map_)))
        return new

    # -- persistence: recsys.models.files ---------------------------------------
    @classmethod
    def state_array_names(cls) -> tuple[str, ...]:
        return super().state_array_names() + ("space_mean", "space_components") + tuple(f"tower_{k}" for k in range(4))

    def state_arrays(self) -> dict[str, np.ndarray]:
        return super().state_arrays() | {"space_mean": self.space_.mean, "space_components": self.space_.components,
                                         **{f"tower_{k}": w for k, w in enumerate(self.tower_)}}

    def restore_state(self, arrays: dict[str, np.ndarray], state: dict) -> None:
        # written before known items had a profile term, or before the newness column
        state = {"warm_profile_weight": 0.0, "newness_shift": None, "newness_scale": 1.0, "newness_share": None} | state
        super().restore_state(arrays, state)
        self.space_ = cold_start.ImageSpace(arrays["space_mean"], arrays["space_components"])
        self.tower_ = [arrays[f"tower_{k}"] for k in range(4) if f"tower_{k}" in arrays]
        if len(self.warm_items_) != len(self.item_map_):
            raise ValueError(f"warm_items has {len(self.warm_items_)} rows, expected {len(self.item_map_)}")
