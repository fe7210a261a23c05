"""The logged model served by a real `mlflow models serve` and a real `recsys serve` on 127.0.0.1:
pickle-free, a good request answered, bad ones answered with HTTP 400 naming the cause, and
(`recsys serve`) a body over the cap refused with 413 before it is read."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import requests

from conftest import EXAMPLE_SHOP, REPO, error_of, free_port, proc_status, wait_until_up

#: a real `mlflow models serve`: deselected by the quick check
pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def logged_model(example_model):
    """The example shop's model as `recsys train` logged it; its runs:/ URI."""
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    run = mlflow.search_runs(experiment_names=["example-model"], output_format="list")[0]
    return f"runs:/{run.info.run_id}/model"


def test_logged_model_holds_no_pickle_and_installs_recsys_from_its_project(logged_model, tmp_path):
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=logged_model, dst_path=str(tmp_path)))
    files = [p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()]
    assert "model_code.py" in files and "artifacts/bundle/bundle.json" in files
    assert not [f for f in files if f.endswith((".pkl", ".pickle"))], files
    requirements = (local / "requirements.txt").read_text().splitlines()
    assert f"recsys @ {REPO.as_uri()}" in requirements and not any(r.startswith("recsys==") for r in requirements)


@pytest.fixture(scope="module")
def server(logged_model):
    """`mlflow models serve` as the README describes it: the venv's bin on PATH (it starts uvicorn),
    image paths allowed under the example shop."""
    port = free_port()
    env = os.environ | {"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
                        "RECSYS_SERVING_IMAGE_ROOT": str(EXAMPLE_SHOP)}
    proc = subprocess.Popen([str(BIN / "mlflow"), "models", "serve", "-m", logged_model, "--env-manager", "local",
                             "--host", "127.0.0.1", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_until_up(url + "/ping", proc, seconds=180)
    yield url + "/invocations"
    proc.terminate()
    proc.wait(timeout=30)


def post(url: str, payload: dict) -> requests.Response:
    return requests.post(url, json=payload, timeout=60)


def readme_requests() -> list[dict]:
    """The JSON bodies of the README's curl examples (the shell's base64 substitution done here)."""
    text = (REPO / "README.md").read_text()
    bodies = re.findall(r"""^curl .*/invocations .* -d ['"](.*)['"]$""", text, re.M)
    photo = re.compile(r'\$\(base64 -w0 ([^)]+)\)')
    return [json.loads(photo.sub(lambda m: base64.b64encode((REPO / m.group(1)).read_bytes()).decode(),
                                 body.replace('\\"', '"'))) for body in bodies]


def test_served_model_answers_the_readme_requests(server):
    users, history, by_path, by_bytes = readme_requests()
    reply = post(server, users)
    assert reply.status_code == 200, reply.text
    rows = reply.json()["predictions"]
    assert [(r["user_id"], r["rank"]) for r in rows] == [("U00", 1), ("U00", 2), ("U00", 3),
                                                         ("U01", 1), ("U01", 2), ("U01", 3)]
    reply = post(server, history)  # a user the model never saw, folded in from the request's history
    assert reply.status_code == 200, reply.text
    rows = reply.json()["predictions"]
    assert [(r["user_id"], r["rank"]) for r in rows] == [("NEWCOMER", 1), ("NEWCOMER", 2), ("NEWCOMER", 3)]
    assert not {r["item_id"] for r in rows} & {"0100", "0101"}  # their history stays excluded
    for request, item, k in ((by_path, "NEW-1", 4), (by_bytes, "NEW-2", 10)):
        reply = post(server, request)
        assert reply.status_code == 200, reply.text
        rows = reply.json()["predictions"]
        assert len(rows) == k and {r["item_id"] for r in rows} == {item} and len({r["user_id"] for r in rows}) == k


@pytest.mark.parametrize("payload, cause", [
    ({"dataframe_records": [{"user_id": "U00"}, {"user_id": "NOBODY"}]}, "unknown user_id(s): 'NOBODY'"),
    ({"dataframe_records": [{"customer": "U00"}]}, "needs a 'user_id' column"),
    # a history lasts one request: the served model itself never learns the newcomer
    ({"dataframe_records": [{"user_id": "NEWCOMER"}]}, "unknown user_id(s): 'NEWCOMER'"),
    ({"dataframe_records": [{"user_id": "X", "item_id": "NO-SUCH-ITEM"}]}, "none of the request's item_id values"),
    ({"dataframe_records": [{"item_id": "N1", "image_path": "missing/photo.png"}]},
     "item 'N1' (missing/photo.png): file not found"),
    ({"dataframe_records": [{"item_id": "N2", "image_path": "/dev/zero"}]}, "outside RECSYS_SERVING_IMAGE_ROOT"),
    ({"dataframe_records": [{"item_id": "N3", "image_path": "../../../etc/passwd"}]},
     "path escapes the dataset folder"),
    ({"dataframe_records": [{"item_id": "N4", "image_base64": "not base64!"}]}, "not valid base64"),
    ({"dataframe_records": [{"user_id": "U00"}], "params": {"k": 0}}, "param k must be >= 1"),
    ({"dataframe_records": [{"user_id": "U00"}] * 3, "params": {"k": 400_000}},
     "3 rows x k=400,000 would answer with over 1,000,000 rows"),
])
def test_served_model_answers_a_bad_request_with_400_naming_the_cause(server, payload, cause):
    reply = post(server, payload)
    assert reply.status_code == 400, reply.text
    body = reply.json()
    assert body["error_code"] == "INVALID_PARAMETER_VALUE" and cause in body["message"], body["message"]
    assert str(EXAMPLE_SHOP) not in body["message"] and str(REPO) not in body["message"]  # no server paths


#: `recsys serve --max-body-mb`: small enough to test, large enough for the README's requests
CAP_MB = 2


@pytest.fixture(scope="module")
def capped_server(logged_model):
    """`recsys serve` (MLflow's scoring app behind recsys's body cap); yields (invocations URL, process)."""
    port = free_port()
    env = os.environ | {"RECSYS_SERVING_IMAGE_ROOT": str(EXAMPLE_SHOP)}
    proc = subprocess.Popen([str(BIN / "recsys"), "serve", logged_model, "--port", str(port),
                             "--max-body-mb", str(CAP_MB)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    url = f"http://127.0.0.1:{port}"
    wait_until_up(url + "/ping", proc, seconds=180)
    yield url + "/invocations", proc
    proc.terminate()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and out.splitlines()[-1] == "Stopped" and "Traceback" not in err, (out, err)


def raw_request(url: str, head: str, body_chunks=(), read_first: bool = False) -> str:
    """Send ``head`` (request line and headers), then ``body_chunks`` (never the end of a chunked
    body); the server's answer as text, read to the end of the connection. ``read_first``: read the
    answer before sending any body (the server must answer from the headers)."""
    host, port = url.split("/")[2].split(":")
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(head.encode())
        for chunk in () if read_first else body_chunks:
            conn.sendall(chunk)
        answer = b""
        while piece := conn.recv(65536):  # the 413 closes the connection
            answer += piece
        return answer.decode()


def test_recsys_serve_answers_as_mlflow_models_serve_does(server, capped_server):
    url, _ = capped_server
    for request in readme_requests():
        mlflow_answer, recsys_answer = post(server, request), post(url, request)
        assert recsys_answer.status_code == 200 and recsys_answer.json() == mlflow_answer.json()
    bad = {"dataframe_records": [{"user_id": "NOBODY"}]}
    reply = post(url, bad)
    assert reply.status_code == 400 and reply.json() == post(server, bad).json()


def test_recsys_serve_refuses_a_body_over_the_cap_before_reading_it(capped_server):
    url, proc = capped_server
    before = proc_status(proc.pid, "VmRSS") / 1024
    # 200 MB announced, nothing sent: the answer comes from the headers alone
    answer = raw_request(url, "POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                              "Content-Length: 200000000\r\n\r\n", read_first=True)
    assert answer.startswith("HTTP/1.1 413"), answer[:300]
    assert "200,000,000 bytes" in answer and f"the cap is {CAP_MB} MiB" in answer and "REQUEST_LIMIT_EXCEEDED" in answer
    # sent without a length (chunked), 64 KiB at a time, up to the cap and one byte more, never ended:
    # refused at that byte (the server read all that was sent, so it closes cleanly, with no reset)
    piece = b"a" * 65536
    chunks = [b"%x\r\n%s\r\n" % (len(piece), piece)] * (CAP_MB * 16) + [b"1\r\na"]
    answer = raw_request(url, "POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                              "Transfer-Encoding: chunked\r\n\r\n", chunks)
    assert answer.startswith("HTTP/1.1 413") and "sent without a length" in answer, answer[:300]
    grew_mb = proc_status(proc.pid, "VmRSS") / 1024 - before
    assert grew_mb < 4 * CAP_MB + 20, grew_mb  # nothing near 200 MB read
    assert post(url, {"dataframe_records": [{"user_id": "U00"}]}).status_code == 200  # and it still serves


def test_recsys_serve_refuses_what_is_not_a_served_model(tmp_path, capsys):
    error = error_of(["serve", tmp_path, "--port", free_port()], capsys)
    assert f"{tmp_path}: not an MLflow model folder (no MLmodel file)" in error
