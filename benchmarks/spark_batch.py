"""The batch job on Spark (local mode, this machine's cores) vs the single-machine job, same
model, same output; users/s side by side in one run. Spark's gain is on a cluster; this
measures what its partitioning and Arrow transfers cost on one machine.

    python benchmarks/spark_batch.py [--users 100000] [--items 20000] [--factors 64] [--k 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from _common import add_size_arguments

import mlflow
from recsys import tracking
from recsys.batch import batch_recommend
from recsys.spark import session, spark_batch_recommend

SEEN_PER_USER = 20


def synthetic_model(n_users, n_items, factors, seed=0):
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(n_users), SEEN_PER_USER)
    seen = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, rng.integers(0, n_items, len(rows)))),
                         shape=(n_users, n_items))
    return types.SimpleNamespace(
        user_ids_=np.array([f"u{i}" for i in range(n_users)], dtype=object),
        item_ids_=np.array([f"i{i}" for i in range(n_items)], dtype=object),
        user_vectors_=rng.normal(size=(n_users, factors)).astype(np.float32),
        item_vectors_=rng.normal(size=(n_items, factors)).astype(np.float32), seen_=seen)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_size_arguments(parser)
    args = parser.parse_args()
    model = synthetic_model(args.users, args.items, args.factors)
    spark = session()
    spark.sparkContext.setLogLevel("ERROR")
    with tempfile.TemporaryDirectory() as tmp:
        # the first job pays for starting Python workers: not part of the comparison
        spark_batch_recommend(synthetic_model(1_000, 100, 8), Path(tmp) / "warm-up", k=5, spark=spark)
        start = time.perf_counter()
        batch_recommend(model, Path(tmp) / "local", k=args.k)
        local = args.users / (time.perf_counter() - start)
        start = time.perf_counter()
        spark_batch_recommend(model, Path(tmp) / "spark", k=args.k, spark=spark)
        on_spark = args.users / (time.perf_counter() - start)
        same = pd.read_parquet(Path(tmp) / "local").sort_values(["user_id", "rank"])["item_id"].to_numpy()
        assert (same == pd.read_parquet(Path(tmp) / "spark").sort_values(["user_id", "rank"])["item_id"]
                .to_numpy()).all(), "both engines must write the same top-K"
    spark.stop()
    print(f"\n{args.users:,} users x {args.items:,} items x {args.factors} factors, K={args.k}, Parquet written")
    print(f"  single machine: {local:10,.0f} users/s")
    print(f"  Spark, local[*] mode: {on_spark:8,.0f} users/s")
    print(f"  Spark / single machine: {on_spark / local:.2f}")
    tracking.connect("benchmarks")
    with tracking.start_run("benchmark", run_name="spark_batch"):
        mlflow.log_params(vars(args))
        mlflow.log_metrics({"users_per_second_local": local, "users_per_second_spark": on_spark,
                            "spark_over_local": on_spark / local})


if __name__ == "__main__":
    main()
