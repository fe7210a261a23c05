"""Batch jobs: output schema, seen items, filters, atomic output under a kill, new-item scoring."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import error_of, write_image
from pipelines.cli import main
from recsys.batch import batch_recommend, exclusion_mask, score_new_items
from recsys.bundle import ModelBundle
from recsys.data.demo import draw_item
from recsys.photo_scoring import log_partition
from recsys.scoring import chunked_top_k, top_k
from recsys.vision import EncoderConfig

ENCODER = EncoderConfig("compact_cnn", image_size=32)


def test_chunked_top_k_matches_one_big_top_k(rng):
    users, items = rng.normal(size=(103, 8)).astype(np.float32), rng.normal(size=(57, 8)).astype(np.float32)
    whole, _ = top_k(users @ items.T, 5)
    parts = np.vstack([idx for _, idx, _ in chunked_top_k(users, items, 5, chunk=10)])
    assert np.array_equal(parts, whole)


def test_chunked_log_partition_matches_the_whole_matrix(rng):
    users, items = rng.normal(size=(23, 6)).astype(np.float32), rng.normal(size=(40, 6)).astype(np.float32)
    expected = np.log(np.exp((users @ items.T).astype(np.float64)).sum(axis=1))
    np.testing.assert_allclose(log_partition(users, items, chunk=5), expected, rtol=1e-5)


def test_batch_output_schema_ranks_seen_and_filters(shop_bundle, tmp_path):
    dataset, bundle = shop_bundle
    model = bundle.model
    not_red = ~exclusion_mask(bundle.items, model.item_ids_, [("colour", "red")])
    stats = batch_recommend(model, tmp_path / "out", k=6, allowed=not_red, chunk=7)
    recs = pd.read_parquet(tmp_path / "out")
    assert list(recs.columns) == ["user_id", "rank", "item_id", "score", "is_new"]
    assert (recs["is_new"] == ~model.warm_items_[model.item_index(recs["item_id"])]).all()
    assert stats.parts == int(np.ceil(dataset.n_users / 7)) and stats.rows == len(recs) == dataset.n_users * 6
    assert (recs.groupby("user_id")["rank"].apply(list) == [list(range(1, 7))] * dataset.n_users).all()
    seen = set(zip(dataset.interactions.user_id, dataset.interactions.item_id))
    assert not any(pair in seen for pair in zip(recs.user_id, recs.item_id))
    assert not recs.item_id.str.startswith("red-").any()
    # the same top-K as the in-memory API
    expected = model.recommend(list(dataset.user_ids), k=6, candidates=list(model.item_ids_[not_red]))
    assert recs.sort_values(["user_id", "rank"])[["user_id", "item_id"]].values.tolist() == \
        expected.sort_values(["user_id", "rank"])[["user_id", "item_id"]].values.tolist()
    with pytest.raises(ValueError, match="unknown item column 'size'"):
        exclusion_mask(bundle.items, model.item_ids_, [("size", "XL")])


KILLABLE_JOB = """
import sys, numpy as np, scipy.sparse as sp
from recsys.batch import batch_recommend
from recsys.models import Recommender
rng = np.random.default_rng(0)
n_users, n_items = 400_000, 3_000
model = Recommender.from_factors([f"u{i}" for i in range(n_users)], [f"i{i}" for i in range(n_items)],
    rng.normal(size=(n_users, 32)).astype(np.float32), rng.normal(size=(n_items, 32)).astype(np.float32),
    sp.csr_matrix((np.ones(3 * n_users), (np.repeat(np.arange(n_users), 3), rng.integers(0, n_items, 3 * n_users))),
                  shape=(n_users, n_items)))
batch_recommend(model, sys.argv[1], k=10, chunk=2_000)
"""


def test_killed_run_leaves_no_partial_output_and_rerun_completes(tmp_path):
    out = tmp_path / "recs"
    proc = subprocess.Popen([sys.executable, "-c", KILLABLE_JOB, str(out)])
    deadline = time.time() + 120
    while time.time() < deadline and not list(tmp_path.glob(".recs.tmp-*/part-00002.parquet")):
        time.sleep(0.05)
    assert proc.poll() is None, "the job finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists(), "a partial output appeared under the target name"
    small = KILLABLE_JOB.replace("400_000", "5_000")
    subprocess.run([sys.executable, "-c", small, str(out)], check=True, timeout=300)
    assert pd.read_parquet(out)["user_id"].nunique() == 5_000


def test_new_red_item_is_first_for_a_red_lover(shop_bundle, tmp_path):
    _, bundle = shop_bundle
    rng = np.random.default_rng(5)
    for colour in ("red", "blue", "green"):
        draw_item(colour, "star", "solid", rng).save(tmp_path / f"{colour}.png")
    items = pd.DataFrame({"item_id": ["NEW-red", "NEW-blue", "NEW-green", "NEW-broken"],
                          "image_path": ["red.png", "blue.png", "green.png", "broken.png"]})
    (tmp_path / "broken.png").write_bytes(b"")
    result = score_new_items(bundle, items, tmp_path, tmp_path / "out", n_users=5, k=2, n_similar=3)
    assert dict(result.skipped_items) == {"NEW-broken": "zero-byte file"}
    per_user = pd.read_parquet(tmp_path / "out" / "user_top_items.parquet")
    assert per_user.query("user_id == 'user-00' and rank == 1").item_id.tolist() == ["NEW-red"]
    per_item = pd.read_parquet(tmp_path / "out" / "item_top_users.parquet")
    assert per_item.groupby("item_id")["rank"].apply(list).to_dict() == {
        f"NEW-{c}": [1, 2, 3, 4, 5] for c in ("blue", "green", "red")}
    similar = pd.read_parquet(tmp_path / "out" / "similar_items.parquet")
    assert similar.query("item_id == 'NEW-red' and rank == 1").similar_item_id.str.startswith("red-").all()


def test_a_known_id_among_new_items_keeps_its_learned_vector(shop_bundle, tmp_path):
    """score-new-items scores a listed id the model knows as recommend --candidates does
    (its learned vector), not from the photo given with it (a blue photo under a red id)."""
    _, bundle = shop_bundle
    model = bundle.model
    known = str(model.item_ids_[0])
    draw_item("blue", "star", "solid", np.random.default_rng(5)).save(tmp_path / "blue.png")
    items = pd.DataFrame({"item_id": [known, "NEW-blue"], "image_path": ["blue.png", "blue.png"]})
    score_new_items(bundle, items, tmp_path, tmp_path / "out", n_users=3, k=2, n_similar=3)
    per_item = pd.read_parquet(tmp_path / "out" / "user_top_items.parquet")
    scored = per_item[per_item.item_id == known].set_index("user_id")["score"]
    learned = model.score(scored.index.tolist(), [known])[:, 0]
    np.testing.assert_allclose(scored.to_numpy(), learned, rtol=1e-5)
    from_photo = per_item[per_item.item_id == "NEW-blue"].set_index("user_id")["score"].reindex(scored.index)
    assert not np.allclose(scored.to_numpy(), from_photo.to_numpy())  # the photo alone scores differently


@pytest.mark.slow
def test_mlproject_entry_point_runs_the_batch_job(shop_bundle, tmp_path):
    _, bundle = shop_bundle
    bundle.save(tmp_path / "model")
    repo = Path(__file__).resolve().parents[1]
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}  # `recsys` on PATH
    proc = subprocess.run([str(mlflow_cli), "run", str(repo), "-e", "batch_recommend", "-P", f"model={tmp_path / 'model'}",
                           "-P", f"out={tmp_path / 'recs'}", "-P", "k=3", "--env-manager", "local"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    recs = pd.read_parquet(tmp_path / "recs")
    assert recs.groupby("user_id").size().eq(3).all() and recs.user_id.nunique() == len(bundle.model.user_ids_)


def test_new_items_join_the_bundle_catalog(shop_bundle, tmp_path):
    """After ``add_new_items`` the bundle's catalog (similar items, metadata) holds what
    the model can now rank (it used to grow the model only)."""
    bundle = ModelBundle.load(shop_bundle[1].save(tmp_path / "bundle"))
    write_image(tmp_path / "new" / "n.png", (210, 40, 40))
    bundle.add_new_items(pd.DataFrame({"item_id": ["new-red", "new-red"], "image_path": ["n.png", "n.png"]}),
                         tmp_path / "new")
    assert list(bundle.item_ids).count("new-red") == 1 and len(bundle.item_ids) == len(bundle.item_vectors)
    assert len(bundle.similar().similar_items(["new-red"], k=3)) == 3
    assert "new-red" in set(bundle.items["item_id"])


@pytest.mark.slow
def test_batch_recommend_ranks_new_arrivals_beside_the_known_items_and_marks_them(demo_run, tmp_path, capsys):
    """`batch-recommend --new-items` on the demo's logged model: the arrivals are embedded once and
    ranked with the catalog; ``is_new`` marks them; a known id in the arrivals table stays known."""
    from pipelines.cli import main
    from recsys import tracking

    run, demo, *_ = demo_run
    rng = np.random.default_rng(7)
    arrivals = [f"NEW{n:03d}" for n in range(24)]
    for n, item in enumerate(arrivals):
        draw_item(["red", "blue", "green"][n % 3], ["circle", "star"][n % 2], "solid", rng).save(
            tmp_path / f"{item}.jpg")
    pd.DataFrame({"item_id": arrivals + ["SKU00001"],
                  "image_path": [f"{i}.jpg" for i in arrivals] + [str(demo / "images/SKU00002.jpg")]}).to_csv(
        tmp_path / "arrivals.csv", index=False)
    uri = f"runs:/{run.info.run_id}/model"
    assert main(["batch-recommend", uri, "--out", str(tmp_path / "recs"), "--k", "10",
                 "--new-items", str(tmp_path / "arrivals.csv")]) == 0
    assert "24 arrivals ranked with the catalog" in capsys.readouterr().out
    recs = pd.read_parquet(tmp_path / "recs")
    assert list(recs.columns) == ["user_id", "rank", "item_id", "score", "is_new"]
    model = ModelBundle.load(tracking.resolve_model_dir(uri)).model
    known = set(model.item_ids_[model.warm_items_])
    assert "SKU00001" in known and not set(arrivals) & set(model.item_ids_)  # no arrival is a known item
    assert recs.loc[recs.item_id.isin(arrivals), "is_new"].all()
    assert not recs.loc[recs.item_id.isin(known), "is_new"].any()
    mixed = recs.groupby("user_id")["is_new"].agg(["any", "all"])
    assert (mixed["any"] & ~mixed["all"]).any(), "no user got arrivals beside known items"
    known_score = model.score(["U0000"], ["SKU00001"])[0, 0]  # its learned vector, not its (other) photo
    row = recs[(recs.user_id == "U0000") & (recs.item_id == "SKU00001")]
    assert row.empty or row.score.iloc[0] == pytest.approx(known_score, rel=1e-5)


def test_batch_recommend_skips_unknown_users_when_asked(example_model, tmp_path, capsys):
    (tmp_path / "users.csv").write_text("user_id\nU00\nNOBODY\n")
    args = ["batch-recommend", str(example_model), "--users", str(tmp_path / "users.csv"), "--k", "2",
            "--out", str(tmp_path / "recs")]
    assert "1 user(s) unknown to the model and without a history, e.g. ['NOBODY']" in error_of(args, capsys)
    assert main(args + ["--skip-unknown-users"]) == 0
    assert set(pd.read_parquet(tmp_path / "recs").user_id) == {"U00"}
