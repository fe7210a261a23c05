"""Embedding images on Apache Spark: image paths partitioned through ``mapInPandas``,
the saved ``.keras`` encoder loaded once per executor process, the vectors
collected on the driver into the same embedding store the local path writes.

The driver saves the encoder (:meth:`ImageEncoder.save`) and ships it with
``SparkContext.addFile``; executors open it from ``SparkFiles``. The images
must be readable by the executors under the same paths: any path in local
mode, a shared file system on a cluster. ``pyspark`` comes with the ``spark`` extra.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.data.images import ImageError
from recsys.vision.embed import embed_files
from recsys.vision.encoders import ImageEncoder
from recsys.vision.pixels import REASONS

OUTPUT_SCHEMA = "position long, embedding array<float>, reason int, batches int"

_loaded: dict[str, ImageEncoder] = {}  # per executor process: Spark reuses its Python workers across tasks


def spark_embed_files(paths: list, encoder: ImageEncoder, batch_size: int = 64, progress: bool = False, *,
                      spark, partitions: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """:func:`recsys.vision.embed.embed_files` on Spark: the same vectors, reason codes and batch count.

    ``partitions`` (default: Spark's parallelism) splits the paths; Spark's
    console bar shows the progress, so ``progress`` is not used.
    """
    vectors = np.zeros((len(paths), encoder.dim), dtype=np.float32)
    reasons = np.array([REASONS.index(p.reason) if isinstance(p, ImageError) else 0 for p in paths], np.int32)
    todo = np.flatnonzero([not isinstance(p, ImageError) for p in paths])
    if not len(todo):
        return vectors, reasons, 0
    with tempfile.TemporaryDirectory(prefix="recsys-encoder-") as tmp:
        name = f"encoder-{encoder.fingerprint()}-{uuid.uuid4().hex[:8]}"  # a name Spark has not seen before
        encoder.save(Path(tmp) / name)
        spark.sparkContext.addFile(str(Path(tmp) / name), recursive=True)
        table = pd.DataFrame({"position": todo.astype(np.int64), "path": [str(paths[i]) for i in todo]})
        frame = spark.createDataFrame(table, "position long, path string").repartition(
            partitions or spark.sparkContext.defaultParallelism)
        out = frame.mapInPandas(embed_partitions(name, batch_size), OUTPUT_SCHEMA).toPandas()
    positions = out["position"].to_numpy()
    vectors[positions] = np.stack(out["embedding"].to_numpy()).astype(np.float32)
    reasons[positions] = out["reason"].to_numpy()
    return vectors, reasons, int(out["batches"].sum())


def embed_partitions(encoder_name: str, batch_size: int):
    """The ``mapInPandas`` function: ``position, path`` rows in, ``position, embedding, reason, batches`` out
    (``batches``: the CNN batches a frame took, on its first row)."""

    def embed(frames):
        from pyspark import SparkFiles

        encoder = loaded_encoder(SparkFiles.get(encoder_name))
        for frame in frames:
            vectors, reasons, batches = embed_files(list(frame["path"]), encoder, batch_size)
            counts = np.zeros(len(frame), np.int32)
            counts[:1] = batches
            yield pd.DataFrame({"position": frame["position"], "embedding": list(vectors), "reason": reasons,
                                "batches": counts})

    return embed


def loaded_encoder(directory: str) -> ImageEncoder:
    """The encoder saved in ``directory``, loaded on this process's first call only."""
    if directory not in _loaded:
        _loaded[directory] = ImageEncoder.load(directory)
    return _loaded[directory]
