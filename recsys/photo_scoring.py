"""Scoring new items from their photos, in one place: ``score-new-items`` (:mod:`recsys.batch`),
the explorer's pages and uploads, and the served model all call it. Uploaded photos are
decoded and embedded in memory, never written to a file."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from recsys.data.images import ImageError, decode_rgb
from recsys.scoring import DEFAULT_CHUNK, ranked_frame, top_k


def score_vectors(model, vectors: np.ndarray, item_ids=None) -> np.ndarray:
    """Every user's score of new items given their image embeddings: float (n_users, n_items).

    ``item_ids``: an id the model already knows keeps its learned vector (as ``recommend
    --candidates`` and ``add_items`` do), not one re-made from its photo."""
    item_vectors = model.image_item_vectors(vectors)
    if item_ids is not None:
        rows = model.item_map_.rows(np.asarray(item_ids, dtype=str), missing="-1")
        item_vectors[rows >= 0] = model.item_vectors_[rows[rows >= 0]]
    return model.user_vectors_ @ item_vectors.T


def score_images(bundle, items: pd.DataFrame, root, shown: pd.DataFrame | None = None):
    """Embed new items' photo files and score them for every user (``shown``: the items as
    messages name them, when ``items`` holds other paths).

    Returns ``(embed result, ids of the usable items, scores float (n_users, n_usable))``.
    """
    result = bundle.embed_items(items, root)
    ok = result.has_image
    if not ok.any():
        named = skipped_text(result.skipped_items, items if shown is None else shown)
        raise ValueError(f"no usable image among the new items: {named or result.summary()}")
    return result, result.item_ids[ok], score_vectors(bundle.model, result.vectors[ok], result.item_ids[ok])


def decode_photo(data: bytes, encoder, name: str, max_pixels: int):
    """An uploaded photo decoded in memory (at least the encoder's size; JPEGs are drafted
    down to it): ``(RGB image, the encoder's input pixels uint8 (S, S, 3))``. Raises ``ImageError``."""
    from recsys.vision.pixels import letterbox  # (loads TensorFlow: not when a job only parses its arguments)

    image, _ = decode_rgb(data, name, max_pixels, draft=(encoder.image_size, encoder.image_size))
    return image, letterbox(image, encoder.image_size)


def embed_photos(encoder, photos: list[bytes], names: list[str], max_pixels: int):
    """Embed uploaded photos in one batch. Returns ``(vectors float32 (n_ok, dim), indices of
    the usable photos, [(index, reason)] of the others)``."""
    pixels, usable, refused = [], [], []
    for n, (data, name) in enumerate(zip(photos, names)):
        try:
            pixels.append(decode_photo(data, encoder, name, max_pixels)[1])
            usable.append(n)
        except ImageError as exc:
            refused.append((n, exc.reason))
    if not pixels:
        return np.zeros((0, encoder.dim), np.float32), np.zeros(0, int), refused
    return np.asarray(encoder.infer(np.stack(pixels))), np.asarray(usable), refused


def skipped_text(skipped: list[tuple[str, str]], items: pd.DataFrame, limit: int = 5) -> str:
    """The first ``limit`` of ``skipped`` (``(item id, reason)``), each with its item's path, on one line."""
    paths = dict(zip(items["item_id"].astype(str), items["image_path"]))
    named = [f"item {i!r} ({paths.get(i)}): {reason}" for i, reason in skipped[:limit]]
    more = len(skipped) - limit
    return "; ".join(named) + (f"; and {more} more" if more > 0 else "")


def item_top_users(model, item_ids, scores: np.ndarray, n: int, partition: np.ndarray | None = None) -> pd.DataFrame:
    """Each new item's top-``n`` users (``item_id, rank, user_id, score``).

    Users are compared on log p(item | user): the score minus the user's
    log-partition over the catalog, so users with large vectors (heavy users)
    do not top every item's list. ``partition``: :func:`log_partition` computed
    once by a caller that ranks many items (default: computed here).
    """
    if partition is None:
        partition = log_partition(model.user_vectors_, model.item_vectors_)
    return ranked_frame(item_ids, "item_id", model.user_ids_, "user_id", *top_k((scores - partition[:, None]).T, n))


def log_partition(user_vectors: np.ndarray, item_vectors: np.ndarray, chunk: int = DEFAULT_CHUNK) -> np.ndarray:
    """Each user's ``log sum_i exp(u . v_i)`` over the catalog, ``chunk`` users at a
    time, so memory stays at ``chunk x n_items`` scores however many users there are."""
    item_t = np.asarray(item_vectors, np.float32).T
    out = np.empty(len(user_vectors), np.float32)
    for start in range(0, len(user_vectors), chunk):
        out[start:start + chunk] = logsumexp(np.asarray(user_vectors[start:start + chunk], np.float32) @ item_t, axis=1)
    return out
