"""The batch top-K job on Apache Spark: users partitioned across executors,
item factors broadcast, the same kernel as on one machine.

Each row of the user table carries what scoring a user needs (its factor
vector and the positions of the items it has seen), so executors never hold
more than one partition of users; the item factors and the allow-list are
broadcast once per executor. ``pyspark`` comes with the ``spark`` extra.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.batch import BatchStats, user_rows
from recsys.scoring import DEFAULT_CHUNK
from recsys.io import atomic_path
from recsys.scoring import chunked_top_k, new_items, ranked_frame

OUTPUT_SCHEMA = "user_id string, rank int, item_id string, score float, is_new boolean"


def session(master: str | None = None, app_name: str = "recsys-batch-recommend"):
    """The active Spark session, or a new one (``master`` default: ``local[*]``,
    unless ``spark-submit`` set one)."""
    from pyspark.sql import SparkSession

    # local-mode workers are Python processes: run them with this interpreter (it has recsys)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (SparkSession.builder.appName(app_name)
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .config("spark.ui.showConsoleProgress", "true"))  # the job's progress bar: tasks done per stage
    if master:
        builder = builder.master(master)
    return builder.getOrCreate()


def user_table(model, rows: np.ndarray, exclude_seen: bool) -> pd.DataFrame:
    """One row per user: ``user_id``, ``vector`` (its factors), ``seen`` (positions of its seen items)."""
    seen = model.seen_[rows].tocsr() if exclude_seen else None
    return pd.DataFrame({
        "user_id": model.user_ids_[rows].astype(str),
        "vector": list(np.asarray(model.user_vectors_[rows], np.float32)),
        "seen": ([np.empty(0, np.int32)] * len(rows) if seen is None
                 else np.split(seen.indices.astype(np.int32), seen.indptr[1:-1])),
    })


def score_partitions(item_vectors, item_ids, k: int, allowed, chunk: int, new):
    """The ``mapInPandas`` function: user batches in, ``user_id, rank, item_id, score, is_new`` out.

    ``item_vectors``, ``item_ids``, ``allowed`` and ``new`` are broadcast variables.
    """
    def score(batches):
        items, ids, is_new = item_vectors.value, item_ids.value, new.value
        for users in batches:
            if users.empty:
                continue
            lengths = users["seen"].map(len).to_numpy()
            seen = sp.csr_matrix(
                (np.ones(lengths.sum(), np.float32),
                 np.concatenate([np.asarray(s, np.int64) for s in users["seen"]] + [np.empty(0, np.int64)]),
                 np.concatenate([[0], np.cumsum(lengths)])),
                shape=(len(users), len(ids)))
            vectors = np.stack(users["vector"].to_numpy()).astype(np.float32)
            owners = users["user_id"].to_numpy()
            for start, idx, val in chunked_top_k(vectors, items, k, seen, allowed.value, chunk):
                yield ranked_frame(owners[start:start + len(idx)], "user_id", ids, "item_id", idx, val, is_new)

    return score


def spark_batch_recommend(model, out_dir, users=None, k: int = 20, allowed: np.ndarray | None = None,
                          exclude_seen: bool = True, chunk: int = DEFAULT_CHUNK, spark=None,
                          partitions: int | None = None, overwrite: bool = False) -> BatchStats:
    """:func:`recsys.batch.batch_recommend` on Spark: the same rows, written as a
    folder of Parquet parts by Spark's writer.

    A local ``out_dir`` is replaced atomically (Spark writes beside it, then one
    rename). A URI (``hdfs://``, ``s3a://``, ...) is written with Spark's
    ``overwrite`` mode and its committer, which marks a finished job with ``_SUCCESS``.
    """
    if sp.issparse(model.user_vectors_) or sp.issparse(model.item_vectors_):
        raise ValueError(f"the Spark engine ships dense factors to its executors; {type(model).__name__}'s are "
                         "sparse: use recsys.batch.batch_recommend")
    rows = user_rows(model, users, k)
    spark = spark or session()
    started = time.perf_counter()
    context = spark.sparkContext
    score = score_partitions(context.broadcast(np.asarray(model.item_vectors_, np.float32)),
                             context.broadcast(np.asarray(model.item_ids_).astype(str)), k,
                             context.broadcast(allowed), chunk, context.broadcast(new_items(model)))
    frame = spark.createDataFrame(user_table(model, rows, exclude_seen),
                                  "user_id string, vector array<float>, seen array<int>")
    if partitions:
        frame = frame.repartition(partitions)
    result = frame.mapInPandas(score, OUTPUT_SCHEMA)
    if urlparse(str(out_dir)).scheme in ("", "file"):
        target = Path(urlparse(str(out_dir)).path)
        with atomic_path(target, directory=True, overwrite=overwrite, kind="recommendations") as tmp:
            result.write.mode("overwrite").parquet(tmp.resolve().as_uri())
            n_rows, parts = _count_rows(tmp)
    else:
        result.write.mode("overwrite").parquet(str(out_dir))
        written = spark.read.parquet(str(out_dir))
        n_rows, parts = written.count(), len(written.inputFiles())
    return BatchStats(users=len(rows), rows=n_rows, seconds=time.perf_counter() - started, parts=parts)


def _count_rows(folder: Path) -> tuple[int, int]:
    """Rows and parts of a local Parquet folder, from the file footers."""
    import pyarrow.parquet as pq

    files = sorted(folder.glob("part-*.parquet"))
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files), len(files)
