"""Cold start and warm ranking on every dataset we have, peers in the same run, one set of defaults.

    pip install -e ".[bench]"   # implicit, cornac (+ torch for VBPR); LightFM: see benchmarks/README.md
    python benchmarks/cold_start.py [--seeds 0,1,2] [--datasets movielens-posters,hm-fashion,demo]

- movielens-posters: 20% of the interacted movies held out cold (ranked among
  cold movies), each user's latest 20% of the rest warm; one split per seed.
- hm-fashion: the future as the test: purchases of the last 8 weeks; items
  first sold then are the cold ones (ranked among all of them).
- demo: the demo shop (compact CNN, random weights, 64 px), 20% of items cold.

"recsys hybrid" trains the CNN's projection head on behaviour (the taste
profile space of new items); "frozen CNN" keeps it untrained (taste_epochs=0).

Every model gets the same image embeddings (MobileNetV2-0.35 ImageNet at
128 px from ../shared/weights on the real data). Prints one table per
dataset (mean and spread over seeds) and the hybrid / best peer ratios.
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
from recsys.models import ContentKNN, HybridRecommender, ItemKNN, Popularity, RandomScores
from recsys.vision import EncoderConfig, ImageEncoder, embed_dataset

METRICS = ("recall_at_20", "ndcg_at_20")
OURS = "recsys hybrid"
FROZEN = "recsys hybrid, frozen CNN"


def models(seed: int) -> dict:
    import peers

    out = {OURS: HybridRecommender(seed=seed), FROZEN: HybridRecommender(taste_epochs=0, seed=seed),
           "content_knn": ContentKNN(), "item_knn": ItemKNN(), "popularity": Popularity(),
           "random": RandomScores(seed=seed)}
    if importlib.util.find_spec("implicit"):
        out["implicit ALS"] = peers.ImplicitALS(seed=seed)
    if importlib.util.find_spec("lightfm"):
        out["LightFM WARP"] = peers.LightFMWarp(seed=seed)
    if importlib.util.find_spec("cornac") and importlib.util.find_spec("torch"):
        out["cornac VBPR"] = peers.CornacVBPR(seed=seed)
    return out


def datasets(names):
    mobilenet = ImageEncoder(EncoderConfig("mobilenet_v2", image_size=128, weights=str(MOBILENET_WEIGHTS)))
    for name in names:
        if name == "movielens-posters":
            need(MOVIELENS, MOBILENET_WEIGHTS)
            yield name, load_dataset(MOVIELENS), mobilenet, lambda ds, seed: make_split(ds, seed=seed)
        elif name == "hm-fashion":
            need(HM_FASHION, MOBILENET_WEIGHTS)
            yield name, load_dataset(HM_FASHION), mobilenet, lambda ds, seed: make_split(ds, kind="cutoff", last="8w")
        elif name == "demo":
            path = write_demo(tempfile.mkdtemp(prefix="recsys-demo-") + "/demo")
            encoder = ImageEncoder(EncoderConfig("compact_cnn", image_size=64))
            yield name, load_dataset(path), encoder, lambda ds, seed: make_split(ds, seed=seed)
        else:
            raise SystemExit(f"unknown dataset {name!r}: expected movielens-posters, hm-fashion or demo")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="hm-fashion,demo,movielens-posters")
    parser.add_argument("--seeds", default="0,1,2", help="seeds of the random splits (the cutoff split has one)")
    parser.add_argument("--store", default=".recsys/embeddings", help="embedding store (reused across runs)")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    tracking.connect("benchmarks")
    summary = []
    with tracking.start_run("benchmark", run_name="cold_start"):
        for name, dataset, encoder, split_of in datasets(args.datasets.split(",")):
            embedded = embed_dataset(dataset, encoder, store_dir=args.store, progress=True)
            runs = []
            for seed in (seeds if name != "hm-fashion" else seeds[:1]):
                split = split_of(dataset, seed)
                started = time.perf_counter()
                results = fit_and_evaluate(models(seed), split, embedded.vectors)
                table = metric_table(results, METRICS)
                runs.append(table)
                print(f"{name} seed {seed}: {split.describe()} ({time.perf_counter() - started:.0f}s)", flush=True)
            stacked = pd.concat(runs, keys=range(len(runs)), names=["run", "model"])
            mean = stacked.groupby(level="model", sort=False).mean()
            spread = stacked.groupby(level="model", sort=False).std().fillna(0.0)
            shown = mean.round(4).astype(str) + (" ± " + spread.round(4).astype(str) if len(runs) > 1 else "")
            print(f"\n{name} ({len(runs)} split(s); mean ± std over seeds)\n{shown.to_string()}\n")
            tracking.log_frame(mean.reset_index(), f"cold_start_{name}.csv")
            peer_rows = [m for m in mean.index if not m.startswith("recsys")]
            for segment in ("warm", "cold"):
                col = f"{segment}_ndcg_at_20"
                best = mean.loc[peer_rows, col].idxmax()
                ratio = mean.loc[OURS, col] / mean.loc[best, col]
                summary.append((name, segment, mean.loc[OURS, col], best, mean.loc[best, col], ratio))
                mlflow.log_metric(f"{name}.{segment}_ndcg_ratio_to_best_peer", ratio)
            trained = mean.loc[OURS, "cold_ndcg_at_20"] / mean.loc[FROZEN, "cold_ndcg_at_20"]
            print(f"{name}: cold NDCG@20 trained CNN / frozen CNN = {trained:.3f}x\n")
            mlflow.log_metric(f"{name}.cold_ndcg_trained_over_frozen", trained)
    print(pd.DataFrame(summary, columns=["dataset", "segment", "hybrid NDCG@20", "best peer", "peer NDCG@20",
                                         "hybrid / best peer"]).round(4).to_string(index=False))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
