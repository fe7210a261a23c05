"""What the benchmark scripts share: the ../shared paths, the problem size, a check."""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from recsys.data.examples import HM, HM_FASHION, MOBILENET_WEIGHTS, MOVIELENS  # noqa: E402,F401  (for the scripts)


def add_size_arguments(parser) -> None:
    """The batch-scoring problem size: 100k users x 20k items x 64 factors, K=20 by default."""
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--k", type=int, default=20)


def need(*paths: Path) -> None:
    for path in paths:
        if not path.exists():
            sys.exit(f"{path} is absent: this benchmark needs ../shared beside the repository")
