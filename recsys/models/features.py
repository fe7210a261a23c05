"""Image features for a model, aligned to its catalog by item id (Cornac's
``FeatureModality.build(id_map)`` does the same for side information)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys.idmap import IdMap


@dataclass
class ItemFeatures:
    """Image embeddings with their item ids and which items have a usable image.

    ``recsys.vision.EmbedResult`` has the same three fields and is accepted as is.
    """

    item_ids: np.ndarray
    vectors: np.ndarray
    has_image: np.ndarray


def align_features(features, dataset) -> np.ndarray | None:
    """Float32 ``(dataset.n_items, d)`` rows in the catalog's order.

    Features with ``item_ids`` are aligned by id: an item they lack, or whose
    ``has_image`` is False, gets a zero row (the models' "no image"). A plain
    array must already follow ``dataset.item_ids``.
    """
    if features is None:
        return None
    if all(hasattr(features, name) for name in ("item_ids", "vectors", "has_image")):
        vectors = np.asarray(features.vectors, np.float32)
        rows = IdMap(features.item_ids, "item").rows(dataset.item_ids, missing="-1")
        usable = rows >= 0
        usable[usable] = np.asarray(features.has_image, bool)[rows[usable]]
        out = np.zeros((dataset.n_items, vectors.shape[1]), np.float32)
        out[usable] = vectors[rows[usable]]
        return out
    features = np.asarray(features, np.float32)
    if features.ndim != 2 or features.shape[0] != dataset.n_items:
        raise ValueError(f"`item_features` must have one row per catalog item ({dataset.n_items}), "
                         f"got shape {features.shape}; pass ItemFeatures(item_ids, vectors, has_image) "
                         "to align them by id")
    return features
