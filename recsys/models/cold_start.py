"""Scoring new items: each user's taste profile in image space, blended with the
hybrid's image tower and prior, and calibrated against the warm items' scores.

A user's profile is the normalised mean image embedding of the items they
liked; a new item scores the cosine between its embedding and the profile
(content-kNN, the strongest simple peer on fashion). Raw CNN features
(ReLU outputs) all point the same way, so cosines are all near 1 and rank
poorly: the space starts from the top principal directions of the centred
features (fitted on the catalog's images; centring alone took a plain
content-kNN on H&M purchases from cold NDCG@20 0.019 to 0.031), and the CNN's
projection head is then trained on behaviour from there
(:mod:`recsys.models.taste_head`).

The hybrid blends this with its own image-only scores, by a weight chosen on
held-out validation items (see :func:`recsys.models.hybrid_selection.select_settings`).
Both sides are standardised per user before blending, so the weight means
the same on every dataset.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.scoring import unit_rows

#: size of the profile space, and of the principal directions its trained head starts from
PROFILE_DIM, TASTE_INPUT_DIM = 128, 256
#: blend weights of the profile tried on validation (0: the hybrid's tower and prior alone)
PROFILE_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 0.9)
#: multiples of that profile term that known items add to their ID score, tried on validation
#: (0: ID factors alone; where few interactions per item make ID factors noisy, the photo helps)
WARM_PROFILE_WEIGHTS = (0, 0.5, 1, 2, 4)


def has_image(features: np.ndarray) -> np.ndarray:
    """Rows with an image: an item without a usable photo has an all-zero embedding."""
    return np.abs(features).sum(axis=1) > 0


def standardiser(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and std over the items that have an image."""
    f = np.asarray(features, dtype=np.float32)
    has = has_image(f)
    ref = f[has] if has.any() else f
    return ref.mean(axis=0), ref.std(axis=0) + 1e-6


def standardise(features: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Items without an image (all-zero rows) sit at the mean: a neutral image vector."""
    f = np.asarray(features, dtype=np.float32)
    out = (f - mean) / std
    out[~has_image(f)] = 0.0
    return out


class ImageSpace:
    """Unit-length image embeddings ``unit((f - mean) @ components.T)``, zero for
    items without an image: the centred principal directions of the CNN
    features, or a head trained on behaviour from them (:func:`fit_space`)."""

    def __init__(self, mean: np.ndarray, components: np.ndarray):
        self.mean = np.asarray(mean, np.float32)
        self.components = np.asarray(components, np.float32)

    def embed(self, features: np.ndarray, has_image: np.ndarray) -> np.ndarray:
        out = unit_rows((np.asarray(features, np.float32) - self.mean) @ self.components.T)
        out[~np.asarray(has_image, bool)] = 0.0
        return out


def fit_space(features: np.ndarray, has_image: np.ndarray, user_items: sp.csr_matrix | None = None,
              epochs: int = 0, held: np.ndarray | None = None, seed: int = 0, progress: bool = False,
              times: sp.csr_matrix | None = None):
    """The profile space: PCA of the centred features (fitted on the catalog's images,
    no behaviour), then, with ``epochs``, a head trained on ``user_items`` from it
    (:func:`recsys.models.taste_head.train_taste_head`; ``held`` items stop it early, ``times``
    makes each profile out of earlier items).

    Returns ``(ImageSpace, best_epoch, history)``.
    """
    from sklearn.utils.extmath import randomized_svd

    f = np.asarray(features, np.float32)
    mean = f[has_image].mean(axis=0)
    rank = max(1, min(TASTE_INPUT_DIM, int(has_image.sum()) - 1, f.shape[1]))
    _, _, basis = randomized_svd(f[has_image] - mean, rank, random_state=seed)
    kernel = np.eye(rank, min(PROFILE_DIM, rank), dtype=np.float32)  # starts as the top PROFILE_DIM directions
    best, history = 0, []
    if epochs > 0 and user_items is not None:
        from recsys.models.taste_head import train_taste_head

        inputs = ((f - mean) @ basis.T).astype(np.float32)
        inputs[~has_image] = 0.0
        kernel, best, history = train_taste_head(inputs, kernel, user_items, epochs, held, seed=seed,
                                                 progress=progress, times=times)
    return ImageSpace(mean, kernel.T @ basis), best, history


def profiles(item_embeddings: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
    """Each user's profile: the normalised mean embedding of their items (zero with none)."""
    return unit_rows(np.asarray(user_items @ item_embeddings))


def item_moments(item_vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, covariance)`` of item vectors: all :func:`user_moments` needs of them."""
    items = np.asarray(item_vectors, np.float64)
    centred = items - items.mean(axis=0)
    return items.mean(axis=0), centred.T @ centred / max(len(items), 1)


def user_moments(user_vectors: np.ndarray, reference: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Each user's mean and standard deviation of their scores over the items that ``reference``
    (:func:`item_moments`) describes: no users x items matrix, whatever the sizes."""
    mean, covariance = reference
    users = np.asarray(user_vectors, np.float64)
    variance = ((users @ covariance) * users).sum(axis=1)  # through BLAS: einsum's loop is 30x slower
    return users @ mean, np.sqrt(np.maximum(variance, 0.0)) + 1e-9


def score_moments(user_vectors: np.ndarray, item_vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each user's mean and standard deviation of ``user_vectors @ item_vectors.T`` over the items."""
    return user_moments(user_vectors, item_moments(item_vectors))


def blend_vectors(user_vectors, item_vectors, profiles, item_embeddings, weight: float):
    """``(users, items)`` whose products rank each user's items as ``(1 - weight) z(u . v) + weight z(p . e)``,
    each score standardised over the items (per user): the per-user scales fold into the
    user vectors and the per-user shifts do not change a ranking."""
    _, hybrid_std = score_moments(user_vectors, item_vectors)
    _, profile_std = score_moments(profiles, item_embeddings)
    users = np.hstack([(1.0 - weight) * user_vectors / hybrid_std[:, None], weight * profiles / profile_std[:, None]])
    return users.astype(np.float32), np.hstack([item_vectors, item_embeddings]).astype(np.float32)


def profile_coefficients(hybrid_moments, profile_moments, weight: float):
    """Per-user ``(scale, offset)`` so that ``(1 - weight) * hybrid + scale * profile + offset``
    ranks as the standardised blend (:func:`blend_vectors`) does, with the hybrid's mean and
    at most its spread per user: new items share one ranking with warm ones instead of
    taking over its top and bottom. The moments are :func:`score_moments` of each side over
    a sample of image-only items."""
    (hybrid_mean, hybrid_std), (profile_mean, profile_std) = hybrid_moments, profile_moments
    if weight <= 0:
        return np.zeros(len(hybrid_mean), np.float32), np.zeros(len(hybrid_mean), np.float32)
    scale = weight * hybrid_std / profile_std
    offset = weight * hybrid_mean - scale * profile_mean
    return scale.astype(np.float32), offset.astype(np.float32)


def calibration(user_vectors, item_vectors, image_only, warm, seed=0, max_users: int = 500,
                max_items: int = 2000) -> tuple[float, float]:
    """``(a, b)`` of the least squares ``id_score ~ a * image_score + b`` over warm items
    (a sample of users and items), so new and known items can share one ranking.
    ``a`` stays positive, so new items keep their order; ``(1, 0)`` when image
    scores are constant."""
    rng = np.random.default_rng(seed)
    warm = np.flatnonzero(warm)
    warm = warm if len(warm) <= max_items else rng.choice(warm, max_items, replace=False)
    users = user_vectors[rng.permutation(len(user_vectors))[:max_users]]
    id_scores, image_scores = users @ item_vectors[warm].T, users @ image_only[warm].T
    if image_scores.std() == 0:
        return 1.0, 0.0
    a, b = np.polyfit(image_scores.ravel(), id_scores.ravel(), 1)
    return float(max(a, 1e-3)), float(b)


def rescale(item_vectors: np.ndarray, scale: float, shift: float) -> np.ndarray:
    """Image-only item vectors ``[v, bias]`` on the ID scale: ``a * v``, bias ``+ b``."""
    out = item_vectors * scale
    out[:, -1] += shift
    return out


def fit_prior(features: np.ndarray, positives_per_item: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """The image popularity prior: ridge regression of log(1 + positives) on raw
    image embeddings, over items with positives and an image; ``(coef, intercept)``.

    Its scale is that of softmax logits (log-probabilities), so it is the bias
    of an image-only item vector. Raw, not standardised, embeddings: standardising
    lifts the many near-constant feature dimensions to full weight, which made
    the fit much noisier on posters.
    """
    from sklearn.linear_model import Ridge

    features = np.asarray(features, np.float32)
    rows = (positives_per_item > 0) & has_image(features)
    ridge = Ridge(alpha=alpha).fit(features[rows], np.log1p(positives_per_item[rows]))
    return ridge.coef_.astype(np.float32), float(ridge.intercept_)


def cold_item_vectors(image_only, space, weight) -> np.ndarray:
    """Items as :func:`with_profiles` lays out those without interactions: ``[(1 - weight) * image_only, e_i, 1]``."""
    return np.hstack([(1.0 - max(weight, 0.0)) * image_only, space, np.ones((len(space), 1), np.float32)])


def profile_reference(image_only, space, seed=0, sample=2000) -> dict:
    """What :func:`profile_users` needs of the items: the moments (:func:`item_moments`) of a seeded
    sample of items with an image, scored from the image alone and in the profile ``space``."""
    rows = np.random.default_rng(seed).permutation(np.flatnonzero(has_image(space)))[:sample]
    return {"image": item_moments(image_only[rows]), "space": item_moments(space[rows])}


def profile_users(user_vectors, profile, reference: dict, weight) -> np.ndarray:
    """Users ``[u, s_u * profile_u, c_u]``, with ``(s_u, c_u)`` from :func:`profile_coefficients`
    over the items of ``reference`` (:func:`profile_reference`)."""
    scale, offset = profile_coefficients(user_moments(user_vectors, reference["image"]),
                                         user_moments(profile, reference["space"]), weight)
    return np.hstack([user_vectors, profile * scale[:, None], offset[:, None]]).astype(np.float32)


def profile_item_vectors(item_vectors, image_only, warm, space, weight, warm_weight=0.0) -> np.ndarray:
    """Items with the taste-profile block: warm ones ``[v, warm_weight * e_i, 0]``, the others
    ``[(1 - weight) * image_only, e_i, 1]`` (``e_i`` in the profile ``space``)."""
    cold = cold_item_vectors(image_only, space, weight)
    known = np.hstack([item_vectors, warm_weight * space, np.zeros((len(item_vectors), 1), np.float32)])
    return np.where(np.asarray(warm, bool)[:, None], known, cold).astype(np.float32)


def with_profiles(user_vectors, item_vectors, image_only, warm, space, user_items, weight, warm_weight=0.0,
                  seed=0, sample=2000):
    """Append the taste-profile block to exported vectors: users by :func:`profile_users` (over a
    sample of items, :func:`profile_reference`), items by :func:`profile_item_vectors`."""
    users = profile_users(user_vectors, profiles(space, user_items),
                          profile_reference(image_only, space, seed, sample), weight)
    return users, profile_item_vectors(item_vectors, image_only, warm, space, weight, warm_weight)
