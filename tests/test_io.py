"""Outputs (recsys.io): they replace only what recsys wrote, never an input; kills (real SIGTERM and
SIGKILL), races between real processes, the umask and a full disk leave the previous output whole."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from conftest import EXAMPLE_SHOP, FAST_CONFIG as FAST, in_namespace
from pipelines.cli import main
from recsys.io import MARKER

RECSYS = Path(sys.executable).with_name("recsys")


def run_recsys(*args, cwd=None, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([str(RECSYS), *map(str, args)], capture_output=True, text=True, timeout=600, cwd=cwd,
                          env=None if env is None else os.environ | env)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


@pytest.fixture(scope="module")
def crowd(tmp_path_factory):
    """A model of 8,000 users (the example shop's photos), so a batch job in small chunks runs for seconds."""
    root = tmp_path_factory.mktemp("crowd")
    rng = np.random.default_rng(0)
    items = pd.read_csv(EXAMPLE_SHOP / "items.csv", dtype=str)
    items["image_path"] = [str(EXAMPLE_SHOP / p) for p in items["image_path"]]
    users = np.repeat([f"U{u:05d}" for u in range(8_000)], 3)
    data = root / "data"
    data.mkdir()
    items.to_csv(data / "items.csv", index=False)
    pd.DataFrame({"user_id": users, "item_id": rng.choice(items["item_id"], len(users))}).drop_duplicates() \
        .to_csv(data / "interactions.csv", index=False)
    (root / "fast.yaml").write_text(FAST)
    done = run_recsys("train", data, "--out", root / "model", "--config", root / "fast.yaml", cwd=root)
    assert done.returncode == 0, done.stderr[-2000:]
    return root


def test_batch_recommend_refuses_a_folder_it_did_not_write_and_overwrite_replaces_it(example_model, tmp_path,
                                                                                   capsys):
    out = tmp_path / "recs"
    out.mkdir()
    (out / "notes.txt").write_text("the user's own file")
    assert main(["batch-recommend", str(example_model), "--out", str(out), "--k", "3"]) == 2
    err = capsys.readouterr().err
    assert f"{out}: exists and recsys did not write it" in err and "--overwrite" in err and "Traceback" not in err
    assert (out / "notes.txt").read_text() == "the user's own file"
    assert main(["batch-recommend", str(example_model), "--out", str(out), "--k", "3", "--overwrite"]) == 0
    assert not (out / "notes.txt").exists() and (out / MARKER).is_file()
    assert len(pd.read_parquet(out)) == 12 * 3
    # its own output is replaced without asking
    assert main(["batch-recommend", str(example_model), "--out", str(out), "--k", "2"]) == 0
    assert len(pd.read_parquet(out)) == 12 * 2 and leftovers(tmp_path) == []


def test_a_rerun_refuses_a_recsys_folder_holding_a_users_files_and_keeps_them(example_model, tmp_path, capsys):
    """The marker lists what recsys wrote (a manifest): a file a user added to the folder,
    or another command's output inside it, stops the rerun instead of being deleted."""
    out = tmp_path / "results"
    assert main(["batch-recommend", str(example_model), "--out", str(out), "--k", "3"]) == 0
    (out / "NOTES.md").write_text("my notes")
    (tmp_path / "users.csv").write_text("user_id\nU00\nU01\n")
    assert main(["recommend", str(example_model), "--users", str(tmp_path / "users.csv"), "--out",
                 str(out / "my_recs.parquet"), "--k", "2"]) == 0
    capsys.readouterr()
    assert main(["batch-recommend", str(example_model), "--out", str(out), "--k", "3"]) == 2
    err = capsys.readouterr().err
    assert "holds files recsys did not write there (NOTES.md, my_recs.parquet)" in err and "--overwrite" in err
    assert (out / "NOTES.md").read_text() == "my notes" and len(pd.read_parquet(out / "my_recs.parquet")) == 2 * 2
    # a file recsys wrote that went missing is no reason to refuse; --overwrite replaces the rest
    (out / "NOTES.md").unlink()
    (out / "my_recs.parquet").unlink()
    next(out.glob("part-*.parquet")).unlink()
    assert main(["batch-recommend", str(example_model), "--out", str(out), "--k", "3"]) == 0
    (out / "NOTES.md").write_text("my notes")
    assert main(["batch-recommend", str(example_model), "--out", str(out), "--k", "3", "--overwrite"]) == 0
    assert not (out / "NOTES.md").exists() and leftovers(tmp_path) == []


def test_overwrite_never_replaces_the_active_mlflow_store(example_model, tmp_path, monkeypatch, capsys):
    """The SQLite file MLFLOW_TRACKING_URI names, and the artifact root beside it, are
    inputs of every command: --overwrite does not make them outputs."""
    results = tmp_path / "results"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{results / 'mlflow.db'}")
    assert main(["batch-recommend", str(example_model), "--out", str(tmp_path / "first"), "--k", "2"]) == 0
    assert (results / "mlflow.db").is_file()
    (results / "mlruns" / "1").mkdir(parents=True)  # where the first logged artifact goes
    before = (results / "mlflow.db").read_bytes()
    capsys.readouterr()
    for target in (results, results / "mlruns", results / "mlflow.db"):
        assert main(["batch-recommend", str(example_model), "--out", str(target), "--k", "2", "--overwrite"]) == 2
        err = capsys.readouterr().err
        assert "MLflow tracking store" in err and "Traceback" not in err, err
    assert (results / "mlflow.db").read_bytes() == before and (results / "mlruns").is_dir()


def test_out_takes_file_uris_and_refuses_other_schemes_with_the_local_engine(example_model, tmp_path, monkeypatch,
                                                                             capsys):
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "by uri"
    assert main(["batch-recommend", str(example_model), "--out", target.as_uri(), "--k", "2"]) == 0
    assert len(pd.read_parquet(target)) == 12 * 2 and str(target) in capsys.readouterr().out
    for uri in ("s3a://bucket/recs", "hdfs://namenode/recs"):
        assert main(["batch-recommend", str(example_model), "--out", uri, "--k", "2"]) == 2
        err = capsys.readouterr().err
        assert "cannot be written with --engine local; use --engine spark" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["by uri"]  # no ./file:, ./s3a: folders


def test_no_output_replaces_the_current_folder_or_an_input(example_model, tmp_path, monkeypatch, capsys):
    """batch-recommend --out "$PWD", train DS --out DS, --out MODEL: refused even with --overwrite."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "mlflow.db").write_bytes(b"runs")
    dataset = tmp_path / "shop"
    shutil.copytree(EXAMPLE_SHOP, dataset)
    before = sorted(p.name for p in dataset.rglob("*"))
    monkeypatch.chdir(work)
    cases = [
        (["batch-recommend", example_model, "--out", work, "--overwrite"], "the current folder"),
        (["batch-recommend", example_model, "--out", ".", "--overwrite"], "the current folder"),
        (["train", dataset, "--out", dataset, "--overwrite"], "this command's input"),
        (["train", dataset, "--out", dataset / "model", "--overwrite"], "inside this command's input"),
        (["batch-recommend", example_model, "--out", example_model, "--overwrite"], "this command's input"),
        (["score-new-items", example_model, dataset / "items.csv", "--out", example_model.parent, "--overwrite"],
         "this command's input"),
    ]
    for args, why in cases:
        assert main([str(a) for a in args]) == 2, args
        assert why in capsys.readouterr().err, args
    assert (work / "mlflow.db").read_bytes() == b"runs"
    assert sorted(p.name for p in dataset.rglob("*")) == before
    assert (example_model / "bundle.json").is_file()


def test_demo_refuses_a_path_holding_a_users_file(tmp_path, capsys):
    mine = tmp_path / "mydata"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    assert main(["demo", "--path", str(mine)]) == 2
    assert "recsys did not write it" in capsys.readouterr().err
    assert (mine / "thesis.tex").read_text() == "years of work"


def test_outputs_follow_the_umask(example_model, tmp_path, monkeypatch):
    (tmp_path / "users.csv").write_text("user_id\nU00\n")
    monkeypatch.chdir(tmp_path)
    previous = os.umask(0o022)
    try:
        assert main(["batch-recommend", str(example_model), "--out", "recs", "--k", "2"]) == 0
        assert main(["recommend", str(example_model), "--users", "users.csv", "--k", "2", "--out", "r.parquet"]) == 0
    finally:
        os.umask(previous)
    assert (tmp_path / "recs").stat().st_mode & 0o777 == 0o755
    assert {p.stat().st_mode & 0o777 for p in (tmp_path / "recs").iterdir()} == {0o644}
    assert (tmp_path / "r.parquet").stat().st_mode & 0o777 == 0o644


def wait_for_temporary(folder: Path, proc: subprocess.Popen, seconds: float = 120) -> None:
    """Until ``proc`` has its temporary output beside the target (named with its pid)."""
    deadline = time.time() + seconds
    while not [name for name in leftovers(folder) if f".tmp-{proc.pid}-" in name]:
        assert proc.poll() is None, "the job ended before it could be killed"
        assert time.time() < deadline, "no temporary output appeared"
        time.sleep(0.01)


@pytest.mark.slow
def test_kills_leave_the_previous_output_whole_and_the_next_run_cleans_up(crowd, tmp_path):
    out = tmp_path / "recs"
    args = [str(RECSYS), "batch-recommend", str(crowd / "model"), "--out", str(out), "--k", "5", "--chunk", "20",
            "--experiment", "kills"]
    assert subprocess.run(args, cwd=crowd, capture_output=True, timeout=600).returncode == 0
    previous = sorted((p.name, p.stat().st_size) for p in out.iterdir())

    # SIGKILL: nothing can clean up; the previous output is still whole
    proc = subprocess.Popen(args, cwd=crowd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_temporary(tmp_path, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert sorted((p.name, p.stat().st_size) for p in out.iterdir()) == previous
    assert leftovers(tmp_path)  # the killed writer's temporary folder

    # SIGTERM: handled like Ctrl-C; its temporary folder goes, and the killed one's too
    proc = subprocess.Popen(args, cwd=crowd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for_temporary(tmp_path, proc)
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 128 + signal.SIGTERM and "terminated" in err and "Traceback" not in err
    assert sorted((p.name, p.stat().st_size) for p in out.iterdir()) == previous
    assert leftovers(tmp_path) == []
    assert len(pd.read_parquet(out)) == 8_000 * 5
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    statuses = [r.info.status for r in mlflow.search_runs(experiment_names=["kills"], output_format="list")]
    assert sorted(statuses) == ["FAILED", "FINISHED", "RUNNING"]  # the SIGKILLed run cannot say anything


@pytest.mark.slow
def test_concurrent_writers_end_with_one_complete_output_and_no_leftovers(crowd, tmp_path):
    out = tmp_path / "recs"
    procs = [subprocess.Popen([str(RECSYS), "batch-recommend", str(crowd / "model"), "--out", str(out), "--k", str(k),
                               "--chunk", "500", "--experiment", "race"], cwd=crowd,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for k in (3, 4)]
    errors = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    recs = pd.read_parquet(out)
    assert len(recs) in (8_000 * 3, 8_000 * 4) and recs.groupby("user_id").size().nunique() == 1
    assert leftovers(tmp_path) == []


@pytest.mark.slow
def test_two_first_runs_on_a_fresh_sqlite_store_do_not_collide(tmp_path, monkeypatch):
    (tmp_path / "fast.yaml").write_text(FAST)
    procs = [subprocess.Popen([str(RECSYS), "train", str(EXAMPLE_SHOP), "--out", f"model{n}", "--config", "fast.yaml",
                               "--experiment", "fresh"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True,
                              env=os.environ | {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'new.db'}"})
             for n in (1, 2)]
    errors = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'new.db'}")  # set_tracking_uri sets it too
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'new.db'}")
    runs = mlflow.search_runs(experiment_names=["fresh"], output_format="list")
    assert sorted(r.info.status for r in runs) == ["FINISHED", "FINISHED"]


# -- a full disk -------------------------------------------------------------------------------
@pytest.mark.slow
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
