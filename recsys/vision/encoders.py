"""Image encoders: Keras 3 models from raw RGB pixels (0..255) to L2-normalised embeddings.

Each encoder carries its own preprocessing as layers, so a saved ``.keras``
file is all a batch job needs and no caller can feed the wrong scale:

- the compact CNN and MobileNetV2 rescale inside the model (to 0..1 and -1..1);
- MobileNetV3 and EfficientNetV2 include their own rescaling (they take 0..255).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np

#: backbone name -> (constructor name in keras.applications, takes raw 0..255 pixels)
BACKBONES = {
    "mobilenet_v2": ("MobileNetV2", False),
    "mobilenet_v3_small": ("MobileNetV3Small", True),
    "mobilenet_v3_large": ("MobileNetV3Large", True),
    "efficientnet_v2_b0": ("EfficientNetV2B0", True),
}
ENCODERS = ("compact_cnn", *BACKBONES)
#: how images are fitted to the square input: keep the aspect ratio and pad
#: with white (product photos sit on white; cropping could cut the product off)
RESIZE_POLICY = "pad-white"


@dataclass(frozen=True)
class EncoderConfig:
    """What defines an encoder; part of its fingerprint.

    Attributes
    ----------
    name : one of ``ENCODERS``
    image_size : side of the square input, pixels (>= 32)
    embedding_dim : output size; ``None`` keeps the pooled backbone features
    weights : ``"imagenet"`` (downloads), a local ``.h5`` path, or ``None`` (random init)
    alpha : width multiplier for MobileNets
    fine_tune_layers : backbone layers (from the top) left trainable
    seed : initialisation seed for the head and the compact CNN
    """

    name: str = "mobilenet_v2"
    image_size: int = 128
    embedding_dim: int | None = None
    weights: str | None = None
    alpha: float = 0.35
    fine_tune_layers: int = 0
    seed: int = 0

    def __post_init__(self):
        if self.name not in ENCODERS:
            raise ValueError(f"encoder `name` must be one of {ENCODERS}, got {self.name!r}")
        if self.image_size < 32:
            raise ValueError(f"`image_size` must be >= 32, got {self.image_size}")
        if self.embedding_dim is not None and self.embedding_dim < 1:
            raise ValueError(f"`embedding_dim` must be >= 1 or None, got {self.embedding_dim}")
        if self.name == "compact_cnn" and self.weights is not None:
            object.__setattr__(self, "weights", None)  # trained from scratch: there are no pretrained weights
        if self.weights not in (None, "imagenet") and not Path(self.weights).is_file():
            raise ValueError(f"encoder `weights` must be 'imagenet', None or an existing .h5 file, "
                             f"got {self.weights!r} (file not found)")


def compact_cnn(image_size: int = 64, filters=(32, 64, 128), dense: int = 128, seed: int = 0) -> keras.Model:
    """Convolution -> ReLU -> max-pool blocks, then fully connected layers.

    Each block: 3x3 convolution, stride 1, padding 1 ('same'), so
    W_out = (W - 3 + 2) / 1 + 1 = W; then a 2x2 max-pool with stride 2 halves
    it: W_out = (W - 2) / 2 + 1. Small enough to train from scratch on a CPU.
    """
    init = keras.initializers.HeNormal(seed=seed)
    inputs = keras.Input((image_size, image_size, 3), name="pixels")
    x = keras.layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    for i, f in enumerate(filters):
        x = keras.layers.Conv2D(f, 3, strides=1, padding="same", kernel_initializer=init, name=f"conv{i}")(x)
        x = keras.layers.ReLU(name=f"relu{i}")(x)
        x = keras.layers.MaxPooling2D(2, strides=2, name=f"pool{i}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dense(dense, activation="relu", kernel_initializer=init, name="fc")(x)
    return keras.Model(inputs, x, name="compact_cnn")


def backbone(config: EncoderConfig) -> keras.Model:
    """A ``keras.applications`` backbone, average-pooled, preprocessing included."""
    constructor, raw_pixels = BACKBONES[config.name]
    shape = (config.image_size, config.image_size, 3)
    kwargs = dict(include_top=False, weights=config.weights, input_shape=shape, pooling="avg")
    if config.name.startswith("mobilenet"):
        kwargs["alpha"] = config.alpha
    inputs = keras.Input(shape, name="pixels")
    x = inputs if raw_pixels else keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(inputs)
    net = getattr(keras.applications, constructor)(**kwargs)
    net.trainable = config.fine_tune_layers > 0
    if config.fine_tune_layers > 0:
        for layer in net.layers[:-config.fine_tune_layers]:
            layer.trainable = False
        for layer in net.layers:  # BatchNorm statistics stay frozen while fine-tuning
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False
    return keras.Model(inputs, net(x), name=config.name)


def build_encoder(config: EncoderConfig = EncoderConfig()) -> keras.Model:
    """Trunk (compact CNN or backbone) + optional projection head + L2 normalisation."""
    trunk = (compact_cnn(config.image_size, seed=config.seed) if config.name == "compact_cnn"
             else backbone(config))
    inputs = keras.Input((config.image_size, config.image_size, 3), name="pixels")
    x = trunk(inputs)
    if config.embedding_dim is not None:
        x = keras.layers.Dense(config.embedding_dim, use_bias=False, name="projection",
                               kernel_initializer=keras.initializers.Orthogonal(seed=config.seed))(x)
    x = keras.layers.UnitNormalization(name="l2_normalise")(x)
    return keras.Model(inputs, x, name=f"{config.name}_encoder")


class ImageEncoder:
    """A Keras encoder with its config and fingerprint; saved as ``.keras`` + JSON.

    The fingerprint hashes the weights and the preprocessing settings, so
    cached embeddings are reused only by an identical encoder.
    """

    def __init__(self, config: EncoderConfig = EncoderConfig(), model: keras.Model | None = None):
        self.config = config
        self.model = model if model is not None else build_encoder(config)
        self._fingerprint = None

    @property
    def image_size(self) -> int:
        return self.config.image_size

    @property
    def dim(self) -> int:
        return int(self.model.output_shape[-1])

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            h = hashlib.sha256()
            settings = asdict(self.config) | {"weights": None, "resize": RESIZE_POLICY}
            h.update(json.dumps(settings, sort_keys=True).encode())
            for w in self.model.weights:
                h.update(np.ascontiguousarray(keras.ops.convert_to_numpy(w)).tobytes())
            self._fingerprint = h.hexdigest()[:20]
        return self._fingerprint

    def invalidate(self) -> None:
        """Call after changing the weights (training) so the fingerprint follows."""
        self._fingerprint = None

    def encode(self, pixels: np.ndarray, batch_size: int = 128) -> np.ndarray:
        """Embeddings of in-memory images, ``uint8/float (n, S, S, 3)`` -> ``float32 (n, dim)``."""
        return np.asarray(self.model.predict(np.asarray(pixels, np.float32), batch_size=batch_size, verbose=0),
                          dtype=np.float32)

    def save(self, directory: str | os.PathLike) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save(directory / "encoder.keras")
        meta = {"config": asdict(self.config) | {"weights": None}, "fingerprint": self.fingerprint()}
        (directory / "encoder.json").write_text(json.dumps(meta, indent=2))
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "ImageEncoder":
        directory = Path(directory)
        meta = json.loads((directory / "encoder.json").read_text())
        model = keras.models.load_model(directory / "encoder.keras", compile=False)
        encoder = cls(EncoderConfig(**meta["config"]), model)
        encoder._fingerprint = meta["fingerprint"]
        return encoder
