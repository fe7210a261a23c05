"""The README's Python block runs, on the committed example shop."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from conftest import NOISE, REPO


@pytest.mark.slow
def test_readme_python_block_runs(tmp_path):
    text = (REPO / "README.md").read_text()
    block = re.search(r"## Python API\n\n```python\n(.*?)```", text, re.S).group(1)
    (tmp_path / "data").symlink_to(REPO / "data")
    done = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not NOISE.search(done.stderr), done.stderr  # importing recsys loads TensorFlow quietly
    out = done.stdout
    # the top-3, the new photo's ranking, after loading, the model of given factors
    assert out.count("user_id  rank item_id") == 4
    assert "NEW-1" in out and "similar_item_id" in out and "True False" in out
    assert "    a     1       x" in out and "    b     1       y" in out  # a's best is x, b's is y
    assert (tmp_path / "model" / "model.json").exists()


def test_readme_config_block_loads(tmp_path):
    from pipelines.config import load_config

    text = (REPO / "README.md").read_text()
    block = re.search(r"hyperparameters, the split and the K values:\n\n```yaml\n(.*?)```", text, re.S).group(1)
    (tmp_path / "run.yaml").write_text(block)
    config = load_config(tmp_path / "run.yaml")
    assert config.encoder.name == "mobilenet_v2" and config.model["id_dropout"] == 0.3
    assert config.split.test_share == 0.2 and config.ks == (10, 20)
