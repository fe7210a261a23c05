"""The Spark session of ``--engine spark`` (embed, batch-recommend)."""

from __future__ import annotations

import importlib.util
import warnings


def check_spark_installed(args) -> None:
    if args.engine == "spark" and importlib.util.find_spec("pyspark") is None:
        raise ValueError("--engine spark needs pyspark: pip install 'recsys[spark]'")


def start_spark(args, app_name: str):
    """The Spark session for ``--engine spark`` (``None`` for local), or a one-line error when it cannot start."""
    if args.engine != "spark":
        return None
    check_spark_installed(args)
    from recsys.spark import session

    # pyspark 4.3 warns at every pandas conversion under pandas 3; tests/test_spark.py checks the output
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    try:
        return session(args.spark_master, app_name)
    except Exception as exc:  # Spark reports a bad master or a missing Java in many exception types
        raise ValueError(f"Spark did not start (master {args.spark_master or 'default'}): "
                         f"{str(exc).splitlines()[0]}") from None
