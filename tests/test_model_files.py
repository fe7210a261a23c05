"""Model directories read back (recsys.models.files, recsys.bundle): a newer format, unknown keys,
truncated, non-finite, misshapen, blocking, ballooning or tampered files are named in one line and
never used."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import error_of


@pytest.fixture
def model_copy(example_model, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(example_model, copy)
    (tmp_path / "users.csv").write_text("user_id\nU00\n")
    return copy


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
