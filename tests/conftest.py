"""Shared fixtures: tiny dataset folders written on the fly, and ../shared paths."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pytest
import requests
from PIL import Image

from recsys.data.examples import HM, HM_FASHION, MOBILENET_WEIGHTS, MOVIELENS, SHARED  # noqa: F401  (for the tests)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
#: what TensorFlow, absl, CUDA probes, oneDNN or MLflow's download bars would add to stderr
NOISE = re.compile(r"absl|oneDNN|cuda|cuInit|tensorflow|cpu_feature_guard|^[IWE]0000|Downloading artifacts",
                   re.IGNORECASE | re.MULTILINE)


def need(path: Path):
    """Skip (with the reason) when a ../shared resource is absent."""
    if not path.exists():
        pytest.skip(f"{path} is absent: this test needs the shared datasets/weights beside the repository")
    return path


def write_image(path: Path, colour=(200, 30, 30), size=(32, 32), mode="RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", size, colour)
    if mode != "RGB":
        img = img.convert(mode)
    img.save(path)
    return path


def write_dataset(root: Path, interactions: str, items: str | None = None, images: dict | None = None) -> Path:
    """A dataset folder: CSV texts as given; ``images`` maps relative path -> colour.

    Without ``items``, every item of the interactions gets a red JPEG.
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / "interactions.csv").write_text(interactions)
    if items is None:
        ids = sorted({line.split(",")[1] for line in interactions.strip().splitlines()[1:]})
        items = "item_id,image_path\n" + "".join(f"{i},img/{i}.jpg\n" for i in ids)
        images = {f"img/{i}.jpg": (200, 30, 30) for i in ids} | (images or {})
    (root / "items.csv").write_text(items)
    for rel, colour in (images or {}).items():
        write_image(root / rel, colour)
    return root


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def demo_path(tmp_path_factory):
    """The demo shop, generated once per test session."""
    from recsys.data.demo import write_demo

    return write_demo(tmp_path_factory.mktemp("demo") / "demo")


@pytest.fixture(scope="session", autouse=True)
def tracking_store(tmp_path_factory):
    """Every test run tracks into its own SQLite store, never ./mlflow.db."""
    path = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{path}"
    yield os.environ["MLFLOW_TRACKING_URI"]
    if previous is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = previous


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, proc: subprocess.Popen, seconds: float = 120) -> None:
    """Poll ``url`` until it answers; fail (and kill the server) if it never does."""
    deadline = time.time() + seconds
    while time.time() < deadline and proc.poll() is None:
        try:
            if requests.get(url, timeout=2).ok:
                return
        except requests.RequestException:
            time.sleep(1)
    proc.kill()
    pytest.fail(f"{url} did not answer within {seconds:.0f} s (exit code {proc.poll()})")


#: a config that trains in seconds: compact CNN at 32 px, one epoch, no epoch search
FAST_CONFIG = ("encoder: {name: compact_cnn, image_size: 32, weights: null}\n"
               "model: {epochs: 1, taste_epochs: 0, validation_share: 0}\n")


@pytest.fixture(scope="session")
def example_model(tmp_path_factory):
    """A model directory trained by `recsys train` on the committed example shop (do not modify it);
    its MLflow run is the only one in the experiment ``example-model``."""
    from pipelines.cli import main

    root = tmp_path_factory.mktemp("example_model")
    (root / "fast.yaml").write_text(FAST_CONFIG)
    previous = os.environ.get("MLFLOW_EXPERIMENT_ID")
    assert main(["train", str(REPO / "data" / "example-shop"), "--out", str(root / "model"),
                 "--config", str(root / "fast.yaml"), "--experiment", "example-model"]) == 0
    # mlflow.set_experiment exports MLFLOW_EXPERIMENT_ID: later subprocesses must not log into this experiment
    if previous is None:
        os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
    else:
        os.environ["MLFLOW_EXPERIMENT_ID"] = previous
    return root / "model"


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """`recsys demo` once per session, as a user runs it (its own process); returns (run, the demo folder,
    stdout, stderr). Its logged model is trained on every interaction of the demo shop."""
    path = tmp_path_factory.mktemp("demo_run") / "demo"
    recsys_cli = Path(sys.executable).with_name("recsys")
    proc = subprocess.run([str(recsys_cli), "demo", "--path", str(path), "--experiment", "demo-test"],
                          capture_output=True, text=True, timeout=600, cwd=path.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    runs = mlflow.search_runs(experiment_names=["demo-test"], output_format="list")
    assert len(runs) == 1
    return runs[0], path, proc.stdout, proc.stderr
