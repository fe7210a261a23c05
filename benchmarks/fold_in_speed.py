"""Folding in users who arrived after training against scoring known users, same run.

The hybrid (epoch ceilings at 1: the speed of the fold-in does not depend on
how well it trained) is fitted on the synthetic log of train_scaling.py for
half its users; the other half (10,000 by default, 20 interactions each) then
arrive with their history. Times, median of three rounds:

- fold-in: ``recsys.histories.fold_in`` on their interactions table (ids
  mapped, the solve, the model's tables grown), a fresh copy of the model each round;
- the same users' top-20 afterwards;
- the top-20 of as many known users (the baseline the ratio is against).

    python benchmarks/fold_in_speed.py [--users 10000]
"""

from __future__ import annotations

import argparse
import copy
import time

import mlflow
import numpy as np
from train_scaling import PER_USER, synthetic_log

from recsys import tracking
from recsys.data import Dataset
from recsys.histories import fold_in
from recsys.models import HybridRecommender

ROUNDS = 3


def median_seconds(work) -> float:
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000, help="users folded in (and known users scored)")
    args = parser.parse_args()
    interactions, catalog, features = synthetic_log(2 * args.users * PER_USER)
    arriving = interactions["user_id"].astype(int) % 2 == 1
    dataset = Dataset.from_frames(interactions[~arriving], catalog, ".", name="synthetic")
    model = HybridRecommender(epochs=1, taste_epochs=1, patience=1, validation_share=0.0).fit(dataset, features)
    history = interactions[arriving]
    new_users = sorted(set(history["user_id"]))[:args.users]
    history = history[history["user_id"].isin(new_users)]
    known_users = list(model.user_ids_[:len(new_users)])
    positive = np.ones(len(history), bool)
    folded = {}

    def fold():
        folded["model"] = copy.copy(model)
        folded["report"] = fold_in(folded["model"], history, positive)

    fold_seconds = median_seconds(fold)
    assert len(folded["report"].added) == len(new_users)
    new_seconds = median_seconds(lambda: folded["model"].recommend(new_users, k=20))
    known_seconds = median_seconds(lambda: model.recommend(known_users, k=20))
    print(f"{len(new_users):,} users ({len(history):,} interactions), {len(model.item_ids_):,} items, "
          f"{model.factors} factors; median of {ROUNDS} rounds")
    print(f"  fold-in:                        {fold_seconds:7.3f} s  ({len(new_users) / fold_seconds:,.0f} users/s)")
    print(f"  their top-20 afterwards:        {new_seconds:7.3f} s")
    print(f"  top-20 of as many known users:  {known_seconds:7.3f} s")
    print(f"  fold-in / scoring known users:  {fold_seconds / known_seconds:7.2f}x")
    tracking.connect("benchmarks")
    with tracking.start_run("benchmark", run_name="fold_in_speed"):
        mlflow.log_metrics({"fold_in_seconds": fold_seconds, "new_users_top20_seconds": new_seconds,
                            "known_users_top20_seconds": known_seconds,
                            "fold_in_over_known_scoring": fold_seconds / known_seconds})


if __name__ == "__main__":
    main()
