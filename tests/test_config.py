"""Run configs (pipelines.config): bad JSON, unknown keys, wrong types and ranges are one line before
any work; YAML reads as meant."""

from __future__ import annotations

import time

import pytest

from conftest import EXAMPLE_SHOP, error_of



def test_bad_json_and_unknown_keys_in_a_config_are_named(tmp_path, capsys):
    (tmp_path / "broken.json").write_text('{"model": {"epochs": 3,}')
    assert "broken.json: cannot be parsed" in error_of(
        ["train", EXAMPLE_SHOP, "--out", tmp_path / "m", "--config", tmp_path / "broken.json"], capsys)
    (tmp_path / "typo.yaml").write_text("model: {epoch: 3}\n")
    assert "unknown key(s) ['epoch']" in error_of(
        ["train", EXAMPLE_SHOP, "--out", tmp_path / "m", "--config", tmp_path / "typo.yaml"], capsys)


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


def test_config_files_are_checked(tmp_path):
    from pipelines.config import load_config

    (tmp_path / "c.yaml").write_text("model: {factors: 8, epochz: 3}\n")
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['epochz'\]"):
        load_config(tmp_path / "c.yaml")
    (tmp_path / "c.json").write_text('{"encoder": {"name": "compact_cnn", "image_size": 32}, "ks": [5]}')
    config = load_config(tmp_path / "c.json")
    assert config.encoder.name == "compact_cnn" and config.ks == (5,) and config.encoder.weights is None
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json: cannot be parsed"):
        load_config(tmp_path / "bad.json")
