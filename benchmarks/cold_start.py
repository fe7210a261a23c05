"""Cold start, warm ranking and the whole catalog on every dataset we have, peers in the
same run, one set of defaults.

    pip install -e ".[bench]"   # implicit, cornac, torch (VBPR, CLCRec, ALDI); LightFM: see benchmarks/README.md
    python benchmarks/cold_start.py [--seeds 0,1,2] [--datasets hm-fashion,demo,demo-new,movielens-new,...]
                                    [--models popularity,item_knn,...]

- hm-fashion: the future as the test: purchases of the last 8 weeks; items
  first sold then are the new (cold) ones.
- movielens-new: the 20% of interacted movies first rated last held out as the
  arrivals, each user's latest 20% of the rest warm (the split is the same for
  every seed; the models' seeds differ).
- movielens-posters: the same with a random 20% of movies held out (one split per seed).
- movielens-cutoff: the future as the test, the last five years of ratings
  (from 2013-08): the split for users who arrived after training.
- demo: the demo shop (compact CNN, random weights, 64 px), a random 20% of items cold;
  demo-new: its newest 20% (the last months' arrivals), as movielens-new;
  demo-cutoff: its last 12 weeks as the test.

Segments (recsys.evaluation.protocol): warm (known items only), cold (new items
only) and all: every known user ranks the whole catalog, known and new items
together, as the nightly job does; ``new@20`` is the share of new items in the
top 20, and the script prints their share among the test positives. On the
cutoff splits, new_users: users first seen after the cutoff, folded in from
their first positives (recsys.evaluation.splits.new_user_holdout), rank the
whole catalog; "full retrain" is the hybrid trained again with those histories
(models that cannot fold in users have no such segment).

"least squares only" is the same fitted hybrid ranking as it did before the newness
column (its new items calibrated by least squares alone). "frozen CNN" (``--frozen``) is the hybrid with the CNN's projection head left
untrained (taste_epochs=0). Every model gets the same image embeddings
(MobileNetV2-0.35 ImageNet at 128 px from ../shared/weights on the real data).
Prints one table per dataset (mean and spread over seeds), then each ratio of
the hybrid to a peer with its paired bootstrap 90% interval over test users
(seeds pooled).
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time

import mlflow
import numpy as np
import pandas as pd

from _common import HM_FASHION, MOBILENET_WEIGHTS, MOVIELENS, need

from recsys import tracking
from recsys.data import load_dataset
from recsys.data.demo import write_demo
from recsys.evaluation import fit_and_evaluate, make_split, metric_table
from recsys.evaluation.metrics import paired_bootstrap
from recsys.models import ContentKNN, HybridRecommender, ItemKNN, Popularity, RandomScores, Recommender
from recsys.vision import EncoderConfig, ImageEncoder, embed_dataset

METRICS = ("recall_at_20", "ndcg_at_20", "new_share_at_20")
SEGMENTS = ("warm", "cold", "all", "new_users")
OURS = "recsys hybrid"
RETRAIN = "recsys hybrid, full retrain"
FROZEN = "recsys hybrid, frozen CNN"
BEFORE = "recsys hybrid, least squares only"


class LeastSquaresOnly(Recommender):
    """The fitted hybrid as it ranked before the newness column (recsys.models.newness): its
    vectors without that column, new items unstretched; the least-squares calibration alone."""

    def __init__(self, hybrid=None):
        self.hybrid = hybrid

    def _fit(self, dataset, item_features=None):  # the hybrid was fitted just before, on the same split
        new = ~self.hybrid.warm_items_
        items = self.hybrid.item_vectors_[:, :-1].copy()
        items[new] /= self.hybrid.newness_scale_
        self.user_vectors_, self.item_vectors_ = self.hybrid.user_vectors_[:, :-1], items


def models(seed: int, frozen: bool = False, only: set | None = None) -> dict:
    """The hybrid and every peer installed (``only``: just these peers)."""
    import cold_peers
    import peers

    ours = HybridRecommender(seed=seed)
    out = {OURS: ours, BEFORE: LeastSquaresOnly(ours)} | (
        {FROZEN: HybridRecommender(taste_epochs=0, seed=seed)} if frozen else {})
    out |= {"content_knn": ContentKNN(), "item_knn": ItemKNN(), "popularity": Popularity(),
            "random": RandomScores(seed=seed)}
    if importlib.util.find_spec("implicit"):
        out["implicit ALS"] = peers.ImplicitALS(seed=seed)
    if importlib.util.find_spec("lightfm"):
        out["LightFM WARP"] = peers.LightFMWarp(seed=seed)
    if importlib.util.find_spec("cornac") and importlib.util.find_spec("torch"):
        out["cornac VBPR"] = peers.CornacVBPR(seed=seed)
    if importlib.util.find_spec("torch"):
        out["CLCRec"] = cold_peers.CLCRec(seed=seed)
        out["ALDI"] = cold_peers.ALDI(seed=seed)
    return {name: model for name, model in out.items() if only is None or name.startswith("recsys") or name in only}


def datasets(names):
    mobilenet = ImageEncoder(EncoderConfig("mobilenet_v2", image_size=128, weights=str(MOBILENET_WEIGHTS)))
    for name in names:
        if name == "movielens-cutoff":
            need(MOVIELENS, MOBILENET_WEIGHTS)
            yield name, load_dataset(MOVIELENS), mobilenet, lambda ds, seed: make_split(ds, kind="cutoff", last="260w")
        elif name in ("movielens-posters", "movielens-new"):
            need(MOVIELENS, MOBILENET_WEIGHTS)
            draw = "newest" if name == "movielens-new" else "random"
            yield name, load_dataset(MOVIELENS), mobilenet, lambda ds, seed: make_split(ds, seed=seed, cold_draw=draw)
        elif name == "hm-fashion":
            need(HM_FASHION, MOBILENET_WEIGHTS)
            yield name, load_dataset(HM_FASHION), mobilenet, lambda ds, seed: make_split(ds, kind="cutoff", last="8w")
        elif name in ("demo", "demo-new", "demo-cutoff"):
            path = write_demo(tempfile.mkdtemp(prefix="recsys-demo-") + "/demo")
            encoder = ImageEncoder(EncoderConfig("compact_cnn", image_size=64))
            draw = "newest" if name == "demo-new" else "random"
            yield name, load_dataset(path), encoder, (
                (lambda ds, seed: make_split(ds, kind="cutoff", last="12w")) if name == "demo-cutoff" else
                (lambda ds, seed: make_split(ds, seed=seed, cold_draw=draw)))
        else:
            raise SystemExit(f"unknown dataset {name!r}: expected hm-fashion, demo, demo-new, demo-cutoff, "
                             "movielens-new, movielens-cutoff or movielens-posters")


def fit_all(split, features, seed: int, frozen: bool, only: set | None, per_user: dict) -> pd.DataFrame:
    """Every model fitted on ``split`` and evaluated; on a split with new users, also the hybrid
    retrained with their histories."""
    results = fit_and_evaluate(models(seed, frozen, only), split, features, per_user=per_user)
    if len(split.new_user_test):
        retrained = fit_and_evaluate({RETRAIN: HybridRecommender(seed=seed)}, split.with_new_user_history(),
                                     features, per_user=per_user)
        results = pd.concat([results, retrained], ignore_index=True)
    return results


def paired_ratios(per_user: dict, ours: str, peers: list[str]) -> list[tuple]:
    """``(segment, peer, ratio, low, high, users)`` of NDCG@20, ``ours`` / ``peer``, over the
    users both were tested on (seeds pooled)."""
    rows = []
    for segment in SEGMENTS:
        if segment not in per_user[ours]:
            continue
        mine = per_user[ours][segment].dropna()
        for peer in peers:
            if segment not in per_user[peer]:
                continue  # a peer that cannot fold in users
            theirs = per_user[peer][segment].reindex(mine.index)
            rows.append((segment, peer, *paired_bootstrap(mine.to_numpy(), theirs.to_numpy()), len(mine)))
    return rows


def pooled(per_user_runs: list[dict]) -> dict:
    """``{model: {segment: Series}}`` of NDCG@20 per (run, user) over every run."""
    return {model: {segment: pd.concat([run[model][segment]["ndcg_at_20"] for run in per_user_runs],
                                       keys=range(len(per_user_runs)))
                    for segment in SEGMENTS if segment in per_user_runs[0][model]} for model in per_user_runs[0]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="hm-fashion,demo,demo-new,movielens-new,movielens-posters")
    parser.add_argument("--seeds", default="0,1,2", help="the models' seeds, and the random splits' (a cutoff split "
                                                     "is the same for every seed)")
    parser.add_argument("--frozen", action="store_true", help="also the hybrid with an untrained CNN head")
    parser.add_argument("--models", default=None, help="only these peers, comma-separated (default: every one "
                                                       "installed)")
    parser.add_argument("--store", default=".recsys/embeddings", help="embedding store (reused across runs)")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    only = set(args.models.split(",")) if args.models else None
    tracking.connect("benchmarks")
    summary = []
    with tracking.start_run("benchmark", run_name="cold_start"):
        for name, dataset, encoder, split_of in datasets(args.datasets.split(",")):
            embedded = embed_dataset(dataset, encoder, store_dir=args.store, progress=True)
            runs, per_user_runs, shares = [], [], []
            for seed in seeds:
                split = split_of(dataset, seed)
                started = time.perf_counter()
                per_user = {}
                results = fit_all(split, embedded.vectors, seed, args.frozen, only, per_user)
                runs.append(metric_table(results, METRICS))
                per_user_runs.append(per_user)
                shares.append(results.query("segment == 'all' and metric == 'new_share_of_positives'")["value"].iloc[0])
                print(f"{name} seed {seed}: {split.describe()} ({time.perf_counter() - started:.0f}s)", flush=True)
            stacked = pd.concat(runs, keys=range(len(runs)), names=["run", "model"])
            mean = stacked.groupby(level="model", sort=False).mean()
            spread = stacked.groupby(level="model", sort=False).std().fillna(0.0)
            shown = mean.round(4).astype(str) + (" ± " + spread.round(4).astype(str) if len(runs) > 1 else "")
            print(f"\n{name} ({len(runs)} split(s); mean ± std over seeds; new items are "
                  f"{np.mean(shares):.1%} of the all-catalog test positives)\n{shown.to_string()}\n")
            tracking.log_frame(mean.reset_index(), f"cold_start_{name}.csv")
            peer_rows = [m for m in mean.index if not m.startswith("recsys")]
            ratios = pd.DataFrame(paired_ratios(pooled(per_user_runs), OURS, peer_rows + [BEFORE] + (
                [FROZEN] if args.frozen else []) + ([RETRAIN] if RETRAIN in mean.index else [])),
                columns=["segment", "peer", "ratio", "low", "high", "users"])
            print(f"{name}: hybrid / peer, NDCG@20, paired bootstrap 90% interval over test users\n"
                  f"{ratios.round(3).to_string(index=False)}\n")
            tracking.log_frame(ratios, f"cold_start_{name}_ratios.csv")
            for segment in SEGMENTS:
                col = f"{segment}_ndcg_at_20"
                if col not in mean:
                    continue
                best = mean.loc[peer_rows, col].idxmax()
                row = ratios[(ratios["segment"] == segment) & (ratios["peer"] == best)].iloc[0]
                summary.append((name, segment, mean.loc[OURS, col], best, mean.loc[best, col],
                                mean.loc[OURS, col] / mean.loc[best, col], f"[{row.low:.2f}, {row.high:.2f}]"))
                mlflow.log_metric(f"{name}.{segment}_ndcg_ratio_to_best_peer", summary[-1][5])
            new_share = mean.loc[OURS, "all_new_share_at_20"] / np.mean(shares)
            print(f"{name}: new items in the hybrid's top 20 / among the test positives = {new_share:.2f}x\n")
            mlflow.log_metric(f"{name}.all_new_share_over_positives_share", new_share)
    print(pd.DataFrame(summary, columns=["dataset", "segment", "hybrid NDCG@20", "best peer", "peer NDCG@20",
                                         "hybrid / best peer", "90% interval"]).round(4).to_string(index=False))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
