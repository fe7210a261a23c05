"""What defines an image encoder: its name, input size, weights and head.

Kept free of TensorFlow so command-line parsing and config files can use it
without loading Keras.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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


#: what the commands and run configs use unless told otherwise: MobileNetV2 with ImageNet weights
DEFAULT_ENCODER = EncoderConfig(weights="imagenet")
