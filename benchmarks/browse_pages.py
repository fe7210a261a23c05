"""The explorer's pages at catalog scale: render time of a user page, an item page and
the start page on a model grown to 100k items, against scoring one user alone (one
matrix product and top-K over the same items), in one run.

    python benchmarks/browse_pages.py [--items 100000] [--repeats 20]

The model is the example shop's, trained here in seconds; the extra items are
added as new items from image embeddings drawn around the catalog's own (no
photos), the way `recsys browse --new-items` adds arrivals. Pages are rendered
through Flask's test client, so the time is the app's, not the network's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import add_size_arguments  # noqa: F401  (sets TF_CPP_MIN_LOG_LEVEL before TensorFlow loads)

REPO = Path(__file__).resolve().parents[1]
FAST = "encoder: {name: compact_cnn, image_size: 32, weights: null}\nmodel: {epochs: 5, taste_epochs: 0}\n"


def timed(fn, repeats: int) -> float:
    """Median seconds of ``repeats`` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000, help="items in the grown model")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="browse-bench-"))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp / 'mlflow.db'}"
    from pipelines.cli import main as recsys
    from recsys.bundle import ModelBundle
    from recsys.data import load_dataset
    from recsys.explorer.app import create_app
    from recsys.explorer.explorer import Explorer
    from recsys.scoring import top_k

    (tmp / "fast.yaml").write_text(FAST)
    shop = REPO / "data" / "example-shop"
    assert recsys(["train", str(shop), "--out", str(tmp / "model"), "--config", str(tmp / "fast.yaml"),
                   "--experiment", "benchmarks"]) == 0
    bundle = ModelBundle.load(tmp / "model")
    model = bundle.model
    rng = np.random.default_rng(0)
    extra = args.items - len(model.item_ids_)
    base = bundle.item_vectors[bundle.has_image]
    features = base[rng.integers(0, len(base), extra)] * rng.lognormal(0, 0.1, (extra, base.shape[1]))
    model.add_items([f"X{i:07d}" for i in range(extra)], features.astype(np.float32))
    explorer = Explorer(bundle, load_dataset(shop), k=12)
    client = create_app(explorer).test_client()
    user, item = "U00", "0100"

    def one_user():
        scores = model.user_vectors_[[0]] @ model.item_vectors_.T
        return top_k(scores, 12)

    def page(path):
        def get():
            response = client.get(path)
            assert response.status_code == 200, path
        return get

    rows = [("score one user alone (matmul + top-K)", timed(one_user, args.repeats)),
            (f"user page /users/{user}", timed(page(f"/users/{user}"), args.repeats)),
            (f"item page /items/{item}", timed(page(f"/items/{item}"), args.repeats)),
            ("start page /", timed(page("/"), args.repeats))]
    baseline = rows[0][1]
    print(f"\n{len(model.item_ids_):,} items, {len(model.user_ids_):,} users; median of {args.repeats}")
    print(f"{'what':40s} {'ms':>8s} {'x scoring alone':>16s}")
    for name, seconds in rows:
        print(f"{name:40s} {seconds * 1000:8.1f} {seconds / baseline:16.1f}")


if __name__ == "__main__":
    main()
