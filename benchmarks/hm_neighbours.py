"""Do an item's 10 nearest neighbours share its product type? CNN vs colour histogram vs random.

    python benchmarks/hm_neighbours.py [--limit N]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
from _common import HM, MOBILENET_WEIGHTS, need

import mlflow

from recsys import tracking
from recsys.data import load_dataset
from recsys.data.images import resolve_image_path
from recsys.vision import EncoderConfig, ImageEncoder, SimilarItems, embed_dataset
from recsys.vision.pixels import load_pixels


def colour_histograms(dataset, bins: int = 8, size: int = 64) -> np.ndarray:
    """Joint RGB histogram (bins^3) of each letterboxed image: a pixels-only baseline."""
    out = np.zeros((dataset.n_items, bins ** 3), np.float32)
    for i, cell in enumerate(dataset.image_paths()):
        pixels = load_pixels(resolve_image_path(cell, dataset.root), size)
        q = (pixels.reshape(-1, 3).astype(np.int32) * bins) // 256
        out[i] = np.bincount(q[:, 0] * bins * bins + q[:, 1] * bins + q[:, 2], minlength=bins ** 3)
    return np.sqrt(out)  # Hellinger-style: damp the white background's weight


def neighbour_agreement(vectors: np.ndarray, labels: np.ndarray, item_ids, k: int = 10) -> float:
    idx, _ = SimilarItems(item_ids, vectors).neighbours(item_ids, k)
    return float((labels[idx] == labels[:, None]).mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=None, help="use the first N articles only")
    args = parser.parse_args()
    need(HM, MOBILENET_WEIGHTS)
    tracking.connect("benchmarks")
    dataset = load_dataset(HM)
    if args.limit:
        dataset = dataset.__class__.from_frames(dataset.interactions.iloc[:0], dataset.items.iloc[:args.limit],
                                                dataset.root, name=dataset.name, layout=dataset.layout)
    labels = dataset.items["product_type_name"].to_numpy()
    ids = dataset.item_ids
    rows = []
    start = time.perf_counter()
    encoder = ImageEncoder(EncoderConfig("mobilenet_v2", image_size=128, weights=str(MOBILENET_WEIGHTS)))
    with tempfile.TemporaryDirectory() as store:
        cnn = embed_dataset(dataset, encoder, store_dir=store, progress=True).vectors
    rows.append(("MobileNetV2-0.35 ImageNet (128 px)", neighbour_agreement(cnn, labels, ids), time.perf_counter() - start))
    start = time.perf_counter()
    hist = colour_histograms(dataset)
    rows.append(("colour histogram (8x8x8 RGB)", neighbour_agreement(hist, labels, ids), time.perf_counter() - start))
    start = time.perf_counter()
    rand = np.random.default_rng(0).normal(size=(dataset.n_items, 64)).astype(np.float32)
    rows.append(("random embeddings", neighbour_agreement(rand, labels, ids), time.perf_counter() - start))

    print(f"\nH&M articles: {dataset.n_items} items, {len(set(labels))} product types")
    print("share of each item's 10 nearest neighbours (centred cosine) with the same product_type_name\n")
    print(f"{'embedding':38s} {'agreement':>9s} {'vs random':>9s} {'seconds':>8s}")
    for name, score, seconds in rows:
        print(f"{name:38s} {score:9.3f} {score / rows[2][1]:8.1f}x {seconds:8.1f}")
    print(f"\nCNN / colour histogram: {rows[0][1] / rows[1][1]:.2f}x")
    with tracking.start_run("benchmark", run_name="hm_neighbours"):
        mlflow.log_params({"items": dataset.n_items, "k": 10})
        mlflow.log_metrics({"agreement_cnn": rows[0][1], "agreement_colour_histogram": rows[1][1],
                            "agreement_random": rows[2][1]})


if __name__ == "__main__":
    main()
