"""Steps shared by several jobs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from recsys.data import tables
from recsys.io import check_output


#: skipped items listed one by one; the rest are counted
MAX_SKIPPED_SHOWN = 20


def embed_with_report(dataset, encoder, store: str, batch_size: int = 64):
    """Embed a dataset's images (reusing the store) with an ``ImageEncoder`` and print the summary."""
    from recsys.vision import embed_dataset

    print(f"Embedding {dataset.n_items:,} items of {dataset.name} with {encoder.config.name} "
          f"({encoder.image_size}px, {encoder.dim}-d, fingerprint {encoder.fingerprint()})")
    result = embed_dataset(dataset, encoder, store_dir=store, batch_size=batch_size, progress=True)
    print(f"  {result.summary()}")
    return result


def print_skipped(result, template: str) -> None:
    """The items whose image was not usable, one line each (``template`` holds ``{}``
    for the item id), up to :data:`MAX_SKIPPED_SHOWN`."""
    for item_id, reason in result.skipped_items[:MAX_SKIPPED_SHOWN]:
        print("  " + template.format(repr(item_id)) + f": {reason}")
    if len(result.skipped_items) > MAX_SKIPPED_SHOWN:
        print(f"  ... and {len(result.skipped_items) - MAX_SKIPPED_SHOWN} more")


def read_ids(path: str | Path, column: str) -> list[str]:
    """The ``column`` of a CSV or Parquet file, as exact strings, in file order, deduplicated."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    frame = tables.read_table(path, (column,))
    tables.require_columns(frame, (column,), path.name)
    tables.check_ids(frame, (column,), path.name)
    return list(pd.unique(frame[column].astype(str)))


def read_items(path: str | Path) -> pd.DataFrame:
    """An items table in the data contract (``item_id``, ``image_path``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    items, _ = tables.clean_items(tables.read_table(path, ("item_id",)), path.name)
    return items


def add_overwrite_argument(parser, what: str = "the output path") -> None:
    parser.add_argument("--overwrite", action="store_true",
                        help=f"replace {what} even if recsys did not write it (default: refuse)")


def check_writable(out: str | Path, overwrite: bool = False, inputs=()) -> None:
    """Fail before a long job, not after it, when the output must not or cannot be
    written: see :func:`recsys.io.check_output`."""
    check_output(out, overwrite, inputs)
    parent = Path(out).resolve().parent
    while not parent.exists():
        parent = parent.parent
    probe = parent / f".recsys-write-test-{id(out)}"
    try:
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise ValueError(f"{out}: cannot write there ({exc.strerror})") from None


def local_model(model: str) -> str | None:
    """A model argument's folder when it is one (not a ``runs:/`` or ``models:/`` URI)."""
    return None if model.startswith(("runs:/", "models:/")) else model
