"""Paths shared by the benchmark scripts."""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RECSYS_SHARED", REPO.parent / "shared"))
HM = SHARED / "data" / "hm-articles"
MOVIELENS = SHARED / "data" / "movielens-posters"
MOBILENET_WEIGHTS = SHARED / "weights" / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"


def need(*paths: Path) -> None:
    for path in paths:
        if not path.exists():
            sys.exit(f"{path} is absent: this benchmark needs ../shared beside the repository")
