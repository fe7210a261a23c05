"""The embedding store: one Parquet file per encoder fingerprint.

Rows are keyed by ``item_id`` and by the SHA-1 of the image file's bytes, so
a rerun embeds only new or changed images, and an image copied under a new
item id is not embedded twice.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from recsys.data.images import ImageError, read_image_bytes
from recsys.io import atomic_path

DEFAULT_STORE = Path(".recsys") / "embeddings"


def file_sha1(path: str | os.PathLike) -> str | None:
    """SHA-1 of an image file's bytes, or ``None`` when it cannot be used
    (:func:`recsys.data.images.read_image_bytes`: regular files under the size cap only)."""
    try:
        return hashlib.sha1(read_image_bytes(path)).hexdigest()
    except ImageError:
        return None


class EmbeddingStore:
    """Embeddings of one encoder (``fingerprint``) under ``directory``."""

    def __init__(self, directory: str | os.PathLike, fingerprint: str):
        self.directory = Path(directory)
        self.fingerprint = fingerprint
        self.path = self.directory / f"{fingerprint}.parquet"

    @staticmethod
    def empty() -> tuple[pd.DataFrame, np.ndarray]:
        return (pd.DataFrame({"item_id": pd.Series(dtype=object), "sha1": pd.Series(dtype=object)}),
                np.zeros((0, 0), np.float32))

    def load(self) -> tuple[pd.DataFrame, np.ndarray]:
        """``(table with item_id, sha1, vectors float32 (n, dim))``; empty when absent."""
        if not self.path.exists():
            return self.empty()
        try:
            table = pq.read_table(self.path)
            vectors = np.asarray(table.column("embedding").combine_chunks().flatten(), dtype=np.float32)
            frame = table.select(["item_id", "sha1"]).to_pandas()
            vectors = vectors.reshape(len(frame), -1) if len(frame) else np.zeros((0, 0), np.float32)
        except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
            raise ValueError(f"{self.path}: the embedding cache is unreadable ({type(exc).__name__}); delete it "
                             "and the images are embedded again") from None
        return frame, vectors

    def save(self, frame: pd.DataFrame, vectors: np.ndarray) -> None:
        """Write atomically: a temporary file in the same folder, then a rename."""
        self.directory.mkdir(parents=True, exist_ok=True)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        embedding = pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), vectors.shape[1])
        table = pa.table({"item_id": pa.array(frame["item_id"].astype(str)),
                          "sha1": pa.array(frame["sha1"].astype(str)), "embedding": embedding},
                         metadata={"fingerprint": self.fingerprint})
        with atomic_path(self.path, overwrite=True) as tmp:  # the cache is ours to replace
            pq.write_table(table, tmp)
