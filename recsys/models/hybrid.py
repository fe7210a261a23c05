"""The hybrid recommender: collaborative factors plus image embeddings, one API.

Warm items are scored with their ID factors and their image; cold items
(no interactions, or added after training) with their image alone.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.evaluation.holdouts import validation_users
from recsys.evaluation.metrics import ndcg_of_factors
from recsys.models import cold_start
from recsys.models.hybrid_fold_in import FoldInTraining
from recsys.models.hybrid_net import HybridNet, TrainingState, make_train_step
from recsys.models.hybrid_scorer import HybridScorer
from recsys.models.hybrid_selection import HybridSettings, select_settings
from recsys.models.taste_head import liked_times
from recsys.models.training import train_epochs
from recsys.quiet import keras, tf  # TensorFlow without its start-up lines

LOSSES = ("softmax", "bpr")


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
        Share held back by :func:`~recsys.models.hybrid_selection.select_settings`
        to choose the epoch counts and the other settings (each user's latest
        positives for the ID phase, a share of items for the image phase); the
        model is then fitted on everything with them. 0 trains for ``epochs``
        without checking.
    taste_epochs : int
        Ceiling for training the CNN's projection head on behaviour (the taste
        profile space of new items, :mod:`recsys.models.taste_head`); 0 keeps it untrained.
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

    def fit(self, dataset, item_features=None, progress: bool = False, settings: HybridSettings | None = None):
        """Learn from ``dataset`` (see :meth:`Recommender.fit`) in one pass with ``settings``
        (:func:`~recsys.models.hybrid_selection.select_settings`). Without them they are
        selected first on a validation split when ``validation_share`` > 0, else the defaults."""
        return super().fit(dataset, item_features, progress, settings=settings)

    def _fit(self, dataset, item_features, settings=None):
        self._check_params(item_features)
        positives = dataset.positives()
        if positives.empty:
            raise ValueError("no positive interactions to learn from")
        (settings or select_settings(self, dataset, item_features, self._progress)).apply(self)
        features = self._standardise_fit(item_features, dataset.n_items)
        raw = None if item_features is None else np.asarray(item_features, np.float32)
        prior = self._fit_prior(raw, positives)
        liked = dataset.user_items()
        self.space_ = self._fit_space(raw, dataset, positives, self.best_epochs_["taste"])[0]
        state = TrainingState(self._new_net(dataset, features), features, prior)
        for phase in self._phases():
            self._train_phase(state, phase, positives, self.best_epochs_[phase])
            if phase == self._phases()[0]:  # the phase that learns the users: they become fold-ins
                self.fold_items_, self.fold_in_ = self._fold_users(state, positives, self.fold_in_strength_)
        # Items with any training interaction keep their ID vector: one that only
        # ever got low ratings must not be scored as if it were new.
        self.warm_items_ = np.zeros(dataset.n_items, dtype=bool)
        self.warm_items_[dataset.interactions["item_idx"].to_numpy()] = True
        self.net_ = state.net
        self._export(state, raw, liked)

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

    def _fit_space(self, raw, dataset, positives, epochs, held=None):
        """The taste-profile space: the CNN's head trained on ``positives``, each profile made of
        earlier items where there are times (:func:`cold_start.fit_space`). Only the hybrid (ids
        and images) scores new items with it (:meth:`_export`)."""
        if not (self.use_images and self.use_ids):
            return cold_start.ImageSpace(np.zeros(0), np.zeros((0, 0))), 0, []
        times = liked_times(positives, (dataset.n_users, dataset.n_items))
        return cold_start.fit_space(raw, cold_start.has_image(raw), dataset.user_items(frame=positives), epochs, held,
                                    self.seed, self._progress, times)

    def _train_phase(self, state, phase, train, epochs, validation=None, cold_candidates=None) -> int:
        """Train one phase; with ``validation``, stop early and keep the best weights.
        The image phase ranks ``cold_candidates`` (all held-out items, liked or not,
        as in the cold test). Returns the best epoch count."""
        net = state.net
        rng = np.random.default_rng(self.seed + (phase == "images"))
        users = train["user_idx"].to_numpy().astype(np.int32)
        items = train["item_idx"].to_numpy().astype(np.int32)
        n_items = state.features.shape[0]
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
        step = make_train_step(net, self.learning_rate, variables, tf.constant(state.features), tf.constant(log_q),
                               tf.constant(state.prior), self.loss, self.logq)

        def run_epoch():
            order, losses = rng.permutation(len(users)), []
            for start in range(0, len(order), self.batch_size):
                b = order[start:start + self.batch_size]
                if len(b) < 2:
                    continue
                keep = (rng.random(len(b)) >= drop).astype(np.float32)
                negatives = warm_items[rng.integers(0, len(warm_items), len(b))]
                losses.append(float(step(users[b], items[b], keep, negatives)))
            return float(np.mean(losses))

        validate = None
        if validation is not None:
            seen = sp.csr_matrix((np.ones(len(users), np.float32), (users, items)), shape=(net.n_users, n_items))
            candidates = np.sort(cold_candidates) if phase == "images" else warm_items
            checked = validation[np.isin(validation["item_idx"].to_numpy(), candidates)]
            # ids: known items, the user's training ones excluded; images: pseudo-cold items from their image alone
            excluded, id_mask = (seen, 1.0) if phase == "ids" else (None, 0.0)
            validate = lambda: self._validate(state, checked, candidates, excluded, id_mask)  # noqa: E731
        best, records = train_epochs(run_epoch, epochs, phase, self._progress, validate,
                                     (net.get_weights, net.set_weights), self.patience,
                                     score_name=f"val_ndcg_at_{self.eval_k}")
        self.history_ += [{"phase": phase, "validation": validate is not None, **r} for r in records]
        return best

    def _validate(self, state, validation, candidates, seen, id_mask) -> float:
        users = self._validation_users(validation)
        if len(users) == 0:
            return 0.0
        u, v = self._vectors(state, users, candidates, np.full(len(candidates), id_mask, np.float32))
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
