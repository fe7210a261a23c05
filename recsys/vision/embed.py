"""Embedding a catalog's images, incrementally, with a clear account of what happened."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from recsys.data.images import NO_IMAGE, ImageError, resolve_image_path
from recsys.progress import bar as progress_bar
from recsys.vision.encoders import ImageEncoder
from recsys.vision.pixels import REASONS, image_batches
from recsys.vision.store import DEFAULT_STORE, EmbeddingStore, file_sha1


@dataclass
class EmbedResult:
    """Embeddings aligned with the items asked for, and what it took.

    ``vectors[i]`` is zero where ``has_image[i]`` is False.
    """

    item_ids: np.ndarray
    vectors: np.ndarray
    has_image: np.ndarray
    embedded: int = 0
    reused: int = 0
    skipped: Counter = field(default_factory=Counter)
    skipped_items: list[tuple[str, str]] = field(default_factory=list)
    cnn_batches: int = 0
    seconds: float = 0.0

    @property
    def images_per_second(self) -> float:
        return self.embedded / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        skipped = sum(self.skipped.values())
        reasons = ", ".join(f"{r}: {n}" for r, n in self.skipped.most_common())
        return (f"embedded {self.embedded}, reused {self.reused}, skipped {skipped}"
                + (f" ({reasons})" if reasons else "")
                + (f"; {self.images_per_second:.1f} images/s over {self.seconds:.1f}s" if self.embedded
                   else f"; nothing to embed ({self.seconds:.1f}s)"))


def embed_files(paths: list, encoder: ImageEncoder, batch_size: int = 64,
                progress: bool = False) -> tuple[np.ndarray, np.ndarray, int]:
    """Embed image files (resolved paths, or :class:`ImageError` for refused ones).

    Returns ``(vectors float32 (n, dim), reason codes int32 (n,), model batches run)``;
    rows with a non-zero reason are zero vectors.
    """
    vectors = np.zeros((len(paths), encoder.dim), dtype=np.float32)
    reasons = np.zeros(len(paths), dtype=np.int32)
    if not paths:
        return vectors, reasons, 0
    infer = encoder.infer
    batches = 0
    with progress_bar("embedding", len(paths), "image", progress, smoothing=0.1) as bar:
        start = 0
        for pixels, codes in image_batches(paths, encoder.image_size, batch_size):
            n = int(codes.shape[0])
            vectors[start:start + n] = infer(pixels).numpy()
            reasons[start:start + n] = codes.numpy()
            start += n
            batches += 1
            bar.update(n)
    vectors[reasons != 0] = 0.0
    return vectors, reasons, batches


def embed_catalog(item_ids, image_paths, root, encoder: ImageEncoder, store_dir=DEFAULT_STORE,
                  batch_size: int = 64, progress: bool = False, embed=embed_files) -> EmbedResult:
    """Embed every item's image, reusing what the store already holds for this encoder.

    ``store_dir=None`` embeds everything and keeps nothing. An image is
    looked up by the SHA-1 of its bytes: unchanged images are
    reused without running the CNN; new or changed ones are embedded (by
    ``embed``: :func:`embed_files` on this machine, or
    :func:`recsys.vision.spark_embed.spark_embed_files` bound to a Spark
    session) and added to the store. Unusable images are skipped with their reason.
    """
    started = time.perf_counter()
    item_ids = np.asarray(item_ids, dtype=object)
    resolved, hashes = _resolve_and_hash(image_paths, root)
    store = None if store_dir is None else EmbeddingStore(store_dir, encoder.fingerprint())
    known, known_vectors = _stored(store, encoder)
    row_of = {h: r for r, h in enumerate(known["sha1"])}
    vectors = np.zeros((len(item_ids), encoder.dim), dtype=np.float32)
    has_image = np.zeros(len(item_ids), dtype=bool)
    result = EmbedResult(item_ids=item_ids, vectors=vectors, has_image=has_image)

    todo, refused = [], []
    for i, h in enumerate(hashes):
        if isinstance(resolved[i], ImageError):
            refused.append((i, resolved[i].reason))  # no path to open: no CNN work
        elif h is not None and h in row_of:
            vectors[i] = known_vectors[row_of[h]]
            has_image[i] = True
            result.reused += 1
        else:
            todo.append(i)
    new_vectors, codes, result.cnn_batches = embed([resolved[i] for i in todo], encoder, batch_size, progress)
    ok = codes == 0
    done = np.asarray(todo, dtype=np.int64)[ok]
    vectors[done] = new_vectors[ok]
    has_image[done] = True
    result.embedded = int(ok.sum())
    failed = refused + [(i, REASONS[code]) for i, code in zip(todo, codes) if code]
    for i, reason in sorted(failed):
        result.skipped[reason] += 1
        if reason != NO_IMAGE:
            result.skipped_items.append((str(item_ids[i]), reason))

    if store is not None and len(done):
        fresh = pd.DataFrame({"item_id": item_ids[done], "sha1": [hashes[i] for i in done]})
        table = pd.concat([known, fresh], ignore_index=True)
        all_vectors = np.vstack([known_vectors.reshape(len(known), -1) if len(known) else
                                 np.zeros((0, encoder.dim), np.float32), new_vectors[ok]])
        keep = ~table.duplicated(subset=["item_id", "sha1"], keep="last").to_numpy()
        store.save(table[keep], all_vectors[keep])
    result.seconds = time.perf_counter() - started
    return result


def _resolve_and_hash(image_paths, root) -> tuple[list, list]:
    """Each cell's file (or the ``ImageError`` saying why there is none) and the SHA-1 of its bytes."""
    resolved = []
    for cell in image_paths:
        try:
            resolved.append(resolve_image_path(cell, root))
        except ImageError as err:
            resolved.append(err)
    with ThreadPoolExecutor(8) as pool:
        hashes = list(pool.map(lambda p: None if isinstance(p, ImageError) else file_sha1(p), resolved))
    return resolved, hashes


def _stored(store, encoder):
    """What the store holds for ``encoder`` (nothing without a store); refuses vectors of another size."""
    known, known_vectors = EmbeddingStore.empty() if store is None else store.load()
    if len(known) and known_vectors.shape[1] != encoder.dim:
        raise ValueError(f"{store.path}: the embedding cache holds {known_vectors.shape[1]}-d vectors, but "
                         f"this encoder makes {encoder.dim}-d ones; delete it and the images are embedded again")
    return known, known_vectors


def embed_dataset(dataset, encoder: ImageEncoder, store_dir=DEFAULT_STORE, batch_size: int = 64,
                  progress: bool = False, embed=embed_files) -> EmbedResult:
    """:func:`embed_catalog` over a :class:`~recsys.data.Dataset`'s items, aligned with its item index."""
    return embed_catalog(dataset.item_ids, dataset.image_paths(), dataset.root, encoder, store_dir,
                         batch_size, progress, embed)
