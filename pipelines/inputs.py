"""What a command reads: id and item tables, and a dataset checked and reported (data validate, demo)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from recsys.data import check_images, load_dataset, tables
from recsys.data.dataset import DEFAULT_POSITIVE_THRESHOLD
from recsys.data.images import DEFAULT_MAX_PIXELS


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


def check_learnable(dataset) -> None:
    """Before embedding: a dataset a model can learn from (positives on two items or more)."""
    positives = dataset.positives()
    if positives.empty:
        raise ValueError(f"{dataset.root}: no positive interactions to learn from ({dataset.summary()['positive_rule']})")
    if positives["item_idx"].nunique() < 2:
        raise ValueError(f"{dataset.root}: positives on {positives['item_idx'].nunique()} item only; a recommender "
                         "needs positives on two items or more")


#: image problems listed one by one; the rest are counted
MAX_PROBLEMS_SHOWN = 20


def validate(path, positive_threshold=DEFAULT_POSITIVE_THRESHOLD, max_pixels=DEFAULT_MAX_PIXELS):
    """Load and check a dataset; returns ``(dataset, image_report)``."""
    dataset = load_dataset(path, positive_threshold=positive_threshold)
    report = check_images(dataset.item_ids, dataset.image_paths(), dataset.root, max_pixels=max_pixels)
    return dataset, report


def format_report(dataset, report) -> str:
    s = dataset.summary()
    no_image = report.n_items - report.n_usable
    reasons = ", ".join(f"{reason}: {n:,}" for reason, n in report.unusable.most_common())
    converted = ", ".join(f"{mode}: {n:,}" for mode, n in report.converted.most_common()) or "none"
    lines = [
        f"Dataset {s['name']} ({s['layout']} layout) at {s['root']}",
        f"  users                    {s['users']:>10,}",
        f"  items                    {s['items']:>10,}",
        f"    with interactions      {s['items_with_interactions']:>10,}",
        f"    with a usable image    {report.n_usable:>10,}",
        f"    without a usable image {no_image:>10,}" + (f"  ({reasons})" if reasons else ""),
        f"  interactions             {s['interactions']:>10,}",
        f"  positives                {s['positives']:>10,}  ({s['positive_rule']})",
        f"  timestamps               {'yes' if s['has_timestamps'] else 'no':>10}",
        f"  images converted to RGB  {sum(report.converted.values()):>10,}  ({converted})",
        f"  problems found           {len(report.problems) + len(dataset.warnings):>10,}",
    ]
    for warning in dataset.warnings:
        lines.append(f"  warning: {warning}")
    for item_id, reason, detail in report.problems[:MAX_PROBLEMS_SHOWN]:
        lines.append(f"  image problem: item {item_id!r}: {reason} ({detail})")
    if len(report.problems) > MAX_PROBLEMS_SHOWN:
        lines.append(f"  ... and {len(report.problems) - MAX_PROBLEMS_SHOWN} more image problems")
    return "\n".join(lines)
