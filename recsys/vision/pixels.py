"""Images to encoder input: Pillow decode, letterbox to a square, batched through tf.data.

Pillow (via :func:`recsys.data.load_rgb`) applies the same rules as dataset
validation: EXIF orientation, conversion to RGB, refusal of bad files. A bad
image never stops the stream: it yields a blank frame and a reason code.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

from recsys.data import images as data_images
from recsys.data.images import ImageError, load_rgb
from recsys.quiet import tf  # TensorFlow without its start-up lines

#: reason codes carried through tf.data (0 = fine); index -> reason text
REASONS = ("", data_images.NO_IMAGE, data_images.OUTSIDE, data_images.MISSING, data_images.EMPTY,
           data_images.TRUNCATED, data_images.CORRUPT, data_images.BOMB, data_images.NOT_REGULAR,
           data_images.TOO_LARGE, data_images.UNREADABLE)
WHITE = (255, 255, 255)


def letterbox(img: Image.Image, size: int) -> np.ndarray:
    """Fit inside ``size x size`` keeping the aspect ratio, centred, padded white -> uint8 (S, S, 3)."""
    return np.asarray(ImageOps.pad(img, (size, size), method=Image.Resampling.BILINEAR, color=WHITE),
                      dtype=np.uint8)


def load_pixels(path, size: int, max_pixels: int = data_images.DEFAULT_MAX_PIXELS) -> np.ndarray:
    """One image file -> uint8 (S, S, 3). Raises :class:`ImageError`."""
    img, _ = load_rgb(path, max_pixels=max_pixels, draft=(size, size))
    return letterbox(img, size)


def image_batches(paths: list, size: int, batch_size: int = 64,
                  max_pixels: int = data_images.DEFAULT_MAX_PIXELS) -> tf.data.Dataset:
    """A ``tf.data.Dataset`` of ``(pixels uint8 (B, S, S, 3), reason int32 (B,))``.

    ``paths`` are resolved file paths, or ``ImageError`` instances for items
    whose path was already refused (they come out blank with that reason).
    Each batch is decoded by one call into Python; several batches decode in
    parallel threads (Pillow releases the GIL) and are prefetched while the
    model works on the previous batch.
    """
    blank = np.full((size, size, 3), 255, dtype=np.uint8)

    def load_one(entry):
        if isinstance(entry, ImageError):
            return blank, REASONS.index(entry.reason)
        try:
            return load_pixels(entry, size, max_pixels), 0
        except ImageError as err:
            return blank, REASONS.index(err.reason)

    def load_batch(first, last):
        # whole batches per call: one Python round trip per batch, not per image
        loaded = [load_one(paths[i]) for i in range(int(first), int(last))]
        return np.stack([p for p, _ in loaded]), np.array([r for _, r in loaded], dtype=np.int32)

    def tf_load(first):
        last = tf.minimum(first + batch_size, len(paths))
        pixels, reasons = tf.numpy_function(load_batch, [first, last], [tf.uint8, tf.int32], stateful=False)
        pixels.set_shape((None, size, size, 3))
        reasons.set_shape((None,))
        return pixels, reasons

    ds = tf.data.Dataset.range(0, len(paths), batch_size)
    ds = ds.map(tf_load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)
