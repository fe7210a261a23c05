"""Offline batch jobs over a model directory: top-K for every user, and scoring of new items.

Outputs are folders of Parquet parts, written into a temporary folder and
renamed into place at the end: a crash leaves the previous output intact, and
a rerun is safe.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.io import atomic_path
from recsys.photo_scoring import item_top_users, score_images
from recsys.progress import bar as progress_bar
from recsys.scoring import DEFAULT_CHUNK, chunked_top_k, new_items, ranked_frame, top_k


@dataclass
class BatchStats:
    users: int
    rows: int
    seconds: float
    parts: int

    @property
    def users_per_second(self) -> float:
        return self.users / self.seconds if self.seconds > 0 else 0.0


def exclusion_mask(items: pd.DataFrame, item_ids, conditions: list[tuple[str, str]]) -> np.ndarray:
    """Items (aligned with ``item_ids``) matching any ``column == value`` condition."""
    meta = items.set_index(items["item_id"].astype(str))
    out = np.zeros(len(item_ids), bool)
    for column, value in conditions:
        if column not in meta.columns:
            raise ValueError(f"--exclude-where: unknown item column {column!r}; "
                             f"item metadata has {sorted(c for c in meta.columns if c != 'item_id')}")
        values = meta[column].astype(str).reindex([str(i) for i in item_ids])
        out |= (values == str(value)).to_numpy()
    return out


def user_rows(model, users, k: int) -> np.ndarray:
    """The model's rows of ``users`` (``None``: every user), once ``k`` is checked;
    an unknown user raises ``KeyError`` naming it."""
    if k < 1:
        raise ValueError(f"`k` must be >= 1, got {k}")
    return np.arange(len(model.user_ids_)) if users is None else model.user_index(users)


def batch_recommend(model, out_dir, users=None, k: int = 20, allowed: np.ndarray | None = None,
                    exclude_seen: bool = True, chunk: int = DEFAULT_CHUNK, progress: bool = False,
                    overwrite: bool = False) -> BatchStats:
    """Write ``user_id, rank, item_id, score, is_new`` for ``users`` (default: all) into
    ``out_dir/part-NNNNN.parquet``, one part per chunk of users (``is_new``: an item the
    model scores from its photo alone, :func:`recsys.scoring.new_items`).

    ``allowed`` (bool over the model's items) restricts the candidates. An existing
    ``out_dir`` is replaced only if recsys wrote it, or with ``overwrite``.
    """
    rows = user_rows(model, users, k)
    started = time.perf_counter()
    n_rows, parts = 0, 0
    seen = model.seen_[rows] if exclude_seen else None
    new = new_items(model)
    with atomic_path(out_dir, directory=True, overwrite=overwrite, kind="recommendations") as tmp, \
            progress_bar("recommending", len(rows), "user", progress) as bar:
        for start, idx, val in chunked_top_k(model.user_vectors_[rows], model.item_vectors_, k, seen, allowed, chunk):
            owners = model.user_ids_[rows[start:start + len(idx)]]
            frame = ranked_frame(owners, "user_id", model.item_ids_, "item_id", idx, val, new)
            frame.to_parquet(Path(tmp) / f"part-{parts:05d}.parquet", index=False)
            parts += 1
            n_rows += len(frame)
            bar.update(len(idx))
    return BatchStats(users=len(rows), rows=n_rows, seconds=time.perf_counter() - started, parts=parts)


def score_new_items(bundle, items: pd.DataFrame, root, out_dir, n_users: int = 100, k: int = 10,
                    n_similar: int = 10, overwrite: bool = False):
    """For new items (``item_id, image_path``) write into ``out_dir``:

    - ``item_top_users.parquet``: each item's top-``n_users`` users (``item_id, rank, user_id, score``),
      the score being log p(item | user) against the catalog;
    - ``user_top_items.parquet``: each user's top-``k`` among the new items (``user_id, rank, item_id, score``);
    - ``similar_items.parquet``: each item's nearest catalog items by image (``item_id, rank, similar_item_id, score``).

    Returns the embedding result (skipped items and their reasons).
    """
    result, ids, scores = score_images(bundle, items, root)
    model = bundle.model
    with atomic_path(out_dir, directory=True, overwrite=overwrite, kind="new item scores") as tmp:
        item_top_users(model, ids, scores, n_users).to_parquet(Path(tmp) / "item_top_users.parquet", index=False)
        ranked_frame(model.user_ids_, "user_id", ids, "item_id", *top_k(scores, k)).to_parquet(
            Path(tmp) / "user_top_items.parquet", index=False)
        bundle.similar().similar_to(ids, result.vectors[result.has_image], k=n_similar).to_parquet(
            Path(tmp) / "similar_items.parquet", index=False)
    return result
