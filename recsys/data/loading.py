"""Loading a dataset folder: the data contract's two tables, or a known layout."""

from __future__ import annotations

import os
from pathlib import Path

from recsys.data import adapters, tables
from recsys.data.dataset import DEFAULT_POSITIVE_THRESHOLD, Dataset


def load_dataset(path: str | os.PathLike, positive_threshold: float = DEFAULT_POSITIVE_THRESHOLD) -> Dataset:
    """Load a dataset folder in the data contract, or a known layout (MovieLens, H&M).

    Raises
    ------
    DataError
        With the file, row or column at fault.
    """
    root = Path(path)
    layout = adapters.detect_layout(root)
    if layout != "contract":
        return adapters.LOADERS[layout](root, positive_threshold=positive_threshold)
    files = [tables.find_table(root, tables.INTERACTIONS), tables.find_table(root, tables.ITEMS)]
    inter = tables.read_table(files[0], tables.ID_COLUMNS)
    items = tables.read_table(files[1], ("item_id",))
    return Dataset.from_frames(inter, items, root, name=root.name, layout="contract",
                               positive_threshold=positive_threshold,
                               sources=(files[0].name, files[1].name))
