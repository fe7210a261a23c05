"""Teaching the encoder behaviour: regress collaborative item factors from images
(van den Oord et al. 2013), so an image embedding says who will like the item.

CPU-friendly: the trunk (CNN) runs once per image to cache its features; only
the projection head is trained on them. The head is the encoder's own
``projection`` layer, so the encoder is updated in place and saved as usual.
"""

from __future__ import annotations

import keras
import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import svds

from recsys.vision.encoders import ImageEncoder


def collaborative_item_factors(user_items: sp.csr_matrix, dim: int = 32, seed: int = 0) -> np.ndarray:
    """Item factors from a truncated SVD of the (users x items) matrix, scaled by
    sqrt of the singular values. Columns are normalised by sqrt(item count) first,
    so popular items do not dominate the directions."""
    x = sp.csr_matrix(user_items, dtype=np.float64)
    counts = np.asarray(x.sum(axis=0)).ravel()
    x = x @ sp.diags(1.0 / np.sqrt(np.maximum(counts, 1.0)))
    k = max(1, min(dim, min(x.shape) - 1))
    _, s, vt = svds(x, k=k, random_state=seed)
    order = np.argsort(-s)
    return (vt[order].T * np.sqrt(s[order])).astype(np.float32)


def trunk_features(encoder: ImageEncoder, pixels: np.ndarray, batch_size: int = 128) -> np.ndarray:
    """Outputs of the encoder's trunk (everything before the projection head)."""
    trunk = encoder.model.get_layer(encoder.config.name)
    return np.asarray(trunk.predict(np.asarray(pixels, np.float32), batch_size=batch_size, verbose=0), np.float32)


def fit_head_to_factors(encoder: ImageEncoder, features: np.ndarray, factors: np.ndarray,
                        sample_weight: np.ndarray | None = None, epochs: int = 60, batch_size: int = 256,
                        learning_rate: float = 3e-3, seed: int = 0) -> dict:
    """Train the encoder's projection head so ``normalise(head(features)) ~ normalise(factors)``.

    Cosine loss: only the direction of an item's factor carries taste; its
    length mostly reflects popularity. Returns the Keras history dict.
    """
    if encoder.config.embedding_dim is None:
        raise ValueError("the encoder has no projection head: build it with `embedding_dim` set")
    if encoder.config.embedding_dim != factors.shape[1]:
        raise ValueError(f"`factors` must have {encoder.config.embedding_dim} columns (the encoder's "
                         f"embedding_dim), got {factors.shape[1]}")
    if len(features) != len(factors):
        raise ValueError(f"`features` and `factors` must have the same rows, got {len(features)} and {len(factors)}")
    keras.utils.set_random_seed(seed)
    head = encoder.model.get_layer("projection")
    inputs = keras.Input((features.shape[1],))
    outputs = keras.layers.UnitNormalization()(head(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=keras.losses.CosineSimilarity())
    targets = factors / np.maximum(np.linalg.norm(factors, axis=1, keepdims=True), 1e-12)
    history = model.fit(features, targets, sample_weight=sample_weight, epochs=epochs, batch_size=batch_size,
                        shuffle=True, verbose=0)
    encoder.invalidate()
    return history.history
