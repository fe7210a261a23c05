"""Image reads (recsys.data.images): devices, FIFOs, loops, long names and the size cap are per-item
problems, never crashes or hangs; 16-bit PNGs are scaled."""

from __future__ import annotations

import os
import shutil
import time

import numpy as np
import pytest
from PIL import Image

from conftest import EXAMPLE_SHOP
from pipelines.cli import main
from recsys.data.images import load_rgb


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
