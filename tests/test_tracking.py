"""MLflow: the demo's run, the pyfunc model in a fresh process, `mlflow models predict`,
the registry and aliases, a real tracking server, and an unreachable one."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import requests

from conftest import (EXAMPLE_SHOP, FAST_CONFIG, NOISE, RECSYS, REPO, error_of, free_port, in_namespace, one_line_error,
                      wait_until_up)
from pipelines.cli import main
from recsys.bundle import ModelBundle
from recsys.data.demo import DemoConfig, write_demo
from recsys.tracking import resolve_model_dir

#: this environment's mlflow command
BIN_MLFLOW = Path(sys.executable).parent / "mlflow"

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_demo_prints_the_dataset_summary_and_the_warm_and_cold_table(demo_run):
    *_, out, _ = demo_run
    assert "problems found                    0" in out
    for segment in ("warm", "cold", "all"):
        for k in (10, 20):  # each K of the config, every model with intervals and its ratio to the hybrid
            block = out[out.index(f"{segment} @{k} (test users: "):].split("\n\n")[0].splitlines()
            assert f"ndcg@{k} vs hybrid" in block[1] and [line.split()[0] for line in block[2:]] == [
                "hybrid", "cf_only", "image_only", "content_knn", "item_knn", "popularity", "random"]
            assert all(line.count("[") == 4 for line in block[2:])
    assert "new_share@20" in out[out.index("all @20"):]
    # the demo's taste is in its pixels (colour and shape): ranked by their photos alone, its new items beat chance
    signal = out[out.index("Photos and taste"):].split("\n\n")[0]
    assert "The photos carry taste in this catalog" in signal, signal
    # the demo ran outside the repository: the hint names this environment's mlflow by its full path
    assert f"See it with: {BIN_MLFLOW} ui --backend-store-uri {os.environ['MLFLOW_TRACKING_URI']}" in out


def test_the_ui_command_names_this_environments_mlflow(tmp_path, monkeypatch):
    from recsys.tracking import ui_command

    monkeypatch.chdir(BIN_MLFLOW.parents[2])  # the folder that holds the virtual environment
    assert ui_command("sqlite:///mlflow.db") == f"{BIN_MLFLOW.relative_to(BIN_MLFLOW.parents[2])} ui " \
                                                 "--backend-store-uri sqlite:///mlflow.db"
    monkeypatch.chdir(tmp_path)
    assert ui_command("sqlite:///x.db") == f"{BIN_MLFLOW} ui --backend-store-uri sqlite:///x.db"


@pytest.mark.slow
def test_demo_prints_no_tensorflow_mlflow_or_download_noise_and_one_line_per_step(demo_run):
    """stderr is a pipe here, as a file or a CI log is: each progress bar is one line naming
    what it belongs to, not a line per update."""
    *_, err = demo_run
    assert not NOISE.search(err), err
    assert "\r" not in err
    steps = [line for line in err.splitlines() if " in " in line and "/s" in line]
    assert len(steps) == len(set(steps)), err
    assert all(line in steps or line.startswith("warning: ") for line in err.splitlines()), err
    labels = {line.split(": ")[0] for line in steps}
    assert {"demo (compact_cnn)", "hybrid", "cf_only", "image_only", "hybrid on every interaction"} <= labels, labels
    assert any(line.startswith("hybrid on every interaction: training ids: ") for line in steps)


@pytest.mark.slow
def test_demo_top_5_comes_from_the_logged_model_and_holds_no_seen_item(demo_run):
    run, path, out, _ = demo_run
    lines = out[out.index("Top 5 for U0000"):].splitlines()
    assert lines[1].split() == ["user_id", "rank", "item_id", "score", "is_new"]
    printed = [line.split() for line in lines[2:7]]
    assert [row[:2] for row in printed] == [["U0000", str(r)] for r in range(1, 6)]
    interactions = pd.read_csv(path / "interactions.csv", dtype=str)
    had = set(interactions.loc[interactions.user_id == "U0000", "item_id"])
    assert len(had) > 5 and not had & {row[2] for row in printed}
    bundle = ModelBundle.load(resolve_model_dir(f"runs:/{run.info.run_id}/model"))
    assert bundle.info["trained_on"] == "every interaction"
    logged = bundle.model.recommend(["U0000"], k=5)
    assert logged["item_id"].tolist() == [row[2] for row in printed]
    last = pd.Timestamp(interactions["timestamp"].astype(int).max(), unit="s").strftime("%Y-%m-%d")
    arrivals = set(bundle.items.loc[bundle.items["arrival"] > last, "item_id"])
    never_bought = set(bundle.items["item_id"]) - set(interactions["item_id"])
    assert len(arrivals) == 40 and arrivals <= never_bought  # next month's: in the catalog, never bought
    assert [row[4] == "True" for row in printed] == [row[2] in never_bought for row in printed]


@pytest.mark.slow
def test_demo_run_holds_params_metrics_tags_artifacts(demo_run):
    run, demo, *_ = demo_run
    params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
    assert params["encoder.name"] == "compact_cnn" and params["model.loss"] == "softmax"
    assert params["split.cold_share"] == "0.2" and len(params["dataset.content_sha256"]) == 16
    assert params["dataset.interactions"] == str(sum(1 for _ in open(demo / "interactions.csv")) - 1)
    for name in ("warm_ndcg_at_20", "cold_ndcg_at_20", "cold_recall_at_10", "warm_map_at_20",
                 "popularity.warm_ndcg_at_20", "random.cold_ndcg_at_20", "fit_seconds"):
        assert name in metrics, name
    assert metrics["cold_ndcg_at_20"] > metrics["random.cold_ndcg_at_20"]
    client = mlflow.MlflowClient()
    history = client.get_metric_history(run.info.run_id, "train_ids_loss")
    assert [m.step for m in history] == list(range(1, len(history) + 1)) and len(history) > 1
    assert client.get_metric_history(run.info.run_id, "select_ids_val_ndcg_at_20")
    assert tags["recsys.version"] and tags["recsys.job"] == "demo"
    assert len(tags["mlflow.source.git.commit"]) in (40, len("unknown"))
    names = {a.path for a in client.list_artifacts(run.info.run_id)} | \
        {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert {"config.json", "evaluation.csv", "evaluation_table.csv", "item_embeddings.parquet",
            "recommendation_gallery.png", "plots/training_curves.png", "plots/ndcg_at_k.png"} <= names
    gallery = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id,
                                                       artifact_path="recommendation_gallery.png"))
    assert gallery.read_bytes()[:8] == PNG_MAGIC and gallery.stat().st_size > 20_000
    embeddings = pd.read_parquet(mlflow.artifacts.download_artifacts(run_id=run.info.run_id,
                                                                      artifact_path="item_embeddings.parquet"))
    assert len(embeddings) == 520 and embeddings["has_image"].all()
    # artifacts live beside the SQLite store, not in the folder the command ran from
    store = Path(os.environ["MLFLOW_TRACKING_URI"].removeprefix("sqlite:///")).parent
    assert run.info.artifact_uri.startswith((store / "mlruns").as_uri())


@pytest.mark.slow
def test_mlflow_as_a_recommender_team_expects_it(demo_run, tmp_path, capsys):
    """The experiment opens in MLflow's model-training view, the hybrid's headline NDCG sorts
    before every other metric, and the batch jobs print the run they logged."""
    run, demo, *_ = demo_run
    client = mlflow.MlflowClient()
    assert client.get_experiment(run.info.experiment_id).tags["mlflow.experimentKind"] == "custom_model_development"
    metrics = run.data.metrics
    headline = sorted(name for name in metrics if name.startswith("_hybrid."))
    assert headline == sorted(f"_hybrid.{s}_ndcg_at_{k}" for s in ("warm", "cold", "all") for k in (10, 20))
    assert sorted(metrics)[:len(headline)] == headline
    assert metrics["_hybrid.cold_ndcg_at_20"] == metrics["cold_ndcg_at_20"]
    assert metrics["cold_ndcg_at_20_low"] < metrics["cold_ndcg_at_20"] < metrics["cold_ndcg_at_20_high"]
    ratio = "popularity.cold_ndcg_at_20_vs_hybrid"
    assert metrics[f"{ratio}_low"] <= metrics[ratio] <= metrics[f"{ratio}_high"]
    model = f"runs:/{run.info.run_id}/model"
    (tmp_path / "new.png").write_bytes((demo / "images" / "SKU00005.jpg").read_bytes())
    (tmp_path / "items.csv").write_text("item_id,image_path\nBRAND-NEW,new.png\n")
    for job, argv in (("batch_recommend", ["batch-recommend", model, "--out", str(tmp_path / "recs"), "--k", "3"]),
                      ("score_new_items", ["score-new-items", model, str(tmp_path / "items.csv"),
                                           "--out", str(tmp_path / "scored")])):
        assert main(argv + ["--experiment", "demo-test-jobs"]) == 0
        printed = capsys.readouterr().out
        run_id = printed.split("MLflow run ")[1].split()[0]
        assert client.get_run(run_id).data.tags["recsys.job"] == job


@pytest.mark.slow
def test_logged_model_loads_in_a_fresh_process_with_the_same_top_k(demo_run, tmp_path):
    run, *_ = demo_run
    uri = f"runs:/{run.info.run_id}/model"
    bundle = ModelBundle.load(resolve_model_dir(uri))
    users = list(bundle.model.user_ids_[:5])
    expected = bundle.model.recommend(users, k=7)
    script = ("import sys, mlflow, pandas as pd; m = mlflow.pyfunc.load_model(sys.argv[1]); "
              "out = m.predict(pd.DataFrame({'user_id': sys.argv[2].split(',')}), params={'k': 7}); "
              "print(out.to_json(orient='records'))")
    proc = subprocess.run([sys.executable, "-c", script, uri, ",".join(users)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = pd.DataFrame(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert got[["user_id", "rank", "item_id"]].values.tolist() == expected[["user_id", "rank", "item_id"]].values.tolist()
    assert got["score"].values == pytest.approx(expected["score"].values, rel=1e-5)


@pytest.mark.slow
def test_pyfunc_scores_new_items_from_image_bytes_or_paths_under_the_allowed_root(demo_run, monkeypatch):
    run, demo, *_ = demo_run
    model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    photo = demo / "images/SKU00001.jpg"
    as_bytes = pd.DataFrame({"item_id": ["NEW1"], "image_base64": [base64.b64encode(photo.read_bytes()).decode()]})
    by_path = pd.DataFrame({"item_id": ["NEW1", "NEW2"], "image_path": [str(photo), "images/SKU00002.jpg"]})
    monkeypatch.delenv("RECSYS_SERVING_IMAGE_ROOT", raising=False)
    out = model.predict(as_bytes, params={"k": 3})
    assert list(out.columns) == ["user_id", "rank", "item_id", "score"] and out.item_id.tolist() == ["NEW1"] * 3
    with pytest.raises(mlflow.exceptions.MlflowException, match="takes no image paths"):
        model.predict(by_path)  # by default a request cannot make the server read its files
    monkeypatch.setenv("RECSYS_SERVING_IMAGE_ROOT", str(demo))
    out = model.predict(by_path, params={"k": 3})
    assert sorted(out["item_id"].unique()) == ["NEW1", "NEW2"] and out.groupby("item_id").size().tolist() == [3, 3]
    with pytest.raises(mlflow.exceptions.MlflowException, match="outside RECSYS_SERVING_IMAGE_ROOT"):
        model.predict(pd.DataFrame({"item_id": ["X"], "image_path": ["/etc/hostname"]}))


@pytest.mark.slow
def test_mlflow_models_predict_cli(demo_run, tmp_path):
    run, *_ = demo_run
    pd.DataFrame({"user_id": ["U0000", "U0001"]}).to_csv(tmp_path / "in.csv", index=False)
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    proc = subprocess.run([str(mlflow_cli), "models", "predict", "-m", f"runs:/{run.info.run_id}/model",
                           "-i", str(tmp_path / "in.csv"), "-t", "csv", "-o", str(tmp_path / "out.json"),
                           "--env-manager", "local"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    predictions = json.loads((tmp_path / "out.json").read_text())["predictions"]
    assert len(predictions) == 20 and {p["user_id"] for p in predictions} == {"U0000", "U0001"}


@pytest.mark.slow
def test_register_alias_and_recommend_by_alias(tmp_path, capsys):
    data = write_demo(tmp_path / "small", DemoConfig(n_users=60, n_items=80, seed=1))
    config = tmp_path / "fast.yaml"
    config.write_text("encoder: {name: compact_cnn, image_size: 32, weights: null}\nmodel: {epochs: 4}\n")
    assert main(["train", str(data), "--out", str(tmp_path / "model"), "--config", str(config),
                 "--register", "demo-recommender"]) == 0
    assert "registered as demo-recommender version 1" in capsys.readouterr().out
    assert main(["models", "set-alias", "demo-recommender", "champion", "1"]) == 0
    pd.DataFrame({"user_id": ["U0000", "U0003"]}).to_csv(tmp_path / "users.csv", index=False)
    for model in ("models:/demo-recommender@champion", str(tmp_path / "model")):
        out = tmp_path / f"recs-{abs(hash(model))}.parquet"
        assert main(["recommend", model, "--users", str(tmp_path / "users.csv"), "--k", "4", "--out", str(out)]) == 0
        recs = pd.read_parquet(out)
        assert recs.groupby("user_id").size().to_dict() == {"U0000": 4, "U0003": 4}
    # candidates: two known items, one new photo (embedded on the fly), one broken
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "new.jpg").write_bytes((data / "images" / "SKU00005.jpg").read_bytes())
    (tmp_path / "new" / "broken.jpg").write_bytes(b"")
    (tmp_path / "new" / "items.csv").write_text(
        "item_id,image_path\nSKU00001,\nSKU00002,\nBRAND-NEW,new.jpg\nBROKEN,broken.jpg\n")
    out = tmp_path / "cand.parquet"
    assert main(["recommend", str(tmp_path / "model"), "--users", str(tmp_path / "users.csv"), "--k", "5",
                 "--out", str(out), "--candidates", str(tmp_path / "new" / "items.csv")]) == 0
    printed = capsys.readouterr().out
    assert "candidate 'BROKEN' left out: zero-byte file" in printed
    recs = pd.read_parquet(out)
    assert set(recs.item_id) <= {"SKU00001", "SKU00002", "BRAND-NEW"} and "BRAND-NEW" in set(recs.item_id)


@pytest.fixture
def mlflow_server(tmp_path):
    port = free_port()
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    proc = subprocess.Popen([str(mlflow_cli), "server", "--host", "127.0.0.1", "--port", str(port),
                             "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
                             "--artifacts-destination", str(tmp_path / "artifacts"), "--workers", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_until_up(url + "/health", proc)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.mark.slow
def test_train_against_a_real_tracking_server(mlflow_server, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    data = write_demo(tmp_path / "small", DemoConfig(n_users=60, n_items=80, seed=2))
    config = tmp_path / "fast.json"
    config.write_text(json.dumps({"encoder": {"name": "compact_cnn", "image_size": 32, "weights": None},
                                  "model": {"epochs": 3}}))
    assert main(["train", str(data), "--out", str(tmp_path / "model"), "--config", str(config),
                 "--experiment", "over-http"]) == 0
    mlflow.set_tracking_uri(mlflow_server)
    run = mlflow.search_runs(experiment_names=["over-http"], output_format="list")[0]
    assert run.data.params["model.epochs"] == "3" and "fit_seconds" in run.data.metrics
    assert mlflow.MlflowClient().get_metric_history(run.info.run_id, "train_ids_loss")
    model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    out = model.predict(pd.DataFrame({"user_id": ["U0000"]}), params={"k": 5})
    assert out["rank"].tolist() == [1, 2, 3, 4, 5]


def test_unreachable_tracking_server_fails_fast_before_training(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    data = write_demo(tmp_path / "small", DemoConfig(n_users=20, n_items=30, seed=3))
    started = time.perf_counter()
    code = main(["train", str(data), "--out", str(tmp_path / "model")])
    err = capsys.readouterr().err
    assert code == 2 and "cannot be reached" in err and "Traceback" not in err
    assert time.perf_counter() - started < 15
    assert not (tmp_path / "model").exists()


@pytest.mark.slow
def test_credentials_in_the_tracking_uri_are_never_stored_printed_or_shown(mlflow_server, tmp_path, monkeypatch):
    """A token in MLFLOW_TRACKING_URI (user info, as for basic auth) reaches the server
    but no file recsys writes, no line it prints, no artifact it logs and no explorer page."""
    token = "s3cr3t-T0KEN"
    uri = mlflow_server.replace("http://", f"http://alice:{token}@")
    env = os.environ | {"MLFLOW_TRACKING_URI": uri}
    recsys_cli = str(Path(sys.executable).with_name("recsys"))
    fast = tmp_path / "fast.yaml"
    fast.write_text(FAST_CONFIG)
    trained = subprocess.run([recsys_cli, "train", str(REPO / "data" / "example-shop"), "--out",
                              str(tmp_path / "model"), "--config", str(fast), "--experiment", "with-token"],
                             capture_output=True, text=True, env=env, timeout=300)
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert token not in trained.stdout + trained.stderr and "alice" not in trained.stdout + trained.stderr
    written = [p.read_bytes() for p in (tmp_path / "model").rglob("*") if p.is_file()]
    assert written and not any(token.encode() in data for data in written)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)  # set_tracking_uri exports it: restored after
    mlflow.set_tracking_uri(mlflow_server)
    run = mlflow.search_runs(experiment_names=["with-token"], output_format="list")[0]
    logged = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, dst_path=str(tmp_path / "logged")))
    texts = [p.read_bytes() for p in logged.rglob("*.json")]
    assert len(texts) >= 2 and not any(token.encode() in data for data in texts)  # bundle.json, bundle_info.json
    assert not any(token in str(v) for v in run.data.params.values())

    # the explorer's model page links the run, without the token
    port = free_port()
    proc = subprocess.Popen([recsys_cli, "browse", str(tmp_path / "model"), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/", proc)
        page = requests.get(f"http://127.0.0.1:{port}/model", timeout=30).text
        assert run.info.run_id in page and mlflow_server in page and token not in page
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert token not in out + err

    # an unreachable server's error names the server, not the token
    dead = f"http://alice:{token}@127.0.0.1:{free_port()}"
    failed = subprocess.run([recsys_cli, "train", str(REPO / "data" / "example-shop"), "--out",
                             str(tmp_path / "other")], capture_output=True, text=True,
                            env=env | {"MLFLOW_TRACKING_URI": dead}, timeout=120)
    assert failed.returncode == 2 and "cannot be reached" in failed.stderr
    assert token not in failed.stderr + failed.stdout and "Traceback" not in failed.stderr


# -- unusable tracking stores ------------------------------------------------------------------
@pytest.mark.slow
def test_a_read_only_tracking_store_is_one_line(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    (tmp_path / "fast.yaml").write_text(FAST_CONFIG)
    script = (f"mount --bind {store} {store} && mount -o remount,bind,ro {store} && "
              f"MLFLOW_TRACKING_URI=sqlite:///{store}/mlflow.db '{RECSYS}' train '{EXAMPLE_SHOP}' --out m "
              "--config fast.yaml")
    done = in_namespace(script, tmp_path)
    line = one_line_error(done)
    assert "is read-only" in line and str(store) in line


def test_a_file_store_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"file://{tmp_path}/mlruns")
    line = error_of(["train", EXAMPLE_SHOP, "--out", tmp_path / "m"], capsys)
    assert "MLflow tracking store file://" in line and "maintenance mode" in line


def test_recommend_from_an_unreachable_registry_fails_in_seconds(tmp_path, monkeypatch, capsys):
    (tmp_path / "users.csv").write_text("user_id\nU00\n")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    started = time.perf_counter()
    line = error_of(["recommend", "models:/shop@champion", "--users", tmp_path / "users.csv", "--out",
                     tmp_path / "r.parquet"], capsys)
    assert "cannot be reached" in line and time.perf_counter() - started < 30
