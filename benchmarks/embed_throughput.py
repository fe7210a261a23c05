"""Images/s embedding JPEGs from disk (the tf.data pipeline) beside `predict` on the
same images already decoded in memory: same model, same run.

    python benchmarks/embed_throughput.py [--n 2000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import HM, MOBILENET_WEIGHTS, need

import mlflow

from recsys import tracking
from recsys.data import load_dataset
from recsys.data.images import resolve_image_path
from recsys.vision import EncoderConfig, ImageEncoder, embed_files
from recsys.vision.images import load_pixels


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=128)
    args = parser.parse_args()
    need(HM, MOBILENET_WEIGHTS)
    tracking.connect("benchmarks")
    dataset = load_dataset(HM)
    paths = [resolve_image_path(c, dataset.root) for c in dataset.image_paths()[: args.n]]
    encoder = ImageEncoder(EncoderConfig("mobilenet_v2", args.image_size, weights=str(MOBILENET_WEIGHTS)))
    pixels = np.stack([load_pixels(p, args.image_size) for p in paths])  # decoded once, untimed

    embed_files(paths[: args.batch_size * 2], encoder, args.batch_size)  # warm-up: trace and load
    encoder.encode(pixels[: args.batch_size * 2], args.batch_size)
    disk, memory = [], []
    for _ in range(args.repeats):  # interleaved, so drift in machine load hits both alike
        start = time.perf_counter()
        from_disk, _, _ = embed_files(paths, encoder, args.batch_size)
        disk.append(len(paths) / (time.perf_counter() - start))
        start = time.perf_counter()
        in_memory = encoder.encode(pixels, args.batch_size)
        memory.append(len(paths) / (time.perf_counter() - start))
    assert np.allclose(from_disk, in_memory, atol=1e-4), "both paths must compute the same embeddings"
    d, m = max(disk), max(memory)
    print(f"\n{len(paths)} H&M JPEGs, MobileNetV2-0.35 at {args.image_size} px, batch {args.batch_size}, "
          f"best of {args.repeats}")
    print(f"  from disk (decode + letterbox + CNN, tf.data): {d:8.1f} images/s")
    print(f"  in memory (model.predict on decoded arrays):   {m:8.1f} images/s")
    print(f"  disk / memory: {d / m:.2f}")
    with tracking.start_run("benchmark", run_name="embed_throughput"):
        mlflow.log_params(vars(args))
        mlflow.log_metrics({"images_per_second_disk": d, "images_per_second_memory": m, "disk_over_memory": d / m})


if __name__ == "__main__":
    main()
