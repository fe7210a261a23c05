"""``recsys data validate PATH``: load a dataset, check every image, print a summary."""

from __future__ import annotations

from recsys.data import check_images, load_dataset
from recsys.data.images import DEFAULT_MAX_PIXELS

MAX_PROBLEMS_SHOWN = 20


def add_arguments(parser):
    parser.add_argument("path", help="dataset folder (data contract, MovieLens or H&M layout)")
    parser.add_argument("--positive-threshold", type=float, default=4.0,
                        help="ratings at or above this count as positives (default 4.0)")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                        help="refuse images with more pixels than this (decompression bombs)")


def validate(path, positive_threshold=4.0, max_pixels=DEFAULT_MAX_PIXELS):
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


def run(args) -> int:
    dataset, report = validate(args.path, args.positive_threshold, args.max_pixels)
    print(format_report(dataset, report))
    return 0
