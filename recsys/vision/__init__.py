"""Product images to embeddings: encoders, the tf.data image pipeline, the embedding store.

Names are loaded on first use, so ``from recsys.vision import EncoderConfig``
does not load TensorFlow (command-line parsing and configs need only that).
"""

import importlib

_WHERE = {
    "EncoderConfig": "config", "ENCODERS": "config",
    "ImageEncoder": "encoders", "build_encoder": "encoders", "compact_cnn": "encoders",
    "EmbedResult": "embed", "embed_catalog": "embed", "embed_dataset": "embed", "embed_files": "embed",
    "SimilarItems": "similar",
}
__all__ = list(_WHERE)


def __getattr__(name):
    if name not in _WHERE:
        raise AttributeError(f"module 'recsys.vision' has no attribute {name!r}")
    return getattr(importlib.import_module(f"recsys.vision.{_WHERE[name]}"), name)
