"""The batch job on Spark (local mode) writes exactly what the single-machine job writes."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from conftest import EXAMPLE_SHOP
from pipelines.cli import main as recsys_cli
from recsys.batch import batch_recommend
from recsys.io import MARKER
from recsys.models import Recommender

pytest.importorskip("pyspark", reason="the Spark engine needs the `spark` extra (pyspark)")
if shutil.which("java") is None:
    pytest.skip("the Spark engine needs Java 17 (no `java` on PATH)", allow_module_level=True)

from recsys.spark import session, spark_batch_recommend  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spark():
    spark = session("local[2]")
    spark.sparkContext.setLogLevel("ERROR")
    yield spark
    spark.stop()


def synthetic_model(n_users=2_500, n_items=1_500, factors=16, seen_per_user=6, seed=0):
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(n_users), seen_per_user)
    seen = sp.csr_matrix((np.ones(len(rows)), (rows, rng.integers(0, n_items, len(rows)))), shape=(n_users, n_items))
    return Recommender.from_factors([f"u{i:05d}" for i in range(n_users)], [f"i{i:05d}" for i in range(n_items)],
                                    rng.normal(size=(n_users, factors)).astype(np.float32),
                                    rng.normal(size=(n_items, factors)).astype(np.float32), seen)


def assert_same_recommendations(left_dir, right_dir):
    left, right = (pd.read_parquet(d).sort_values(["user_id", "rank"]).reset_index(drop=True)
                   for d in (left_dir, right_dir))
    assert list(left.columns) == list(right.columns) == ["user_id", "rank", "item_id", "score", "is_new"]
    assert left[["user_id", "rank", "item_id", "is_new"]].equals(right[["user_id", "rank", "item_id", "is_new"]])
    np.testing.assert_allclose(left.score, right.score, rtol=1e-5, atol=1e-5)
    return left


def test_spark_output_equals_single_machine_output(spark, tmp_path):
    model = synthetic_model()
    allowed = np.random.default_rng(1).random(len(model.item_ids_)) > 0.2
    local = batch_recommend(model, tmp_path / "local", k=15, allowed=allowed, chunk=300)
    (tmp_path / "spark").mkdir()
    (tmp_path / "spark" / "stale.parquet").write_text("an older output, replaced as a whole")
    (tmp_path / "spark" / MARKER).write_text('{"files": ["stale.parquet"]}')  # recsys wrote it: it may go
    stats = spark_batch_recommend(model, tmp_path / "spark", k=15, allowed=allowed, chunk=300, spark=spark,
                                  partitions=5)
    recs = assert_same_recommendations(tmp_path / "local", tmp_path / "spark")
    assert stats.rows == local.rows == len(recs) == 2_500 * 15 and stats.users == 2_500
    assert not (tmp_path / "spark" / "stale.parquet").exists()
    assert not list(tmp_path.glob(".spark.tmp-*")), "the temporary folder was left behind"
    # a list of users
    some = list(model.user_ids_[[7, 3, 2_000]])
    spark_batch_recommend(model, tmp_path / "some", users=some, k=5, spark=spark)
    assert sorted(pd.read_parquet(tmp_path / "some").user_id.unique()) == sorted(some)


def test_cli_engine_spark_equals_engine_local(spark, shop_bundle, tmp_path):
    _, bundle = shop_bundle
    bundle.save(tmp_path / "model")
    common = ["batch-recommend", str(tmp_path / "model"), "--k", "4", "--exclude-where", "colour=red"]
    assert recsys_cli(common + ["--out", str(tmp_path / "local")]) == 0
    assert recsys_cli(common + ["--out", str(tmp_path / "spark"), "--engine", "spark"]) == 0
    recs = assert_same_recommendations(tmp_path / "local", tmp_path / "spark")
    assert not recs.item_id.str.startswith("red-").any()


def test_cli_spark_folds_in_new_users_as_the_local_engine_does(older_model, tmp_path):
    model_dir, inter, _ = older_model
    common = ["batch-recommend", str(model_dir), "--k", "4", "--data", str(EXAMPLE_SHOP)]
    assert recsys_cli(common + ["--out", str(tmp_path / "local")]) == 0
    assert recsys_cli(common + ["--out", str(tmp_path / "spark"), "--engine", "spark"]) == 0
    recs = assert_same_recommendations(tmp_path / "local", tmp_path / "spark")
    assert set(recs.user_id) == set(inter.user_id)


def test_cli_spark_that_cannot_start_is_a_clear_error(shop_bundle, tmp_path):
    _, bundle = shop_bundle
    bundle.save(tmp_path / "model")
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "batch-recommend", str(tmp_path / "model"),
                           "--out", str(tmp_path / "recs"), "--engine", "spark", "--spark-master", "nonsense://x"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "recsys batch-recommend: error: Spark did not start (master nonsense://x)" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "recs").exists()


def test_a_model_with_sparse_factors_is_refused_before_spark_starts(tmp_path):
    from recsys.data import Dataset
    from recsys.models import ItemKNN

    dataset = Dataset.from_frames(pd.DataFrame({"user_id": ["u1", "u1", "u2"], "item_id": ["a", "b", "a"]}),
                                  pd.DataFrame({"item_id": ["a", "b"], "image_path": ""}), tmp_path)
    with pytest.raises(ValueError, match="ItemKNN's are sparse"):
        spark_batch_recommend(ItemKNN().fit(dataset), tmp_path / "out", spark=object())


def test_spark_embed_writes_the_store_the_local_embed_writes(spark, demo_path, tmp_path):
    from functools import partial

    from recsys.data import load_dataset
    from recsys.vision import EncoderConfig, ImageEncoder, embed_dataset
    from recsys.vision.spark_embed import spark_embed_files
    from recsys.vision.store import EmbeddingStore
    from conftest import MOBILENET_WEIGHTS

    dataset = load_dataset(demo_path)
    weights = str(MOBILENET_WEIGHTS) if MOBILENET_WEIGHTS.exists() else None
    encoder = ImageEncoder(EncoderConfig("mobilenet_v2", 64, weights=weights))
    on_spark = partial(spark_embed_files, spark=spark, partitions=3)
    local = embed_dataset(dataset, encoder, store_dir=tmp_path / "local", batch_size=16)
    remote = embed_dataset(dataset, encoder, store_dir=tmp_path / "spark", batch_size=16, embed=on_spark)
    assert remote.embedded == local.embedded == dataset.n_items and remote.skipped == local.skipped
    assert remote.cnn_batches >= local.cnn_batches  # each partition batches its own share
    assert local.vectors.std(axis=0).mean() > 1e-3, "a degenerate encoder would make the comparison empty"
    np.testing.assert_allclose(remote.vectors, local.vectors, atol=1e-5, rtol=0)
    (local_rows, local_vectors), (spark_rows, spark_vectors) = (
        EmbeddingStore(tmp_path / d, encoder.fingerprint()).load() for d in ("local", "spark"))
    order = spark_rows.set_index("item_id").index.get_indexer(local_rows["item_id"])
    assert (order >= 0).all() and len(spark_rows) == len(local_rows)
    assert spark_rows["sha1"].to_numpy()[order].tolist() == local_rows["sha1"].tolist()
    np.testing.assert_allclose(spark_vectors[order], local_vectors, atol=1e-5, rtol=0)
    again = embed_dataset(dataset, encoder, store_dir=tmp_path / "spark", embed=on_spark)  # incremental
    assert (again.embedded, again.reused) == (0, dataset.n_items)


def test_cli_embed_engine_spark(spark, demo_path, tmp_path):
    common = ["embed", str(demo_path), "--encoder", "compact_cnn", "--image-size", "32", "--weights", "none"]
    assert recsys_cli(common + ["--store", str(tmp_path / "spark"), "--engine", "spark", "--partitions", "2"]) == 0
    assert recsys_cli(common + ["--store", str(tmp_path / "local")]) == 0
    (spark_store,), (local_store,) = (list((tmp_path / d).glob("*.parquet")) for d in ("spark", "local"))
    assert spark_store.name == local_store.name  # the same encoder fingerprint
    spark_rows, local_rows = (pd.read_parquet(p).sort_values("item_id").reset_index(drop=True)
                              for p in (spark_store, local_store))
    assert spark_rows[["item_id", "sha1"]].equals(local_rows[["item_id", "sha1"]])
    np.testing.assert_allclose(np.stack(spark_rows.embedding), np.stack(local_rows.embedding), atol=1e-5, rtol=0)
