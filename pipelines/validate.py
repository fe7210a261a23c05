"""``recsys data validate PATH``: load a dataset, check every image, print a summary."""

from __future__ import annotations

from pipelines.inputs import format_report, validate
from recsys.data.dataset import DEFAULT_POSITIVE_THRESHOLD
from recsys.data.images import DEFAULT_MAX_PIXELS


def add_arguments(parser):
    parser.add_argument("path", help="dataset folder (data contract, MovieLens or H&M layout)")
    parser.add_argument("--positive-threshold", type=float, default=DEFAULT_POSITIVE_THRESHOLD,
                        help="ratings at or above this count as positives")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                        help="refuse images with more pixels than this (decompression bombs)")


def run(args) -> int:
    dataset, report = validate(args.path, args.positive_threshold, args.max_pixels)
    print(format_report(dataset, report))
    return 0
