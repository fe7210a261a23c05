"""TensorFlow loaded without its start-up chatter on stderr.

TensorFlow 2.21 writes absl, oneDNN and CUDA-probe lines from C++ while it
loads and first lists its devices, before ``TF_CPP_MIN_LOG_LEVEL`` is read, so
the one reliable way to hide them is to point file descriptor 2 at /dev/null
for those two steps. Python warnings and errors afterwards reach stderr as usual.
"""

from __future__ import annotations

import contextlib
import os
import sys

#: set (to anything) to see TensorFlow's own messages again; ``recsys --verbose`` sets it
VERBOSE_ENV = "RECSYS_VERBOSE"


@contextlib.contextmanager
def stderr_silenced():
    """File descriptor 2 (what C++ code writes to) goes to /dev/null inside the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def load_tensorflow():
    """Import TensorFlow and probe its devices, quietly unless ``RECSYS_VERBOSE`` is set."""
    if "tensorflow" in sys.modules or os.environ.get(VERBOSE_ENV):
        import tensorflow as tf

        return tf
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with stderr_silenced():
        import tensorflow as tf

        tf.config.list_physical_devices()  # the CUDA probe ("failed call to cuInit") happens here
    return tf


def __getattr__(name):
    # `from recsys.quiet import keras, tf`: what the library's TensorFlow modules import,
    # so that whichever loads first loads it quietly (and `recsys --help` loads none)
    if name == "tf":
        return load_tensorflow()
    if name == "keras":
        load_tensorflow()
        import keras

        return keras
    raise AttributeError(f"module 'recsys.quiet' has no attribute {name!r}")
