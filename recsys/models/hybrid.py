"""The hybrid recommender: collaborative factors plus image embeddings, one API.

Warm items are scored with their ID factors and their image; cold items
(no interactions, or added after training) with their image alone.
"""

from __future__ import annotations

import time

import keras
import numpy as np
import scipy.sparse as sp
import tensorflow as tf

from recsys.evaluation.metrics import ndcg_of_factors, ranking_metrics
from recsys.evaluation.splits import (
    before_held,
    first_seen,
    latest_items,
    random_holdout,
    temporal_holdout,
    validation_users,
)
from recsys.models import cold_start, fold_in, newness
from recsys.models.hybrid_fold_in import FoldInTraining
from recsys.models.hybrid_net import HybridNet, make_train_step
from recsys.models.hybrid_scorer import HybridScorer
from recsys.progress import epoch_bar
from recsys.scoring import top_k
from recsys.vision.taste import liked_times

LOSSES = ("softmax", "bpr")
#: ridge strengths tried for the image popularity prior
PRIOR_ALPHAS = (1e1, 1e2, 1e3, 1e4)
DEFAULT_PRIOR_ALPHA = 1e3


class HybridRecommender(FoldInTraining, HybridScorer):
    """Hybrid collaborative filtering with image-based cold start.

    Parameters
    ----------
    factors : int
        Size of user and item vectors.
    loss : {"softmax", "bpr"}
        ``softmax``: sampled softmax over in-batch negatives (with log-Q
        correction when ``logq``); ``bpr``: BPR with one uniform negative.
    epochs, batch_size, learning_rate, l2
        Optimisation (Adam). ``epochs`` is a ceiling: early stopping on a
        validation NDCG@``eval_k`` picks the epoch count.
    id_dropout : float
        DropoutNet: probability of dropping an item's ID part in training.
    use_ids, use_images : bool
        Both: the hybrid. ``use_images=False``: pure CF. ``use_ids=False``: pure content.
    validation_share : float
        Share held back to pick the epoch counts (each user's latest
        positives for the ID phase, a share of items for the image phase);
        the model is then retrained on everything for those epochs. 0 trains
        for ``epochs`` without checking.
    taste_epochs : int
        Ceiling for training the CNN's projection head on behaviour (the taste
        profile space of new items, :mod:`recsys.vision.taste`); 0 keeps it untrained.
    seed : int
        Makes a run repeatable.
    """

    name = "hybrid"

    def __init__(self, factors: int = 64, loss: str = "softmax", epochs: int = 40, batch_size: int = 512,
                 learning_rate: float = 2e-3, l2: float = 1e-6, id_dropout: float = 0.3, logq: bool = True,
                 use_ids: bool = True, use_images: bool = True, image_hidden: int = 256, image_dropout: float = 0.0,
                 validation_share: float = 0.2, patience: int = 3, eval_k: int = 20, taste_epochs: int = 20,
                 seed: int = 0):
        self.factors = factors
        self.loss = loss
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.l2 = l2
        self.id_dropout = id_dropout
        self.logq = logq
        self.use_ids = use_ids
        self.use_images = use_images
        self.image_hidden = image_hidden
        self.image_dropout = image_dropout
        self.validation_share = validation_share
        self.patience = patience
        self.eval_k = eval_k
        self.taste_epochs = taste_epochs
        self.seed = seed

    # -- fitting -----------------------------------------------------------------
    def _check_params(self, item_features):
        if self.loss not in LOSSES:
            raise ValueError(f"`loss` must be one of {LOSSES}, got {self.loss!r}")
        if self.factors < 1 or self.epochs < 1 or self.batch_size < 2:
            raise ValueError("`factors` and `epochs` must be >= 1 and `batch_size` >= 2, got "
                             f"{self.factors}, {self.epochs}, {self.batch_size}")
        if not 0 <= self.id_dropout < 1:
            raise ValueError(f"`id_dropout` must be in [0, 1), got {self.id_dropout}")
        if self.use_images and item_features is None:  # (their rows were checked by fit: align_features)
            raise ValueError("use_images=True needs `item_features` (image embeddings aligned with "
                             "dataset.item_ids); pass use_images=False for pure collaborative filtering")

    def _fit(self, dataset, item_features):
        self._check_params(item_features)
        positives = dataset.positives()
        if positives.empty:
            raise ValueError("no positive interactions to learn from")
        features = self._standardise_fit(item_features, dataset.n_items)
        raw = None if item_features is None else np.asarray(item_features, np.float32)
        self.history_ = []
        self.prior_alpha_, self.image_weight_, self.profile_weight_ = DEFAULT_PRIOR_ALPHA, 1.0, 0.0
        self.warm_profile_weight_ = 0.0
        self.newness_shift_, self.newness_scale_ = (0.0 if self.use_images and self.use_ids else None), 1.0
        self.newness_share_, self.fold_in_strength_ = None, fold_in.DEFAULT_STRENGTH
        epochs = {"ids": self.epochs, "images": self.epochs, "taste": self.taste_epochs}
        if self.validation_share > 0:
            epochs = self._select_epochs(dataset, positives, features, raw)
        self.best_epochs_ = epochs
        prior = self._fit_prior(raw, positives)
        liked = dataset.user_items()
        self.space_ = self._fit_space(raw, dataset, positives, epochs["taste"])[0]
        self.net_ = self._new_net(dataset, features)
        for phase in self._phases():
            self._train_phase(self.net_, phase, positives, features, prior, epochs[phase])
            if phase == self._phases()[0]:  # the phase that learns the users: they become fold-ins
                self.fold_items_, self.fold_in_ = self._fold_users(self.net_, features, prior, positives,
                                                                   self.fold_in_strength_)
        # Items with any training interaction keep their ID vector: one that only
        # ever got low ratings must not be scored as if it were new.
        self.warm_items_ = np.zeros(dataset.n_items, dtype=bool)
        self.warm_items_[dataset.interactions["item_idx"].to_numpy()] = True
        self._export(features, raw, liked)

    def _fit_prior(self, features, positives, alpha=None):
        """The image popularity prior (:func:`cold_start.fit_prior`), over items with
        interactions and an image; returns it for every item."""
        if not self.use_images:
            self.prior_coef_, self.prior_intercept_ = np.zeros(0, np.float32), 0.0
            return np.zeros(len(self.item_ids_), np.float32)
        counts = np.bincount(positives["item_idx"].to_numpy(), minlength=features.shape[0])
        self.prior_coef_, self.prior_intercept_ = cold_start.fit_prior(
            features, counts, self.prior_alpha_ if alpha is None else alpha)
        return self._prior(features)

    def _phases(self):
        """Phase "ids": user and ID factors (and, with DropoutNet, the image tower
        with them). Phase "images": the image tower against the learned users,
        picked by its ranking of held-out "pseudo-cold" items."""
        return [p for p, on in (("ids", self.use_ids), ("images", self.use_images)) if on]

    def _new_net(self, dataset, features):
        keras.utils.set_random_seed(self.seed)
        net = HybridNet(dataset.n_users, dataset.n_items, features.shape[1], factors=self.factors,
                        image_hidden=self.image_hidden, image_dropout=self.image_dropout, use_ids=self.use_ids,
                        use_images=self.use_images, l2=self.l2, seed=self.seed)
        zero = np.zeros(1, np.int32)
        net((zero, zero, features[:1], np.ones(1, np.float32)))  # build every layer's variables
        return net

    def _select_epochs(self, dataset, positives, features, raw) -> dict:
        """Early stopping on held-back data; returns the best epoch count per phase.

        Each user's latest ``validation_share`` of positives checks the ID phase;
        a ``validation_share`` of items drawn like real cold items, removed from
        training here, checks how well the image phase (and the taste-profile
        blend) ranks items it never saw.
        """
        # drawn like real cold items: among all interacted items, liked or not, those
        # first seen last where there are timestamps
        interacted = np.unique(dataset.interactions["item_idx"].to_numpy())
        pseudo_cold = latest_items(first_seen(dataset), interacted, self.validation_share, self.seed)
        is_cold = positives["item_idx"].isin(pseudo_cold).to_numpy()
        held = (temporal_holdout(positives, self.validation_share, min_interactions=5)
                if "timestamp" in positives else random_holdout(positives, self.validation_share, self.seed))
        train = positives[~held & ~is_cold]
        checks = {"ids": positives[held & ~is_cold], "images": positives[is_cold]}
        if self.use_images:  # the prior's strength, by how it ranks the held-out items
            scores = {}
            for alpha in PRIOR_ALPHAS:
                self._fit_prior(raw, train, alpha)
                scores[alpha] = self._validate_prior(raw, checks["images"], pseudo_cold)
            self.prior_alpha_ = max(scores, key=scores.get)
            self.history_.append({"phase": "prior", "validation": True,
                                  **{f"alpha_{a:g}_val_ndcg": v for a, v in scores.items()}})
        prior = self._fit_prior(raw, train)
        net = self._new_net(dataset, features)
        best = {}
        for phase in self._phases():
            best[phase] = self._train_phase(net, phase, train, features, prior, self.epochs,
                                            validation=checks[phase], cold_candidates=pseudo_cold)
            if phase == self._phases()[0]:
                self._choose_fold_in_strength(net, features, prior, train, checks["ids"])
                self._fold_users(net, features, prior, train, self.fold_in_strength_)
        if self.use_images and self.use_ids:
            # keep the tower's personal part only if it beats the prior alone on unseen items
            tower = max(r[f"val_ndcg_at_{self.eval_k}"] for r in self.history_ if r["phase"] == "images")
            self.image_weight_ = 1.0 if tower > scores[self.prior_alpha_] else 0.0
        if self.use_images and self.use_ids:
            # the head trains on the training positives and stops on those of the pseudo-cold items
            space, best["taste"], history = self._fit_space(raw, dataset, positives[~held], self.taste_epochs,
                                                            pseudo_cold)
            train_items = dataset.with_interactions(train).user_items()
            self.history_ += [{"phase": "taste", "validation": True, "untrained_val_ndcg": r["val_ndcg"]}
                              if r["epoch"] == 0 else {"phase": "taste", "validation": True, **r} for r in history]
            embedded = space.embed(raw, cold_start.has_image(raw))  # the items in the taste space, once for both
            self._choose_profile_weight(net, features, prior, embedded, train_items, checks["images"], pseudo_cold)
            # known items' held-out positives are often bought with training ones, the same day: their
            # profiles stop before, as profiles at a cutoff do (with them, H&M chose a weight that lost)
            earlier_items = dataset.with_interactions(before_held(train, checks["ids"])).user_items()
            self._choose_warm_profile_weight(net, features, prior, embedded, earlier_items, train_items, checks["ids"])
            # the nightly job's ranking: the held-out future of known and pseudo-new items together
            future = positives[held | is_cold]
            earlier_items = dataset.with_interactions(before_held(train, future)).user_items()
            self._choose_newness_shift(net, features, prior, embedded, earlier_items, train_items, future, pseudo_cold)
        return {"ids": 0, "images": 0, "taste": 0} | best

    def _fit_space(self, raw, dataset, positives, epochs, held=None):
        """The taste-profile space: the CNN's head trained on ``positives``, each profile made of
        earlier items where there are times (:func:`cold_start.fit_space`). Only the hybrid (ids
        and images) scores new items with it (:meth:`_export`)."""
        if not (self.use_images and self.use_ids):
            return cold_start.ImageSpace(np.zeros(0), np.zeros((0, 0))), 0, []
        times = liked_times(positives, (dataset.n_users, dataset.n_items))
        return cold_start.fit_space(raw, cold_start.has_image(raw), dataset.user_items(frame=positives), epochs, held,
                                    self.seed, self._progress, times)

    def _choose_profile_weight(self, net, features, prior, embedded, train_items, validation, candidates):
        """The weight of the users' taste profiles against the tower and prior on new
        items (``embedded``: every item in the taste space): the one that ranks the held-out items best."""
        users = self._validation_users(validation)
        if len(users) == 0:
            return
        u, v = self._vectors(net, features, prior, users, candidates, np.zeros(len(candidates), np.float32),
                             self.image_weight_)
        profile = cold_start.profiles(embedded, train_items[users])
        relevant = self._relevant(users, candidates, validation)
        ndcg = {w: ndcg_of_factors(*cold_start.blend_vectors(u, v, profile, embedded[candidates], w), relevant,
                                   self.eval_k) for w in cold_start.PROFILE_WEIGHTS}
        self.profile_weight_ = max(ndcg, key=ndcg.get)
        self.history_.append({"phase": "profile", "validation": True,
                              **{f"weight_{w:g}_val_ndcg": v for w, v in ndcg.items()}})

    def _choose_warm_profile_weight(self, net, features, prior, embedded, profile_items, train_items, validation):
        """How much of the profile term known items add to their ID score (a multiple of what
        new items get): the one that ranks the users' held-out positives of known items best,
        with profiles made of ``profile_items``."""
        users = self._validation_users(validation)
        if len(users) == 0 or self.profile_weight_ <= 0:
            return
        warm = np.asarray(train_items.sum(axis=0)).ravel() > 0
        candidates = np.flatnonzero(warm)
        relevant = self._relevant(users, candidates, validation)
        u, v, image_only = self._export_parts(net, features, prior, users, warm)
        ndcg = {}
        for weight in cold_start.WARM_PROFILE_WEIGHTS:  # scored as _export will score them
            user_vectors, item_vectors = cold_start.with_profiles(u, v, image_only, warm, embedded,
                                                                  profile_items[users], self.profile_weight_, weight,
                                                                  self.seed)
            ndcg[weight] = ndcg_of_factors(user_vectors, item_vectors[candidates], relevant, self.eval_k,
                                           train_items[users], seen_columns=candidates)
        self.warm_profile_weight_ = max(ndcg, key=ndcg.get)
        self.history_.append({"phase": "warm_profile", "validation": True,
                              **{f"weight_{w:g}_val_ndcg": v for w, v in ndcg.items()}})

    def _choose_newness_shift(self, net, features, prior, embedded, profile_items, train_items, validation,
                              pseudo_new):
        """The newness shift (:mod:`recsys.models.newness`): the validation users rank the whole
        catalog, as the nightly job does, against their held-out positives (known and pseudo-new
        items); the best NDCG among shifts that keep new items at most at their fair share."""
        users = self._validation_users(validation)
        if len(users) == 0:
            return
        warm = np.asarray(train_items.sum(axis=0)).ravel() > 0
        u, v = cold_start.with_profiles(*self._export_parts(net, features, prior, users, warm), warm, embedded,
                                        profile_items[users], self.profile_weight_, self.warm_profile_weight_,
                                        self.seed)
        # the catalog as it was then: known items and the arrivals (items no one touched yet come later)
        catalog = np.union1d(np.flatnonzero(warm), pseudo_new)
        v, warm = v[catalog], warm[catalog]
        self.newness_scale_ = newness.stretch(newness.moments(u, v, warm))
        relevant = self._relevant(users, catalog, validation)
        results = newness.shift_results(u, v, warm, relevant, train_items[users][:, catalog], self.eval_k,
                                        self.newness_scale_)
        fair_share = float(np.mean(~warm[relevant.indices])) if relevant.nnz else 0.0
        self.newness_shift_ = newness.choose_shift(results, fair_share)
        self.newness_share_ = results[self.newness_shift_][1]
        self.history_.append({"phase": "newness", "validation": True, "fair_share": fair_share,
                              "scale": self.newness_scale_,
                              **{f"shift_{s:g}_val_ndcg": r[0] for s, r in results.items()},
                              **{f"shift_{s:g}_val_new_share": r[1] for s, r in results.items()}})

    def _export_parts(self, net, features, prior, users, warm):
        """``(users' vectors, every item's with ``warm`` items known, image-only item vectors
        calibrated)``: what :meth:`_export` lays out with :func:`cold_start.with_profiles`."""
        items = np.arange(len(warm))
        u, v = self._vectors(net, features, prior, users, items, warm.astype(np.float32), self.image_weight_)
        _, image_only = self._vectors(net, features, prior, users[:0], items, np.zeros(len(items), np.float32),
                                      self.image_weight_)
        return u, v, cold_start.rescale(image_only, *cold_start.calibration(u, v, image_only, warm, self.seed))

    def _validate_prior(self, features, validation, candidates) -> float:
        users = self._validation_users(validation)
        top = top_k(self._prior(features[candidates])[None, :], self.eval_k)[0]  # one ranking for every user
        return ranking_metrics(np.repeat(top, len(users), axis=0), self._relevant(users, candidates, validation),
                               self.eval_k)["ndcg"]

    def _train_phase(self, net, phase, train, features, prior, epochs, validation=None, cold_candidates=None) -> int:
        """Train one phase; with ``validation``, stop early and keep the best weights.
        The image phase ranks ``cold_candidates`` (all held-out items, liked or not,
        as in the cold test). Returns the best epoch count."""
        rng = np.random.default_rng(self.seed + (phase == "images"))
        users = train["user_idx"].to_numpy().astype(np.int32)
        items = train["item_idx"].to_numpy().astype(np.int32)
        n_items = features.shape[0]
        warm = np.zeros(n_items, dtype=bool)
        warm[items] = True
        warm_items = np.flatnonzero(warm).astype(np.int32)
        if phase == "ids":
            variables = net.id_variables() + (net.image_variables() if self.id_dropout > 0 else [])
            drop = self.id_dropout
        else:  # the users stay as the ID phase learned them, unless there are no IDs
            variables = net.image_variables() + ([] if self.use_ids else net.user_factors.trainable_variables)
            drop = 1.0
        log_q = np.log(np.bincount(items, minlength=n_items) / len(items) + 1e-12).astype(np.float32)
        step = make_train_step(net, self.learning_rate, variables,
                               tf.constant(features), tf.constant(log_q), tf.constant(prior), self.loss, self.logq)
        check = None
        if validation is not None:
            seen = sp.csr_matrix((np.ones(len(users), np.float32), (users, items)), shape=(net.n_users, n_items))
            candidates = np.sort(cold_candidates) if phase == "images" else warm_items
            check = (validation[np.isin(validation["item_idx"].to_numpy(), candidates)], candidates,
                     seen if phase == "ids" else None, 1.0 if phase == "ids" else 0.0)
        best, best_epoch, best_weights, stale = -1.0, epochs, None, 0
        bar = epoch_bar(f"{'selecting' if check else 'training'} {phase}", epochs, self._progress)
        for epoch in range(1, epochs + 1):
            started = time.perf_counter()
            order = rng.permutation(len(users))
            losses = []
            for start in range(0, len(order), self.batch_size):
                b = order[start:start + self.batch_size]
                if len(b) < 2:
                    continue
                keep = (rng.random(len(b)) >= drop).astype(np.float32)
                negatives = warm_items[rng.integers(0, len(warm_items), len(b))]
                losses.append(float(step(users[b], items[b], keep, negatives)))
            record = {"phase": phase, "epoch": epoch, "loss": float(np.mean(losses)),
                      "seconds": time.perf_counter() - started, "validation": check is not None}
            if check is not None:
                score = self._validate(net, features, prior, *check)
                record[f"val_ndcg_at_{self.eval_k}"] = score
                if score > best:
                    best, best_epoch, best_weights, stale = score, epoch, net.get_weights(), 0
                else:
                    stale += 1
            self.history_.append(record)
            bar.set_postfix(loss=f"{record['loss']:.3f}", **({"val_ndcg": f"{record[f'val_ndcg_at_{self.eval_k}']:.4f}"}
                                                            if check else {}))
            bar.update()
            if check is not None and stale >= self.patience:
                break
        bar.close()
        if best_weights is not None:
            net.set_weights(best_weights)
        return best_epoch

    def _validate(self, net, features, prior, validation, candidates, seen, id_mask) -> float:
        users = self._validation_users(validation)
        if len(users) == 0:
            return 0.0
        u, v = self._vectors(net, features, prior, users, candidates, np.full(len(candidates), id_mask, np.float32))
        return ndcg_of_factors(u, v, self._relevant(users, candidates, validation), self.eval_k,
                               None if seen is None else seen[users], seen_columns=candidates)

    def _validation_users(self, validation) -> np.ndarray:
        return validation_users(validation["user_idx"].to_numpy(), self.seed)

    def _relevant(self, users, candidates, validation) -> sp.csr_matrix:
        """The held-out positives of ``users`` (sorted) as a users x candidates matrix."""
        col = np.full(len(self.item_ids_), -1)
        col[candidates] = np.arange(len(candidates))
        user_idx, item_idx = validation["user_idx"].to_numpy(), validation["item_idx"].to_numpy()
        keep = np.isin(user_idx, users) & (col[item_idx] >= 0)
        return sp.csr_matrix((np.ones(keep.sum()), (np.searchsorted(users, user_idx[keep]), col[item_idx[keep]])),
                             shape=(len(users), len(candidates)))

    def _standardise_fit(self, item_features, n_items):
        if not self.use_images:
            self.image_mean_ = self.image_std_ = np.zeros(0, np.float32)
            return np.zeros((n_items, 1), np.float32)
        self.image_mean_, self.image_std_ = cold_start.standardiser(item_features)
        return self._standardise(item_features)
