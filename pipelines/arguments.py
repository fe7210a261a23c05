"""Command-line arguments several commands share."""

from __future__ import annotations


def add_overwrite_argument(parser, what: str = "the output path") -> None:
    parser.add_argument("--overwrite", action="store_true",
                        help=f"replace {what} even if recsys did not write it (default: refuse)")


def add_spark_arguments(parser, partitions: str) -> None:
    """``--engine local|spark``, ``--spark-master``, ``--partitions`` (of ``partitions``, e.g. "user partitions")."""
    parser.add_argument("--engine", choices=("local", "spark"), default="local",
                        help=f"local: this machine; spark: {partitions} on Spark (needs the `spark` extra)")
    parser.add_argument("--spark-master", default=None,
                        help="Spark master URL (default: the one spark-submit gives, else local[*])")
    parser.add_argument("--partitions", type=int, default=None, help=f"Spark: {partitions} (default: Spark's)")


def add_history_arguments(parser, data_help: str) -> None:
    parser.add_argument("--data", default=None, metavar="DATASET", help=data_help)
    parser.add_argument("--history", default=None, metavar="INTERACTIONS",
                        help="interactions table (user_id, item_id; optional timestamp, rating or weight) of users "
                             "the model does not know, or newer ones of known users: folded in, no retraining")
