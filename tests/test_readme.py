"""Every README shell block marked runnable runs as written, in order, in a copy of the
repository: `<!-- runnable -->` blocks must exit 0; `<!-- runnable: server URL -->` blocks
start a server that must answer URL, and stay up (on 127.0.0.1) until the last block ran."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess

import pandas as pd
import pytest

from conftest import NOISE, REPO, wait_until_up

RUNNABLE = re.compile(r"<!-- runnable(?:: server (\S+))? -->\n```bash\n(.*?)```", re.S)


def readme_blocks() -> list[tuple[str | None, str]]:
    """``[(server URL or None, the block's text)]`` in README order."""
    return RUNNABLE.findall((REPO / "README.md").read_text())


def repository_copy(root):
    """The working tree's files (tracked, and new ones git does not ignore) and its virtualenv."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)
    (root / ".venv").symlink_to(REPO / ".venv")
    return root


def port_of(url: str) -> int:
    return int(url.split(":")[2].split("/")[0])


def test_the_readme_marks_the_blocks_that_build_on_each_other():
    blocks = readme_blocks()
    servers = [url for url, _ in blocks if url]
    assert servers == ["http://127.0.0.1:8000/", "http://127.0.0.1:5000/ping"]
    assert "--register shop --alias champion" in blocks[0][1]  # what every later block's models:/shop@champion needs
    assert "curl" in blocks[-1][1]


@pytest.mark.slow
def test_every_runnable_readme_block_runs_in_order(tmp_path):
    copy = repository_copy(tmp_path / "repo")
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RECSYS_SERVING_IMAGE_ROOT")}
    servers = []
    try:
        for n, (url, block) in enumerate(readme_blocks()):
            if url:
                with socket.socket() as probe:
                    if probe.connect_ex(("127.0.0.1", port_of(url))) == 0:
                        pytest.fail(f"port {port_of(url)} is taken: the README's block {n} cannot start its server")
                err = open(tmp_path / f"server-{n}.err", "w")
                proc = subprocess.Popen(["bash", "-c", block], cwd=copy, env=env, stdout=subprocess.DEVNULL,
                                        stderr=err, start_new_session=True)  # its own group: uvicorn stops with it
                servers.append((proc, tmp_path / f"server-{n}.err"))
                wait_until_up(url, proc, seconds=240)
                continue
            done = subprocess.run(["bash", "-eo", "pipefail", "-c", block], cwd=copy, env=env, capture_output=True,
                                  text=True, timeout=600)
            assert done.returncode == 0, (block, done.stdout[-2000:], done.stderr[-3000:])
            assert not NOISE.search(done.stderr), (block, done.stderr[-3000:])
            if "curl" in block:
                answers = done.stdout  # curl adds no newline: the answers follow each other
                assert answers.count('{"predictions": [') == block.count("curl ") and "error_code" not in answers
    finally:
        for proc, _ in servers:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
    for _, err in servers:  # the explorer's and `mlflow models serve`'s start-up, as the README runs them
        text = err.read_text()
        assert not NOISE.search(text) and "Traceback" not in text, text[-3000:]
    recs = pd.read_parquet(copy / "recs.parquet")
    assert set(recs["user_id"]) == {"NEWCOMER", "U00"} and recs.groupby("user_id").size().eq(5).all()
    nightly = pd.read_parquet(copy / "recs")
    assert nightly["user_id"].nunique() == 12
    assert {"item_top_users.parquet", "similar_items.parquet"} <= {p.name for p in (copy / "new-items").iterdir()}
