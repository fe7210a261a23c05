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
import re
import zipfile
from dataclasses import asdict
from pathlib import Path

import numpy as np

from recsys import formats
from recsys.quiet import keras, tf  # TensorFlow without its start-up lines
from recsys.vision.config import BACKBONES, ENCODERS, RESIZE_POLICY, EncoderConfig  # noqa: F401


class WeightsUnavailable(ValueError):
    """ImageNet weights neither in Keras's cache nor downloadable (offline)."""


def missing_weights_message(config: EncoderConfig, exc: Exception) -> str:
    home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"
    named = re.search(r"/([\w.\-]+\.h5)", str(exc))  # Keras's message holds the URL of the file it wants
    wanted = named.group(1) if named else f"the ImageNet weights file of {BACKBONES[config.name][0]}"
    # "URL fetch failure on URL: None -- [Errno -2] Name or service not known": keep the cause
    reason = str(exc).strip().splitlines()[0].split(": ", 1)[-1].split(" -- ")[-1][:120]
    return (f"ImageNet weights for {config.name} at {config.image_size} px cannot be downloaded ({reason}). "
            f"Keras looks for {wanted} in {home} ($KERAS_HOME/models, default ~/.keras/models): put it there, "
            "or pass --weights FILE.h5 (encoder.weights in a config), or use --encoder compact_cnn")


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
    try:
        net = getattr(keras.applications, constructor)(**kwargs)
    except Exception as exc:  # Keras raises a bare Exception when the download fails
        if config.weights != "imagenet" or "fetch" not in str(exc).lower():
            raise
        raise WeightsUnavailable(missing_weights_message(config, exc)) from None
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

    def __init__(self, config: EncoderConfig = EncoderConfig(), model: keras.Model | None = None,
                 fingerprint: str | None = None):
        self.config = config
        self.model = model if model is not None else build_encoder(config)
        self._fingerprint = fingerprint  # known when loaded; else hashed on first use
        self._infer = None

    @property
    def infer(self):
        """The model as one compiled inference function, traced once per encoder (a
        server embedding one upload at a time would otherwise retrace at every call)."""
        if self._infer is None:
            model = self.model
            self._infer = tf.function(lambda x: model(tf.cast(x, tf.float32), training=False), reduce_retracing=True)
        return self._infer

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
        meta = formats.read_json(directory / "encoder.json", None, {"config", "fingerprint"})
        unknown = sorted(set(meta["config"]) - set(EncoderConfig.__dataclass_fields__))
        if unknown:
            raise formats.CorruptFile(f"{directory / 'encoder.json'}: unknown encoder setting(s) {unknown}")
        formats.open_regular(directory / "encoder.keras", formats.max_model_bytes()).close()  # a file, in bounds
        try:
            model = keras.models.load_model(directory / "encoder.keras", compile=False)
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise formats.CorruptFile(f"{directory / 'encoder.keras'}: cannot be loaded ({exc})") from None
        return cls(EncoderConfig(**meta["config"]), model, fingerprint=meta["fingerprint"])
