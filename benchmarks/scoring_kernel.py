"""Batch top-K kernel: this job's chunked kernel vs implicit's batch `recommend` on the
same factors vs the raw limit (one matmul + argpartition, no filtering) and the
matmul alone, one run; then peak memory of the kernel at 100k and at 1M simulated users.

The matmul alone is the ceiling: it is timed in each way a product can run
here (chunks on multi-threaded BLAS; slices of users on threads with
single-threaded BLAS, whole rows or in item tiles as our kernel makes them),
and the fastest is the ceiling our kernel is held to.

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
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
from _common import add_size_arguments

from recsys.scoring import SLICE, TILE, _blas_threads, _single_threaded_blas, chunked_top_k

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


def matmul_only_threaded(users, items, tile):
    """The products of our kernel's slices, on the same threads and single-threaded BLAS, and nothing else."""
    item_t = items.T

    def products(start):
        block = users[start:start + SLICE]
        for first in range(0, len(items), tile):
            block @ item_t[:, first:first + tile]

    with ThreadPoolExecutor(_blas_threads()) as pool, _single_threaded_blas():
        for _ in pool.map(products, range(0, len(users), SLICE)):
            pass


def memory_child(n_users, n_items, factors, k):
    items = np.random.default_rng(1).normal(size=(n_items, factors)).astype(np.float32)
    started = time.perf_counter()
    run_kernel(SimulatedUsers(n_users, n_items, factors), items, k)
    seconds = time.perf_counter() - started
    print(json.dumps({"peak_mb": peak_rss_mb(), "seconds": seconds}))


def peak_rss_mb() -> float:
    """This process's peak resident memory: VmHWM, since ru_maxrss carries over the parent's across fork and exec."""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_size_arguments(parser)
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds of every row; the median is shown")
    parser.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        return memory_child(args.memory_child, args.items, args.factors, args.k)

    sim = SimulatedUsers(args.users, args.items, args.factors)
    items = np.random.default_rng(1).normal(size=(args.items, args.factors)).astype(np.float32)
    jobs = {"recsys chunked kernel (seen filtered)": lambda: run_kernel(sim, items, args.k)}
    if importlib.util.find_spec("implicit"):
        from implicit.cpu.als import AlternatingLeastSquares

        model = AlternatingLeastSquares(factors=args.factors)
        model.user_factors, model.item_factors = sim[slice(0, args.users)], items
        seen = sp.vstack([sim.seen()[slice(s, s + 4096)] for s in range(0, args.users, 4096)]).tocsr()
        jobs["implicit recommend (seen filtered)"] = lambda: model.recommend(
            np.arange(args.users), seen, N=args.k, filter_already_liked_items=True)
    jobs["raw limit (matmul + argpartition)"] = lambda: raw_limit(sim, items, args.k)
    jobs["matmul only, 1024-user chunks"] = lambda: matmul_only(sim, items)
    jobs["matmul only, threaded slices"] = lambda: matmul_only_threaded(sim, items, args.items)
    jobs["matmul only, threaded slices, tiles"] = lambda: matmul_only_threaded(sim, items, TILE)
    # rounds in turn, so a neighbour's load on this shared machine falls on every row alike; the median counts
    rates = {name: [] for name in jobs}
    for _ in range(args.rounds):
        for name, job in jobs.items():
            start = time.perf_counter()
            job()
            rates[name].append(args.users / (time.perf_counter() - start))
    rows = {name: float(np.median(rate)) for name, rate in rates.items()}
    ceiling = max(rate for name, rate in rows.items() if name.startswith("matmul only"))

    print(f"\n{args.users:,} users x {args.items:,} items x {args.factors} factors, K={args.k}, "
          f"median of {args.rounds} rounds\n")
    ours = rows["recsys chunked kernel (seen filtered)"]
    for name, rate in rows.items():
        print(f"{name:42s} {rate:10,.0f} users/s   ours / this = {ours / rate:.2f}")
    print(f"{'ceiling: the faster matmul only':42s} {ceiling:10,.0f} users/s   ours / this = {ours / ceiling:.2f}")
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
                            "ours_over_matmul_only": ours / ceiling,
                            "peak_mb_small": small["peak_mb"], "peak_mb_10x": big["peak_mb"],
                            "peak_memory_ratio": big["peak_mb"] / small["peak_mb"]})


if __name__ == "__main__":
    main()
