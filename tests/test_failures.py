"""Bad input and a hostile environment: one line and exit 2, nothing lost, nothing hung.
Image reads (devices, FIFOs, loops, long names, size cap, 16-bit PNGs), the files
recsys reads back, full disks, unusable tracking stores, offline weights."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import FAST_CONFIG as FAST, REPO, free_port, write_dataset
from pipelines.cli import main
from recsys.data.images import load_rgb

EXAMPLE_SHOP = REPO / "data" / "example-shop"
RECSYS = Path(sys.executable).with_name("recsys")


def recsys(*args, cwd=None, env=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([str(RECSYS), *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env=None if env is None else os.environ | env)


def one_line_error(done: subprocess.CompletedProcess) -> str:
    """The single error line of a failed command (exit 2, no traceback)."""
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1, done.stderr
    return errors[0]


# -- image reads ------------------------------------------------------------------------
def test_dev_zero_and_a_fifo_among_candidates_are_reported_and_the_rest_ranked(example_model, tmp_path, capsys):
    os.mkfifo(tmp_path / "stuck.png")
    shutil.copy(EXAMPLE_SHOP / "images" / "0100.png", tmp_path / "good.png")
    (tmp_path / "items.csv").write_text("item_id,image_path\nZERO,/dev/zero\nFIFO,stuck.png\nGOOD,good.png\n0101,\n")
    (tmp_path / "users.csv").write_text("user_id\nU00\nU01\n")
    started = time.perf_counter()
    assert main(["recommend", str(example_model), "--users", str(tmp_path / "users.csv"), "--k", "2",
                 "--out", str(tmp_path / "r.parquet"), "--candidates", str(tmp_path / "items.csv")]) == 0
    assert time.perf_counter() - started < 30
    out = capsys.readouterr().out
    assert "candidate 'ZERO' left out: not a regular file" in out
    assert "candidate 'FIFO' left out: not a regular file" in out
    import pandas as pd

    assert set(pd.read_parquet(tmp_path / "r.parquet").item_id) == {"GOOD", "0101"}


def test_unreadable_paths_are_per_item_problems_not_crashes(tmp_path, monkeypatch, capsys):
    root = tmp_path / "shop"
    shutil.copytree(EXAMPLE_SHOP, root)
    (root / "images" / "loop.png").symlink_to(root / "images" / "loop.png")
    (root / "images" / "dir.png").mkdir()
    (root / "images" / "big.png").write_bytes(b"\x89PNG" + b"\0" * (2 * 2**20))
    items = (root / "items.csv").read_text().splitlines()
    rows = {"0100": "images/loop.png", "0101": "images/0102.png/x.png", "0102": "images/" + "n" * 300 + ".png",
            "0103": "images/dir.png", "0104": "images/big.png"}
    lines = [items[0]] + [next((f"{i},{rows[i]}" for i in rows if line.startswith(i + ",")), line)
                          for line in items[1:]]
    (root / "items.csv").write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("RECSYS_MAX_IMAGE_MB", "1")
    assert main(["data", "validate", str(root)]) == 0
    out = capsys.readouterr().out
    assert "item '0100': cannot be read" in out and "item '0101': cannot be read" in out
    assert "item '0102': cannot be read" in out and "File name too long" in out
    assert "item '0103': not a regular file" in out and "item '0104': file too large" in out
    assert "with a usable image            31" in out
    # the same items are skipped, not fatal, when embedding
    assert main(["embed", str(root), "--encoder", "compact_cnn", "--image-size", "32",
                 "--store", str(tmp_path / "store")]) == 0
    assert "embedded 31" in capsys.readouterr().out


def test_16_bit_grayscale_is_scaled_not_clipped(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (16, 1))
    Image.fromarray(ramp).save(tmp_path / "ramp16.png")
    rgb, mode = load_rgb(tmp_path / "ramp16.png")
    pixels = np.asarray(rgb)[:, :, 0].astype(float)
    assert mode.startswith("I")
    assert pixels[0] == pytest.approx(np.linspace(0, 255, 64), abs=1)
    assert (pixels == 255).mean() < 0.05  # was 99.6% white when clipped


# -- files recsys reads back ------------------------------------------------------------------
@pytest.fixture
def model_copy(example_model, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(example_model, copy)
    (tmp_path / "users.csv").write_text("user_id\nU00\n")
    return copy


def error_of(args: list, capsys) -> str:
    """The one error line of ``recsys ARGS`` run in this process (a traceback would fail the test)."""
    assert main([str(a) for a in args]) == 2, args
    errors = [line for line in capsys.readouterr().err.splitlines() if ": error: " in line]
    assert len(errors) == 1, errors
    return errors[0]


@pytest.fixture
def recommend_with(capsys):
    def run(model_dir: Path) -> str:
        return error_of(["recommend", model_dir, "--users", model_dir.parent / "users.csv", "--k", "2",
                         "--out", model_dir.parent / "r.parquet"], capsys)
    return run


def edit_json(path: Path, change) -> None:
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))


def test_a_model_of_a_newer_format_is_named(model_copy, recommend_with):
    edit_json(model_copy / "model" / "model.json", lambda m: m.update(format=99))
    assert "model.json: written by a newer recsys (format 99" in recommend_with(model_copy)


def test_an_unknown_key_in_the_model_is_named(model_copy, recommend_with):
    edit_json(model_copy / "model" / "model.json", lambda m: m["params"].update(warp_drive=1))
    assert "model.json: unknown parameter(s) ['warp_drive']" in recommend_with(model_copy)


def test_a_truncated_arrays_file_is_named(model_copy, recommend_with):
    arrays = model_copy / "model" / "arrays.npz"
    arrays.write_bytes(arrays.read_bytes()[: arrays.stat().st_size // 2])
    assert "arrays.npz: truncated or corrupt" in recommend_with(model_copy)


def test_non_finite_or_misshapen_arrays_are_named(model_copy, recommend_with):
    path = model_copy / "item_embeddings.npz"
    with np.load(path) as a:
        arrays = dict(a)
    arrays["vectors"][3, 0] = np.nan
    np.savez(path, **arrays)
    assert "item_embeddings.npz: array 'vectors' holds NaN" in recommend_with(model_copy)
    arrays["vectors"] = np.zeros((5, arrays["vectors"].shape[1]), np.float32)
    np.savez(path, **arrays)
    assert "array 'vectors' has 5 rows, expected 36" in recommend_with(model_copy)


def test_model_files_that_block_or_balloon_are_refused_unread(model_copy, example_model, recommend_with):
    bundle_json = model_copy / "bundle.json"
    bundle_json.unlink()
    os.mkfifo(bundle_json)  # a plain open would wait forever for a writer
    assert "bundle.json: not a regular file" in recommend_with(model_copy)
    bundle_json.unlink()
    shutil.copy(example_model / "bundle.json", bundle_json)
    model_json = model_copy / "model" / "model.json"
    model_json.unlink()
    model_json.symlink_to("/dev/zero")  # endless bytes
    assert "model.json: not a regular file" in recommend_with(model_copy)
    model_json.unlink()
    shutil.copy(example_model / "model" / "model.json", model_json)
    arrays = model_copy / "model" / "arrays.npz"
    with zipfile.ZipFile(arrays, "a", compression=zipfile.ZIP_DEFLATED) as archive, \
            archive.open("padding.npy", "w", force_zip64=True) as member:
        np.lib.format.write_array(member, np.zeros(300 * 2**20, np.uint8))  # 300 MB packed into 0.3 MB
    assert arrays.stat().st_size < 5 * 2**20
    assert "arrays.npz: holds an array 'padding' this format does not name" in recommend_with(model_copy)
    with np.load(example_model / "model" / "arrays.npz") as a:
        saved = dict(a)
    np.savez_compressed(arrays, **(saved | {"seen_indices": np.zeros(100 * 2**20, np.int32)}))
    assert "array 'seen_indices' unpacks to 419,430,528 bytes from" in recommend_with(model_copy)


def test_tampered_model_values_are_named_not_used(model_copy, example_model, recommend_with):
    model_json = model_copy / "model" / "model.json"
    edit_json(model_json, lambda m: m.update(params=None))
    assert "model.json: 'params' must be a JSON object, found null" in recommend_with(model_copy)
    edit_json(model_json, lambda m: m.update(params=[1, 2]))
    assert "'params' must be a JSON object, found list" in recommend_with(model_copy)
    edit_json(model_json, lambda m: m.pop("params"))
    assert "model.json: missing key 'params'" in recommend_with(model_copy)
    shutil.copy(example_model / "model" / "model.json", model_json)
    arrays = model_copy / "model" / "arrays.npz"
    with np.load(example_model / "model" / "arrays.npz") as a:
        saved = dict(a)
    np.savez(arrays, **(saved | {"seen_indices": saved["seen_indices"] + len(saved["item_ids"])}))
    assert "seen_indices holds item indices outside 0..35" in recommend_with(model_copy)
    np.savez(arrays, **(saved | {"user_vectors": saved["user_vectors"] * np.float32(1e30)}))
    assert "user_vectors hold values up to" in recommend_with(model_copy)
    np.savez(arrays, **saved)
    embeddings = model_copy / "item_embeddings.npz"
    with np.load(embeddings) as a:
        vectors = dict(a)
    np.savez(embeddings, **(vectors | {"vectors": vectors["vectors"][:, :7]}))
    assert "item_embeddings.npz: vectors are (7,) wide, but the encoder in" in recommend_with(model_copy)


def test_bad_json_and_unknown_keys_in_a_config_are_named(tmp_path, capsys):
    (tmp_path / "broken.json").write_text('{"model": {"epochs": 3,}')
    assert "broken.json: cannot be parsed" in error_of(
        ["train", EXAMPLE_SHOP, "--out", tmp_path / "m", "--config", tmp_path / "broken.json"], capsys)
    (tmp_path / "typo.yaml").write_text("model: {epoch: 3}\n")
    assert "unknown key(s) ['epoch']" in error_of(
        ["train", EXAMPLE_SHOP, "--out", tmp_path / "m", "--config", tmp_path / "typo.yaml"], capsys)


# -- the environment -------------------------------------------------------------------------
@pytest.mark.parametrize("text, named", [
    ("ks: 10\n", "`ks` must be a list, got 10"),
    ("model: {epochs: many}\n", "[model] `epochs` must be an integer, got 'many'"),
    ("model: {learning_rate: fast}\n", "[model] `learning_rate` must be a number, got 'fast'"),
    ("model: {learning_rate: -0.1}\n", "[model] `learning_rate` must be > 0, got -0.1"),
    ("positive_threshold: high\n", "`positive_threshold` must be a number, got 'high'"),
    ("encoder: {image_size: big}\n", "[encoder] `image_size` must be an integer, got 'big'"),
    ("model: {use_ids: 1}\n", "[model] `use_ids` must be true or false, got 1"),
])
def test_config_values_of_the_wrong_type_or_range_are_one_line_before_any_work(text, named, tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text(text)
    started = time.perf_counter()
    line = error_of(["train", EXAMPLE_SHOP, "--out", tmp_path / "m", "--config", tmp_path / "bad.yaml"], capsys)
    assert "bad.yaml" in line and named in line
    assert time.perf_counter() - started < 10 and not (tmp_path / "m").exists()  # before embedding or training


def test_an_empty_model_section_and_yaml_exponents_are_read_as_meant(tmp_path):
    from pipelines.config import load_config

    (tmp_path / "ok.yaml").write_text("model:\nencoder:\n")
    assert load_config(tmp_path / "ok.yaml").model == {}
    (tmp_path / "lr.yaml").write_text("model: {learning_rate: 1e-3}\n")  # YAML 1.1 reads 1e-3 as a string
    assert load_config(tmp_path / "lr.yaml").model == {"learning_rate": 0.001}


def test_unusable_datasets_and_caches_are_named_before_any_embedding(tmp_path, capsys):
    from recsys.vision.store import EmbeddingStore

    (tmp_path / "fast.yaml").write_text(FAST + f"store: {tmp_path / 'store'}\n")
    train = ["train", None, "--out", tmp_path / "m", "--config", tmp_path / "fast.yaml"]
    semicolons = write_dataset(tmp_path / "semi", "user_id;item_id\nu1;A\n", "item_id;image_path\nA;a.png\n")
    assert "recsys reads comma-separated CSV" in error_of(train[:1] + [semicolons] + train[2:], capsys)
    one_item = write_dataset(tmp_path / "one", "user_id,item_id\nu1,A\nu2,A\n")
    assert "positives on 1 item only" in error_of(train[:1] + [one_item] + train[2:], capsys)
    no_positive = write_dataset(tmp_path / "low", "user_id,item_id,rating\nu1,A,1\nu2,B,2\n")
    assert "no positive interactions to learn from (rating >= 4)" in error_of(
        train[:1] + [no_positive] + train[2:], capsys)
    assert not (tmp_path / "store").exists()  # nothing was embedded
    # a cache of another width, then a corrupt one: each says to delete it
    assert main(["embed", str(EXAMPLE_SHOP), "--encoder", "compact_cnn", "--image-size", "32", "--weights", "none",
                 "--store", str(tmp_path / "store")]) == 0
    cache = next((tmp_path / "store").glob("*.parquet"))
    store = EmbeddingStore(tmp_path / "store", cache.stem)
    frame, vectors = store.load()
    store.save(frame, vectors[:, :3])
    assert "holds 3-d vectors, but this encoder makes" in error_of(train[:1] + [EXAMPLE_SHOP] + train[2:], capsys)
    cache.write_bytes(b"not parquet")
    assert "the embedding cache is unreadable (" in error_of(train[:1] + [EXAMPLE_SHOP] + train[2:], capsys)
    assert "delete it" in error_of(train[:1] + [EXAMPLE_SHOP] + train[2:], capsys)
    copy = tmp_path / "shop"
    shutil.copytree(EXAMPLE_SHOP, copy)
    assert "inside the dataset folder" in error_of(["embed", copy, "--store", copy / "cache"], capsys)
    assert not (copy / "cache").exists()


def test_batch_recommend_skips_unknown_users_when_asked(example_model, tmp_path, capsys):
    (tmp_path / "users.csv").write_text("user_id\nU00\nNOBODY\n")
    args = ["batch-recommend", str(example_model), "--users", str(tmp_path / "users.csv"), "--k", "2",
            "--out", str(tmp_path / "recs")]
    assert "1 user(s) unknown to the model and without a history, e.g. ['NOBODY']" in error_of(args, capsys)
    assert main(args + ["--skip-unknown-users"]) == 0
    assert set(pd.read_parquet(tmp_path / "recs").user_id) == {"U00"}


def in_namespace(script: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run ``script`` as root of a private user and mount namespace (for tmpfs and read-only mounts)."""
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True)
    if shutil.which("unshare") is None or probe.returncode != 0:
        pytest.skip("needs unshare (user and mount namespaces) to make a full or read-only file system")
    return subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)


def test_a_full_disk_is_one_line_and_leaves_the_users_files(example_model, tmp_path):
    (tmp_path / "users.csv").write_text("user_id\n" + "".join(f"U{u:02d}\n" for u in range(12)))
    disk = tmp_path / "disk"
    disk.mkdir()
    script = (f"mount -t tmpfs -o size=8k tmpfs {disk} && head -c 6000 /dev/urandom > {disk}/keep.bin && "
              f"'{RECSYS}' recommend '{example_model}' --users users.csv --k 30 --out {disk}/recs.parquet; "
              f"echo exit=$?; ls -a {disk}; md5sum {disk}/keep.bin")
    done = in_namespace(script, tmp_path)
    assert "exit=2" in done.stdout, done.stderr[-2000:]
    assert "No space left on device" in done.stderr and "Traceback" not in done.stderr, done.stderr
    listing = done.stdout.split("exit=2")[1]
    assert "keep.bin" in listing and "recs.parquet" not in listing and ".tmp-" not in listing


def test_a_read_only_tracking_store_is_one_line(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    (tmp_path / "fast.yaml").write_text(FAST)
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


def test_missing_imagenet_weights_offline_fail_before_any_run(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    line = one_line_error(recsys("train", EXAMPLE_SHOP, "--out", tmp_path / "m", "--image-size", "96", cwd=tmp_path,
                                 env={"KERAS_HOME": str(tmp_path / "keras"), "MLFLOW_TRACKING_URI": uri,
                                      "https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}))
    assert "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5" in line
    assert f"{tmp_path / 'keras' / 'models'}" in line and "--weights FILE.h5" in line and "compact_cnn" in line
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # mlflow.set_tracking_uri sets it too: restored after the test
    mlflow.set_tracking_uri(uri)
    assert mlflow.search_runs(search_all_experiments=True).empty
    assert not (tmp_path / "m").exists()


def test_a_bug_keeps_its_traceback(monkeypatch):
    import pipelines.validate

    def broken(args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(pipelines.validate, "run", broken)
    with pytest.raises(ZeroDivisionError):
        main(["data", "validate", str(EXAMPLE_SHOP)])
