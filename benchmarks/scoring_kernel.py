"""Batch top-K kernel: this job's chunked kernel vs implicit's batch `recommend` on the
same factors vs the raw limit (one matmul + argpartition, no filtering) and the
matmul alone, one run; then peak memory of the kernel at 100k and at 1M simulated users.

Our kernel beats the raw limit because it does not partition whole rows (see
``recsys.scoring.select_top_k``); the matmul alone is the ceiling it approaches.

    python benchmarks/scoring_kernel.py [--users 100000] [--items 20000] [--factors 64] [--k 20]

Simulated users are generated chunk by chunk (seeded), as a job streams users
from storage, so memory can only grow with what the kernel itself holds.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import subprocess
import sys
import time

import numpy as np
import scipy.sparse as sp
from _common import add_size_arguments

from recsys.scoring import chunked_top_k

SEEN_PER_USER = 20


class SimulatedUsers:
    """User factors and seen items, generated per slice from a seed."""

    def __init__(self, n_users, n_items, factors, seed=0):
        self.n_users, self.n_items, self.factors, self.seed = n_users, n_items, factors, seed

    def __len__(self):
        return self.n_users

    def _rng(self, start):
        return np.random.default_rng((self.seed, start))

    def __getitem__(self, s: slice):
        return self._rng(s.start).normal(size=(min(s.stop, self.n_users) - s.start, self.factors)).astype(np.float32)

    def seen(self):
        parent = self

        class Seen:
            def __getitem__(self, s: slice):
                n = min(s.stop, parent.n_users) - s.start
                cols = parent._rng(s.start + 1).integers(0, parent.n_items, n * SEEN_PER_USER)
                rows = np.repeat(np.arange(n), SEEN_PER_USER)
                return sp.csr_matrix((np.ones(len(cols), np.float32), (rows, cols)), shape=(n, parent.n_items))

        return Seen()


def run_kernel(users, items, k, chunk=1024):
    n = 0
    for _, idx, _ in chunked_top_k(users, items, k, users.seen(), chunk=chunk):
        n += len(idx)
    return n


def raw_limit(users, items, k, chunk=1024):
    item_t = np.ascontiguousarray(items.T)
    n = items.shape[0]
    for start in range(0, len(users), chunk):
        np.argpartition(users[start:start + chunk] @ item_t, n - k, axis=1)[:, n - k:]


def matmul_only(users, items, chunk=1024):
    item_t = np.ascontiguousarray(items.T)
    for start in range(0, len(users), chunk):
        users[start:start + chunk] @ item_t


def memory_child(n_users, n_items, factors, k):
    items = np.random.default_rng(1).normal(size=(n_items, factors)).astype(np.float32)
    started = time.perf_counter()
    run_kernel(SimulatedUsers(n_users, n_items, factors), items, k)
    seconds = time.perf_counter() - started
    print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "seconds": seconds}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_size_arguments(parser)
    parser.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        return memory_child(args.memory_child, args.items, args.factors, args.k)

    sim = SimulatedUsers(args.users, args.items, args.factors)
    items = np.random.default_rng(1).normal(size=(args.items, args.factors)).astype(np.float32)
    rows = {}
    start = time.perf_counter()
    run_kernel(sim, items, args.k)
    rows["recsys chunked kernel (seen filtered)"] = args.users / (time.perf_counter() - start)
    if importlib.util.find_spec("implicit"):
        from implicit.cpu.als import AlternatingLeastSquares

        user_factors = sim[slice(0, args.users)]
        seen = sp.vstack([sim.seen()[slice(s, s + 4096)] for s in range(0, args.users, 4096)]).tocsr()
        model = AlternatingLeastSquares(factors=args.factors)
        model.user_factors, model.item_factors = user_factors, items
        start = time.perf_counter()
        model.recommend(np.arange(args.users), seen, N=args.k, filter_already_liked_items=True)
        rows["implicit recommend (seen filtered)"] = args.users / (time.perf_counter() - start)
        del user_factors, seen
    start = time.perf_counter()
    raw_limit(sim, items, args.k)
    rows["raw limit (matmul + argpartition)"] = args.users / (time.perf_counter() - start)
    start = time.perf_counter()
    matmul_only(sim, items)
    rows["matmul only (no top-K: the BLAS ceiling)"] = args.users / (time.perf_counter() - start)

    print(f"\n{args.users:,} users x {args.items:,} items x {args.factors} factors, K={args.k}\n")
    ours = rows["recsys chunked kernel (seen filtered)"]
    for name, rate in rows.items():
        print(f"{name:42s} {rate:10,.0f} users/s   ours / this = {ours / rate:.2f}")
    memory = {}
    for n in (args.users, args.users * 10):
        out = subprocess.run([sys.executable, __file__, "--memory-child", str(n), "--items", str(args.items),
                              "--factors", str(args.factors), "--k", str(args.k)],
                             capture_output=True, text=True, check=True)
        memory[n] = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"peak memory, {n:>9,} simulated users: {memory[n]['peak_mb']:8.0f} MB "
              f"({n / memory[n]['seconds']:,.0f} users/s)")
    small, big = memory.values()
    print(f"peak memory ratio 10x users: {big['peak_mb'] / small['peak_mb']:.2f}")
    import mlflow  # imported here, so the memory children measure the kernel, not MLflow

    from recsys import tracking

    tracking.connect("benchmarks")
    with tracking.start_run("benchmark", run_name="scoring_kernel"):
        mlflow.log_params({k: v for k, v in vars(args).items() if k != "memory_child"})
        mlflow.log_metrics({"users_per_second_ours": ours,
                            "ours_over_implicit": ours / rows.get("implicit recommend (seen filtered)", float("nan")),
                            "ours_over_raw_limit": ours / rows["raw limit (matmul + argpartition)"],
                            "ours_over_matmul_only": ours / rows["matmul only (no top-K: the BLAS ceiling)"],
                            "peak_mb_small": small["peak_mb"], "peak_mb_10x": big["peak_mb"],
                            "peak_memory_ratio": big["peak_mb"] / small["peak_mb"]})


if __name__ == "__main__":
    main()
