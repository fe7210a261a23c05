"""Where the example datasets and the offline CNN weights live: ``$RECSYS_SHARED``,
else a ``shared/`` folder beside this repository's checkout. Read in place, never copied."""

from __future__ import annotations

import os
from pathlib import Path

SHARED = Path(os.environ.get("RECSYS_SHARED", Path(__file__).resolve().parents[3] / "shared"))
MOVIELENS = SHARED / "data" / "movielens-posters"
HM = SHARED / "data" / "hm-articles"
HM_FASHION = SHARED / "data" / "hm-fashion"
MOBILENET_WEIGHTS = SHARED / "weights" / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"
