"""Model selection for the hybrid, apart from its fit: :func:`select_settings` holds back
a validation split drawn from the training data as the final model will meet the future,
makes every validated choice on it and returns them as :class:`HybridSettings`, which
``HybridRecommender.fit(..., settings=)`` then trains with in one plain pass (as
scikit-learn's searches and Cornac's ``val_set`` keep selection outside the model's fit).

Each user's latest ``validation_share`` of positives checks the ID phase; a
``validation_share`` of items drawn like real cold items (first seen last), removed from
training here, checks the image phase, the taste profile and the newness shift.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field

import numpy as np

from recsys.evaluation.holdouts import before_held, first_seen, latest_items, random_holdout, temporal_holdout
from recsys.evaluation.metrics import ndcg_of_factors, ranking_metrics
from recsys.models import cold_start, fold_in, newness
from recsys.models.base import align_features
from recsys.models.hybrid_net import TrainingState
from recsys.scoring import top_k

#: ridge strengths tried for the image popularity prior
PRIOR_ALPHAS = (1e1, 1e2, 1e3, 1e4)
DEFAULT_PRIOR_ALPHA = 1e3


@dataclass
class HybridSettings:
    """What validation chooses for a hybrid; :meth:`defaults` is a fit without validation.

    ``best_epochs``: epochs per phase (``ids``, ``images``, ``taste``); ``history``: what
    each choice scored on validation (logged to MLflow with the model)."""

    best_epochs: dict
    prior_alpha: float = DEFAULT_PRIOR_ALPHA
    image_weight: float = 1.0
    profile_weight: float = 0.0
    warm_profile_weight: float = 0.0
    newness_shift: float | None = None
    newness_scale: float = 1.0
    newness_share: float | None = None
    fold_in_strength: float = fold_in.DEFAULT_STRENGTH
    history: list = field(default_factory=list)

    @classmethod
    def defaults(cls, model) -> "HybridSettings":
        return cls({"ids": model.epochs, "images": model.epochs, "taste": model.taste_epochs},
                   newness_shift=0.0 if model.use_images and model.use_ids else None)

    def apply(self, model) -> None:
        """Set them on ``model`` as its fitted attributes (``prior_alpha_`` ...)."""
        for name, value in asdict(self).items():
            setattr(model, f"{name}_", copy.deepcopy(value))

    @classmethod
    def of(cls, model) -> "HybridSettings":
        return cls(**{name: getattr(model, f"{name}_") for name in cls.__dataclass_fields__})


@dataclass
class ValidationSplit:
    """The training data split as :func:`select_settings` validates on it."""

    pseudo_cold: np.ndarray  # items held out as arrivals
    held: np.ndarray  # bool per positive: a user's latest ones
    is_cold: np.ndarray  # bool per positive: on a pseudo-cold item

    @classmethod
    def of(cls, dataset, positives, share: float, seed: int) -> "ValidationSplit":
        # drawn like real cold items: among all interacted items, liked or not, those first seen last
        interacted = np.unique(dataset.interactions["item_idx"].to_numpy())
        pseudo_cold = latest_items(first_seen(dataset), interacted, share, seed)
        held = (temporal_holdout(positives, share, min_interactions=5)
                if "timestamp" in positives else random_holdout(positives, share, seed))
        return cls(pseudo_cold, held, positives["item_idx"].isin(pseudo_cold).to_numpy())


def select_settings(model, dataset, item_features=None, progress: bool = False,
                    split: ValidationSplit | None = None) -> HybridSettings:
    """Every validated choice of ``model`` (a ``HybridRecommender``, left as it is) on ``dataset``:
    the prior's strength, each phase's epochs, the fold-in strength, the tower switch, the
    taste head's epochs, the profile weights and the newness shift. ``split``: the validation
    split (default :meth:`ValidationSplit.of` with the model's ``validation_share`` and seed).
    With ``validation_share`` 0 and no ``split``, nothing is validated: :meth:`HybridSettings.defaults`."""
    if split is None and model.validation_share <= 0:
        return HybridSettings.defaults(model)
    probe = copy.copy(model)  # the choices are made on a scratch model
    probe.user_map_, probe.item_map_, probe._progress = dataset.user_map, dataset.item_map, progress
    item_features = align_features(item_features, dataset)
    probe._check_params(item_features)
    positives = dataset.positives()
    if positives.empty:
        raise ValueError("no positive interactions to learn from")
    HybridSettings.defaults(model).apply(probe)
    features = probe._standardise_fit(item_features, dataset.n_items)
    raw = None if item_features is None else np.asarray(item_features, np.float32)
    if split is None:
        split = ValidationSplit.of(dataset, positives, model.validation_share, model.seed)
    train = positives[~split.held & ~split.is_cold]
    checks = {"ids": positives[split.held & ~split.is_cold], "images": positives[split.is_cold]}
    prior_scores = _choose_prior_alpha(probe, raw, train, checks["images"], split.pseudo_cold)
    prior = probe._fit_prior(raw, train)
    state = TrainingState(probe._new_net(dataset, features), features, prior)
    best = {}
    for phase in probe._phases():
        best[phase] = probe._train_phase(state, phase, train, model.epochs, validation=checks[phase],
                                         cold_candidates=split.pseudo_cold)
        if phase == probe._phases()[0]:
            probe._choose_fold_in_strength(state, train, checks["ids"])
            probe._fold_users(state, train, probe.fold_in_strength_)
    if model.use_images and model.use_ids:
        # keep the tower's personal part only if it beats the prior alone on unseen items
        tower = max(r[f"val_ndcg_at_{model.eval_k}"] for r in probe.history_ if r["phase"] == "images")
        probe.image_weight_ = 1.0 if tower > prior_scores[probe.prior_alpha_] else 0.0
        best["taste"] = _choose_profiles(probe, state, raw, dataset, positives, split, train, checks)
    probe.best_epochs_ = {"ids": 0, "images": 0, "taste": 0} | best
    return HybridSettings.of(probe)


def _choose_prior_alpha(model, raw, train, validation, pseudo_cold) -> dict:
    """The image prior's strength, by how it ranks the held-out items; returns each one's NDCG."""
    if not model.use_images:
        return {}
    scores = {}
    for alpha in PRIOR_ALPHAS:
        model._fit_prior(raw, train, alpha)
        scores[alpha] = _prior_ndcg(model, raw, validation, pseudo_cold)
    model.prior_alpha_ = max(scores, key=scores.get)
    model.history_.append({"phase": "prior", "validation": True,
                           **{f"alpha_{a:g}_val_ndcg": v for a, v in scores.items()}})
    return scores


def _prior_ndcg(model, features, validation, candidates) -> float:
    users = model._validation_users(validation)
    top = top_k(model._prior(features[candidates])[None, :], model.eval_k)[0]  # one ranking for every user
    return ranking_metrics(np.repeat(top, len(users), axis=0), model._relevant(users, candidates, validation),
                           model.eval_k)["ndcg"]


def _choose_profiles(model, state, raw, dataset, positives, split, train, checks) -> int:
    """The taste head's epochs, then the profile weights and the newness shift; returns the epochs."""
    # the head trains on the training positives and stops on those of the pseudo-cold items
    space, epochs, history = model._fit_space(raw, dataset, positives[~split.held], model.taste_epochs,
                                              split.pseudo_cold)
    train_items = dataset.with_interactions(train).user_items()
    model.history_ += [{"phase": "taste", "validation": True, "untrained_val_ndcg": r["val_ndcg"]}
                       if r["epoch"] == 0 else {"phase": "taste", "validation": True, **r} for r in history]
    embedded = space.embed(raw, cold_start.has_image(raw))  # the items in the taste space, once for all
    _choose_profile_weight(model, state, embedded, train_items, checks["images"], split.pseudo_cold)
    # known items' held-out positives are often bought with training ones, the same day: their
    # profiles stop before, as profiles at a cutoff do (with them, H&M chose a weight that lost)
    earlier_items = dataset.with_interactions(before_held(train, checks["ids"])).user_items()
    _choose_warm_profile_weight(model, state, embedded, earlier_items, train_items, checks["ids"])
    # the nightly job's ranking: the held-out future of known and pseudo-new items together
    future = positives[split.held | split.is_cold]
    earlier_items = dataset.with_interactions(before_held(train, future)).user_items()
    _choose_newness_shift(model, state, embedded, earlier_items, train_items, future, split.pseudo_cold)
    return epochs


def _choose_profile_weight(model, state, embedded, train_items, validation, candidates):
    """The weight of the users' taste profiles against the tower and prior on new
    items (``embedded``: every item in the taste space): the one that ranks the held-out items best."""
    users = model._validation_users(validation)
    if len(users) == 0:
        return
    u, v = model._vectors(state, users, candidates, np.zeros(len(candidates), np.float32), model.image_weight_)
    profile = cold_start.profiles(embedded, train_items[users])
    relevant = model._relevant(users, candidates, validation)
    ndcg = {w: ndcg_of_factors(*cold_start.blend_vectors(u, v, profile, embedded[candidates], w), relevant,
                               model.eval_k) for w in cold_start.PROFILE_WEIGHTS}
    model.profile_weight_ = max(ndcg, key=ndcg.get)
    model.history_.append({"phase": "profile", "validation": True,
                           **{f"weight_{w:g}_val_ndcg": v for w, v in ndcg.items()}})


def _choose_warm_profile_weight(model, state, embedded, profile_items, train_items, validation):
    """How much of the profile term known items add to their ID score (a multiple of what
    new items get): the one that ranks the users' held-out positives of known items best,
    with profiles made of ``profile_items``."""
    users = model._validation_users(validation)
    if len(users) == 0 or model.profile_weight_ <= 0:
        return
    warm = np.asarray(train_items.sum(axis=0)).ravel() > 0
    candidates = np.flatnonzero(warm)
    relevant = model._relevant(users, candidates, validation)
    u, v, image_only = _export_parts(model, state, users, warm)
    ndcg = {}
    for weight in cold_start.WARM_PROFILE_WEIGHTS:  # scored as the export will score them
        user_vectors, item_vectors = cold_start.with_profiles(u, v, image_only, warm, embedded, profile_items[users],
                                                              model.profile_weight_, weight, model.seed)
        ndcg[weight] = ndcg_of_factors(user_vectors, item_vectors[candidates], relevant, model.eval_k,
                                       train_items[users], seen_columns=candidates)
    model.warm_profile_weight_ = max(ndcg, key=ndcg.get)
    model.history_.append({"phase": "warm_profile", "validation": True,
                           **{f"weight_{w:g}_val_ndcg": v for w, v in ndcg.items()}})


def _choose_newness_shift(model, state, embedded, profile_items, train_items, validation, pseudo_new):
    """The newness shift (:mod:`recsys.models.newness`): the validation users rank the whole
    catalog, as the nightly job does, against their held-out positives (known and pseudo-new
    items); the best NDCG among shifts that keep new items at most at their fair share."""
    users = model._validation_users(validation)
    if len(users) == 0:
        return
    warm = np.asarray(train_items.sum(axis=0)).ravel() > 0
    u, v = cold_start.with_profiles(*_export_parts(model, state, users, warm), warm, embedded, profile_items[users],
                                    model.profile_weight_, model.warm_profile_weight_, model.seed)
    # the catalog as it was then: known items and the arrivals (items no one touched yet come later)
    catalog = np.union1d(np.flatnonzero(warm), pseudo_new)
    v, warm = v[catalog], warm[catalog]
    model.newness_scale_ = newness.stretch(newness.moments(u, v, warm))
    relevant = model._relevant(users, catalog, validation)
    results = newness.shift_results(u, v, warm, relevant, train_items[users][:, catalog], model.eval_k,
                                    model.newness_scale_)
    fair_share = float(np.mean(~warm[relevant.indices])) if relevant.nnz else 0.0
    model.newness_shift_ = newness.choose_shift(results, fair_share)
    model.newness_share_ = results[model.newness_shift_][1]
    model.history_.append({"phase": "newness", "validation": True, "fair_share": fair_share,
                           "scale": model.newness_scale_,
                           **{f"shift_{s:g}_val_ndcg": r[0] for s, r in results.items()},
                           **{f"shift_{s:g}_val_new_share": r[1] for s, r in results.items()}})


def _export_parts(model, state, users, warm):
    """``(users' vectors, every item's with ``warm`` items known, image-only item vectors
    calibrated)``: what the export lays out with :func:`cold_start.with_profiles`."""
    items = np.arange(len(warm))
    u, v = model._vectors(state, users, items, warm.astype(np.float32), model.image_weight_)
    _, image_only = model._vectors(state, users[:0], items, np.zeros(len(items), np.float32), model.image_weight_)
    return u, v, cold_start.rescale(image_only, *cold_start.calibration(u, v, image_only, warm, model.seed))
