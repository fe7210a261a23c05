"""Images/s embedding JPEGs from disk (the tf.data pipeline) beside `predict` on the
same images already decoded in memory, and beside `recsys embed --engine spark`'s
path on Spark in local mode (when pyspark and Java are here): same model, same run.

    python benchmarks/embed_throughput.py [--n 2000] [--repeats 3] [--spark-master local[*]]
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import shutil
import time

import numpy as np
from _common import HM, MOBILENET_WEIGHTS, need

import mlflow

from recsys import tracking
from recsys.data import load_dataset
from recsys.data.images import resolve_image_path
from recsys.vision import EncoderConfig, ImageEncoder, embed_files
from recsys.vision.pixels import load_pixels


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--spark-master", default="local[*]")
    args = parser.parse_args()
    need(HM, MOBILENET_WEIGHTS)
    tracking.connect("benchmarks")
    dataset = load_dataset(HM)
    paths = [resolve_image_path(c, dataset.root) for c in dataset.image_paths()[: args.n]]
    encoder = ImageEncoder(EncoderConfig("mobilenet_v2", args.image_size, weights=str(MOBILENET_WEIGHTS)))
    pixels = np.stack([load_pixels(p, args.image_size) for p in paths])  # decoded once, untimed

    on_spark = None
    if importlib.util.find_spec("pyspark") and shutil.which("java"):
        from recsys.spark import session
        from recsys.vision.spark_embed import spark_embed_files

        spark = session(args.spark_master, "embed-throughput")
        spark.sparkContext.setLogLevel("ERROR")
        on_spark = functools.partial(spark_embed_files, spark=spark)
        on_spark(paths[: args.batch_size * 4], encoder, args.batch_size)  # warm-up: workers import TensorFlow
    else:
        print("pyspark or java missing: no Spark row")
    embed_files(paths[: args.batch_size * 2], encoder, args.batch_size)  # warm-up: trace and load
    encoder.encode(pixels[: args.batch_size * 2], args.batch_size)
    rates = {"disk": [], "memory": [], "spark": []}
    for _ in range(args.repeats):  # interleaved, so drift in machine load hits every row alike
        start = time.perf_counter()
        from_disk, _, _ = embed_files(paths, encoder, args.batch_size)
        rates["disk"].append(len(paths) / (time.perf_counter() - start))
        start = time.perf_counter()
        in_memory = encoder.encode(pixels, args.batch_size)
        rates["memory"].append(len(paths) / (time.perf_counter() - start))
        if on_spark:
            start = time.perf_counter()
            from_spark, _, _ = on_spark(paths, encoder, args.batch_size)
            rates["spark"].append(len(paths) / (time.perf_counter() - start))
            assert np.allclose(from_spark, from_disk, atol=1e-5), "Spark must compute the local embeddings"
    assert np.allclose(from_disk, in_memory, atol=1e-4), "both paths must compute the same embeddings"
    d, m = max(rates["disk"]), max(rates["memory"])
    print(f"\n{len(paths)} H&M JPEGs, MobileNetV2-0.35 at {args.image_size} px, batch {args.batch_size}, "
          f"best of {args.repeats}")
    print(f"  from disk (decode + letterbox + CNN, tf.data): {d:8.1f} images/s")
    print(f"  in memory (model.predict on decoded arrays):   {m:8.1f} images/s")
    print(f"  disk / memory: {d / m:.2f}")
    metrics = {"images_per_second_disk": d, "images_per_second_memory": m, "disk_over_memory": d / m}
    if on_spark:
        s = max(rates["spark"])
        print(f"  Spark {args.spark_master} (mapInPandas, encoder loaded per worker): {s:8.1f} images/s, "
              f"{s / d:.2f}x this machine's tf.data path")
        metrics |= {"images_per_second_spark": s, "spark_over_disk": s / d}
    with tracking.start_run("benchmark", run_name="embed_throughput"):
        mlflow.log_params(vars(args))
        mlflow.log_metrics(metrics)


if __name__ == "__main__":
    main()
