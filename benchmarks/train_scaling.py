"""Training cost against the size of the interaction log: the hybrid (default
settings, epoch ceilings fixed so every size makes the same passes) fitted on
synthetic logs of 100k, 1M and 5M interactions, users and items growing with
them (20 interactions per user, 50 per item) and 128-d image features given.
Prints seconds per million interactions, peak memory and the ratio of the
largest size's seconds per million to the smallest's (linear cost: 1).

    python benchmarks/train_scaling.py [--sizes 100000 1000000 5000000] [--epochs 2]

Each size is fitted in a child process of its own, so its peak memory (VmHWM)
is its own. The log has structure to learn: items belong to taste clusters
that show in their features, and each user buys mostly from two clusters,
popular items more often (Zipf).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np
import pandas as pd
from scoring_kernel import peak_rss_mb

PER_USER, PER_ITEM, DIM, CLUSTERS = 20, 50, 128, 32


def synthetic_log(n: int, seed: int = 0):
    """``(interactions, items, features)`` with ``n`` interactions (timestamps over a year)."""
    rng = np.random.default_rng(seed)
    n_users, n_items = max(n // PER_USER, 10), max(n // PER_ITEM, 10)
    cluster = rng.integers(0, CLUSTERS, n_items)
    centres = rng.normal(size=(CLUSTERS, DIM)).astype(np.float32)
    features = np.maximum(centres[cluster] + 0.7 * rng.normal(size=(n_items, DIM)).astype(np.float32), 0.0)
    members = [np.flatnonzero(cluster == c) for c in range(CLUSTERS)]
    users = rng.integers(0, n_users, n)
    tastes = rng.integers(0, CLUSTERS, (n_users, 2))
    chosen = np.where(rng.random(n) < 0.8, tastes[users, rng.integers(0, 2, n)], rng.integers(0, CLUSTERS, n))
    items = np.empty(n, np.int64)
    for c in range(CLUSTERS):
        rows = np.flatnonzero(chosen == c)
        rank = np.minimum(rng.zipf(1.3, len(rows)) - 1, len(members[c]) - 1)  # popular items more often
        items[rows] = members[c][rank]
    timestamps = pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 365 * 86400, n), unit="s")
    interactions = pd.DataFrame({"user_id": users.astype(str), "item_id": items.astype(str),
                                 "timestamp": timestamps})
    catalog = pd.DataFrame({"item_id": np.arange(n_items).astype(str), "image_path": ""})
    return interactions, catalog, features


def fit_child(n: int, epochs: int) -> None:
    from recsys.data import Dataset
    from recsys.models import HybridRecommender

    interactions, catalog, features = synthetic_log(n)
    dataset = Dataset.from_frames(interactions, catalog, ".", name=f"synthetic-{n}")
    model = HybridRecommender(epochs=epochs, taste_epochs=epochs, patience=epochs)
    started = time.perf_counter()
    model.fit(dataset, features)
    seconds = time.perf_counter() - started
    passes = sum(1 for record in model.history_ if "epoch" in record and record["epoch"] > 0)
    print(json.dumps({"interactions": len(dataset.interactions), "users": dataset.n_users, "items": dataset.n_items,
                      "seconds": seconds, "epochs": passes, "peak_mb": peak_rss_mb()}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 5_000_000])
    parser.add_argument("--epochs", type=int, default=2, help="ceiling of every training phase (no early stop)")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return fit_child(args.child, args.epochs)

    rows = []
    print(f"{'interactions':>12} {'users':>8} {'items':>7} {'epochs':>6} {'seconds':>8} {'s per M':>8} {'peak MB':>8}")
    for n in args.sizes:
        out = subprocess.run([sys.executable, __file__, "--child", str(n), "--epochs", str(args.epochs)],
                             stdout=subprocess.PIPE, text=True, check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        row["s_per_m"] = row["seconds"] / (row["interactions"] / 1e6)
        rows.append(row)
        print(f"{row['interactions']:>12,} {row['users']:>8,} {row['items']:>7,} {row['epochs']:>6} "
              f"{row['seconds']:>8.1f} {row['s_per_m']:>8.1f} {row['peak_mb']:>8.0f}", flush=True)
    ratio = rows[-1]["s_per_m"] / rows[0]["s_per_m"]
    print(f"\nseconds per million interactions, largest over smallest: {ratio:.2f} (linear cost: 1.00)")
    import mlflow

    from recsys import tracking

    tracking.connect("benchmarks")
    with tracking.start_run("benchmark", run_name="train_scaling"):
        mlflow.log_params({"sizes": " ".join(map(str, args.sizes)), "epochs": args.epochs, "dim": DIM})
        mlflow.log_metrics({"s_per_m_ratio": ratio, "peak_mb_largest": rows[-1]["peak_mb"],
                            **{f"s_per_m_{row['interactions']}": row["s_per_m"] for row in rows}})


if __name__ == "__main__":
    main()
