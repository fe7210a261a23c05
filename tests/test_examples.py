"""The committed example shop and the README's Python block: what a user copies first."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from pipelines.cli import main
from recsys.data import load_dataset
from tests.conftest import REPO

EXAMPLE = REPO / "data" / "example-shop"


def test_example_shop_validates_with_zero_problems(capsys):
    assert main(["data", "validate", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"problems found\s+0\n", out), out
    assert re.search(r"with a usable image\s+36\n", out), out


def test_example_shop_follows_the_data_contract():
    ds = load_dataset(EXAMPLE)
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (12, 36, 72)
    assert ds.item_ids[0] == "0100"  # leading zero kept as written
    assert ds.positive_mask.sum() == (ds.interactions["rating"] >= 4).sum() == 60
    # each user's positives share one colour, the known answer
    liked = ds.positives().merge(ds.items[["item_id", "colour"]], on="item_id")
    assert (liked.groupby("user_id")["colour"].nunique() == 1).all()
    assert ds.interactions["timestamp"].min() >= 1.7e9


@pytest.mark.slow
def test_readme_python_block_runs(tmp_path):
    text = (REPO / "README.md").read_text()
    block = re.search(r"## Python API\n\n```python\n(.*?)```", text, re.S).group(1)
    (tmp_path / "data").symlink_to(REPO / "data")
    done = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert out.count("user_id  rank item_id") == 3  # the top-3, the new photo's ranking, after loading
    assert "NEW-1" in out and "similar_item_id" in out
    assert (tmp_path / "model" / "model.json").exists()
