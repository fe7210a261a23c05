"""Shared fixtures: tiny dataset folders written on the fly, and ../shared paths."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import requests
from PIL import Image

from recsys.data.examples import HM, HM_FASHION, MOBILENET_WEIGHTS, MOVIELENS, SHARED  # noqa: F401  (for the tests)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
#: what TensorFlow, absl, CUDA probes, oneDNN, MLflow's INFO lines or its download bars would add to stderr
NOISE = re.compile(r"absl|oneDNN|cuda|cuInit|tensorflow|cpu_feature_guard|^[IWE]0000|Downloading artifacts"
                   r"|INFO mlflow|Creating initial MLflow", re.IGNORECASE | re.MULTILINE)


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


def proc_status(pid: int, field: str) -> int:
    """A number from /proc/PID/status (``Threads``, ``VmHWM`` and ``VmRSS`` in kB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


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
    err = path.parent / "demo.err"  # stderr sent to a file, as a scheduler's log gets it
    with open(err, "w") as stderr:
        proc = subprocess.run([str(recsys_cli), "demo", "--path", str(path), "--experiment", "demo-test"],
                              stdout=subprocess.PIPE, stderr=stderr, text=True, timeout=600, cwd=path.parent)
    proc.stderr = err.read_text()
    assert proc.returncode == 0, proc.stderr[-3000:]
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    runs = mlflow.search_runs(experiment_names=["demo-test"], output_format="list")
    assert len(runs) == 1
    return runs[0], path, proc.stdout, proc.stderr


# -- trained models several test files share (module scope: each file trains its own) ------------
EXAMPLE_SHOP = REPO / "data" / "example-shop"
COLOUR_NAMES = ["red", "green", "blue", "yellow"]  # far apart, so a small untrained CNN tells them apart
PER_COLOUR, COLD_PER_COLOUR = 10, 2


def colour_shop(root):
    """Items of six colours; each user likes exactly one colour and has touched
    some of its warm items. The last two items of each colour are cold."""
    from recsys.data import Dataset
    from recsys.data.demo import SHAPES, draw_item
    from recsys.vision.pixels import letterbox

    rng = np.random.default_rng(0)
    items, images = [], []
    for c, colour in enumerate(COLOUR_NAMES):
        for k in range(PER_COLOUR):
            items.append((f"{colour}-{k:02d}", "", colour, k >= PER_COLOUR - COLD_PER_COLOUR))
            images.append(letterbox(draw_item(colour, SHAPES[k % 4], "solid", rng), 32))
    items = pd.DataFrame(items, columns=["item_id", "image_path", "colour", "cold"])
    rows = []
    for u in range(48):
        colour = COLOUR_NAMES[u % len(COLOUR_NAMES)]
        warm = items[(items.colour == colour) & ~items.cold].item_id.to_numpy()
        for item in rng.choice(warm, size=5, replace=False):
            rows.append((f"user-{u:02d}", item))
    inter = pd.DataFrame(rows, columns=["user_id", "item_id"])
    return Dataset.from_frames(inter, items.drop(columns="cold"), root), items, np.stack(images)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    from recsys.models import HybridRecommender
    from recsys.vision import EncoderConfig, ImageEncoder

    dataset, items, pixels = colour_shop(tmp_path_factory.mktemp("shop"))
    encoder = ImageEncoder(EncoderConfig("compact_cnn", image_size=32))
    features = encoder.encode(pixels)
    model = HybridRecommender(factors=16, epochs=40, batch_size=32, learning_rate=1e-2, validation_share=0.0, seed=0)
    return dataset, items, features, model.fit(dataset, features)


@pytest.fixture(scope="module")
def shop_bundle(tmp_path_factory):
    from recsys.bundle import ModelBundle
    from recsys.models import HybridRecommender
    from recsys.vision import EncoderConfig, ImageEncoder

    root = tmp_path_factory.mktemp("shop")
    dataset, items, pixels = colour_shop(root)
    encoder = ImageEncoder(EncoderConfig("compact_cnn", image_size=32))
    features = encoder.encode(pixels)
    model = HybridRecommender(factors=16, epochs=40, batch_size=32, learning_rate=1e-2, validation_share=0.0)
    model.fit(dataset, features)
    meta = items.drop(columns="cold")
    return dataset, ModelBundle(model=model, encoder=encoder, item_ids=dataset.item_ids, item_vectors=features,
                                has_image=np.ones(len(features), bool), items=meta)


@pytest.fixture(scope="module")
def older_model(tmp_path_factory):
    """``(model dir, the example shop's interactions, those it was trained on)``: a model trained before the shop's last
    third of interactions and without its last three users (they signed up later)."""
    import shutil

    from pipelines.cli import main

    root = tmp_path_factory.mktemp("older")
    shutil.copytree(EXAMPLE_SHOP, root / "shop")
    inter = pd.read_csv(EXAMPLE_SHOP / "interactions.csv", dtype={"user_id": str, "item_id": str})
    cutoff = sorted(inter.timestamp)[len(inter) * 2 // 3]
    later_users = sorted(set(inter.user_id))[-3:]
    trained = inter[(inter.timestamp < cutoff) & ~inter.user_id.isin(later_users)]
    trained.to_csv(root / "shop" / "interactions.csv", index=False)
    (root / "fast.yaml").write_text(FAST_CONFIG)
    assert main(["train", str(root / "shop"), "--out", str(root / "model"), "--config", str(root / "fast.yaml")]) == 0
    return root / "model", inter, trained


# -- running the recsys command: its one error line --------------------------------------------
RECSYS = Path(sys.executable).with_name("recsys")


def run_recsys(*args, cwd=None, env=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([str(RECSYS), *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env=None if env is None else os.environ | env)


def one_line_error(done: subprocess.CompletedProcess) -> str:
    """The single error line of a failed command (exit 2, no traceback)."""
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1, done.stderr
    return errors[0]


def error_of(args: list, capsys) -> str:
    """The one error line of ``recsys ARGS`` run in this process (a traceback would fail the test)."""
    from pipelines.cli import main

    assert main([str(a) for a in args]) == 2, args
    errors = [line for line in capsys.readouterr().err.splitlines() if ": error: " in line]
    assert len(errors) == 1, errors
    return errors[0]


def in_namespace(script: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run ``script`` as root of a private user and mount namespace (for tmpfs and read-only mounts)."""
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True)
    if shutil.which("unshare") is None or probe.returncode != 0:
        pytest.skip("needs unshare (user and mount namespaces) to make a full or read-only file system")
    return subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config, items):
    """The suite runs on two pytest-xdist workers (``-n 2 --dist loadgroup`` in pyproject.toml): a
    file's tests run on one worker, so its module-scoped fixtures are built once, and every test that
    uses the demo run joins one group, so `recsys demo` runs once."""
    for item in items:
        group = "demo_run" if "demo_run" in getattr(item, "fixturenames", ()) else item.module.__name__
        item.add_marker(pytest.mark.xdist_group(group))
