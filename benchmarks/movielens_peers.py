"""The hybrid against peer libraries on MovieLens posters, one protocol, one run.

    pip install -e ".[bench]"   # implicit, cornac (+ torch for VBPR); LightFM: see benchmarks/README.md
    python benchmarks/movielens_peers.py [--models hybrid,implicit_als,...]

Split: 20% of the interacted movies held out cold (ranked among cold movies
only); each user's latest 20% of the rest is the warm test (seen items
excluded). Positives: rating >= 4. Every model gets the same MobileNetV2
poster embeddings (local ImageNet weights, 128 px).
"""

from __future__ import annotations

import argparse
import importlib.util
import time

import mlflow

from _common import MOBILENET_WEIGHTS, MOVIELENS, need

from recsys import tracking
from recsys.data import load_dataset
from recsys.evaluation import fit_and_evaluate, make_split, metric_table
from recsys.models import ContentKNN, HybridRecommender, Popularity, RandomScores
from recsys.vision import EncoderConfig, ImageEncoder, embed_dataset

METRICS = ("recall_at_20", "ndcg_at_20")


def candidate_models() -> dict:
    import peers

    models = {
        "recsys hybrid": lambda: HybridRecommender(),
        "recsys cf only": lambda: HybridRecommender(use_images=False),
        "recsys image only": lambda: HybridRecommender(use_ids=False),
        "content_knn": ContentKNN,
        "popularity": Popularity,
        "random": RandomScores,
    }
    if importlib.util.find_spec("implicit"):
        models["implicit ALS"] = peers.ImplicitALS
        models["implicit BPR"] = peers.ImplicitBPR
    if importlib.util.find_spec("cornac") and importlib.util.find_spec("torch"):
        models["cornac VBPR"] = peers.CornacVBPR
    if importlib.util.find_spec("lightfm"):
        models["LightFM WARP"] = peers.LightFMWarp
    return models


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=None, help="comma-separated subset of the model names")
    parser.add_argument("--store", default=".recsys/embeddings", help="embedding store (reused across runs)")
    args = parser.parse_args()
    need(MOVIELENS, MOBILENET_WEIGHTS)
    tracking.connect("benchmarks")
    dataset = load_dataset(MOVIELENS)
    encoder = ImageEncoder(EncoderConfig("mobilenet_v2", image_size=128, weights=str(MOBILENET_WEIGHTS)))
    embedded = embed_dataset(dataset, encoder, store_dir=args.store, progress=True)
    print(embedded.summary())
    split = make_split(dataset, warm="temporal", test_share=0.2, cold_share=0.2, seed=0)
    print(split.describe())

    factories = candidate_models()
    chosen = factories if args.models is None else {n: factories[n] for n in args.models.split(",")}
    missing = sorted(set(["implicit ALS", "cornac VBPR", "LightFM WARP"]) - set(factories))
    if missing:
        print(f"not installed, left out: {', '.join(missing)}")
    started = time.perf_counter()
    with tracking.start_run("benchmark", run_name="movielens_peers"):
        results = fit_and_evaluate({name: make() for name, make in chosen.items()}, split, embedded.vectors)
        table = metric_table(results, METRICS)
        mlflow.log_params(tracking.dataset_fingerprint(dataset) | {"models": ",".join(chosen), **split.describe()})
        tracking.log_results(results, main_model="recsys hybrid")
        tracking.log_frame(table, "evaluation_table.csv")
    print(f"\nMovieLens posters, {len(chosen)} models in {time.perf_counter() - started:.0f}s "
          "(warm: temporal holdout; cold: 20% of movies unseen in training)\n")
    print(table.round(4).to_string())

    peers = [n for n in table.index if not n.startswith("recsys")]
    if "recsys hybrid" in table.index and peers:
        for segment in ("warm", "cold"):
            col = f"{segment}_ndcg_at_20"
            best = table.loc[peers, col].idxmax()
            ratio = table.loc["recsys hybrid", col] / table.loc[best, col]
            print(f"{segment} NDCG@20: hybrid / best peer ({best}) = {ratio:.2f}x")
    return table, results


if __name__ == "__main__":
    main()
