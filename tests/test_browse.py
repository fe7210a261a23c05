"""`recsys browse` in a real headless Chromium (Debian's chromium and chromium-driver,
which .ci/run installs), against a real server process serving the model that
`recsys demo` logged, trained on the demo shop."""

from __future__ import annotations

import http.client
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
from PIL import Image

from conftest import free_port, proc_status, wait_until_up
from recsys.data.demo import draw_item

#: a real explorer server and a real Chromium: deselected by the quick check
pytestmark = pytest.mark.slow

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
#: the explorer's list length in these tests
K = 8
#: the server's idle timeout in these tests, seconds
IDLE_TIMEOUT = 3
#: url -> the server's process id
PIDS = {}
#: set to a folder to keep the screenshots (the README's comes from here)
SCREENSHOT_DIR_ENV = "RECSYS_SCREENSHOT_DIR"


def draw(path: Path, colour: str, shape: str, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    draw_item(colour, shape, "solid", np.random.default_rng(seed)).save(path)
    return path


@pytest.fixture(scope="module")
def new_items(tmp_path_factory):
    """Arrivals with only a photo, and one whose path leaves its folder."""
    root = tmp_path_factory.mktemp("arrivals")
    draw(root / "outside.png", "red", "circle", 0)
    folder = root / "new"
    rows = [("NEW-RED", "red", "circle"), ("NEW-BLUE", "blue", "square"), ("NEW-GREEN", "green", "star")]
    for n, (item_id, colour, shape) in enumerate(rows):
        draw(folder / "images" / f"{item_id}.jpg", colour, shape, n)
    table = pd.DataFrame({"item_id": [r[0] for r in rows] + ["ESCAPES"],
                          "image_path": [f"images/{r[0]}.jpg" for r in rows] + ["../outside.png"]})
    table.to_csv(folder / "items.csv", index=False)
    return folder / "items.csv"


@pytest.fixture(scope="module")
def server(demo_run, new_items):
    """`recsys browse runs:/.../model --new-items ...` on a free port; stopped with SIGTERM."""
    run = demo_run[0]
    port = free_port()
    proc = subprocess.Popen([str(Path(sys.executable).with_name("recsys")), "browse", f"runs:/{run.info.run_id}/model",
                             "--new-items", str(new_items), "--port", str(port), "--k", str(K),
                             "--idle-timeout", str(IDLE_TIMEOUT)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    wait_until_up(url + "/", proc)
    PIDS[url] = proc.pid
    yield url
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-3000:]
    assert "Traceback" not in err, err[-3000:]  # no page failed along the way
    assert "Stopped" in out


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("needs Chromium and ChromeDriver (Debian: apt-get install chromium chromium-driver; "
                    ".ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # no network beyond localhost here: background services would only fail and log
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-quic", "--window-size=1280,1100",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def visit(browser, server):
    """Open a page; every page visited must leave the console free of errors."""
    from selenium.webdriver.common.by import By

    def go(path: str, status: int = 200):
        browser.get(server + path)
        # a 404 page is logged as a failed load of that page itself: the only error allowed
        errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"
                  and not (status == 404 and entry["message"].startswith(f"{server}{path} - ")
                           and "status of 404" in entry["message"])]
        assert not errors, errors
        return lambda css: browser.find_elements(By.CSS_SELECTOR, css)
    return go


def loaded(browser, images) -> bool:
    return bool(images) and all(browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0",
                                                       img) for img in images)


def arrival_ids(demo_run) -> set[str]:
    """The uploaded arrivals and the demo's catalog items nobody bought (next month's arrivals among them)."""
    items = pd.read_csv(demo_run[1] / "items.csv", dtype=str)["item_id"]
    bought = pd.read_csv(demo_run[1] / "interactions.csv", dtype=str)["item_id"]
    return {"NEW-RED", "NEW-BLUE", "NEW-GREEN"} | set(items[~items.isin(bought)])


def card_ids(find, section: str) -> list[str]:
    return [card.get_attribute("data-item") for card in find(f"{section} .card")]


def test_user_page_shows_history_and_k_unseen_recommendations_as_photos(browser, visit, demo_run, tmp_path):
    path = demo_run[1]
    interactions = pd.read_csv(path / "interactions.csv", dtype=str)
    user = "U0003"
    had = set(interactions.loc[interactions["user_id"] == user, "item_id"])
    find = visit(f"/users/{user}")
    assert sorted(card_ids(find, "#history")) == sorted(had)
    dates = [meta.text for meta in find("#history .card .meta") if meta.text[:2] == "20"]
    assert len(dates) == len(had) and dates == sorted(dates, reverse=True)  # newest first
    recommended = card_ids(find, "#recommendations")
    assert len(recommended) == K and not set(recommended) & had
    assert loaded(browser, find("#history img")) and loaded(browser, find("#recommendations img"))
    new = card_ids(find, "#new-recommendations")
    assert len(new) == K and set(new) <= arrival_ids(demo_run) and "NEW-RED" in arrival_ids(demo_run)
    assert len(find("#new-recommendations .badge")) == K and loaded(browser, find("#new-recommendations img"))
    marked = [c.get_attribute("data-item") for c in find("#recommendations .card.new")]
    assert set(marked) == set(recommended) & arrival_ids(demo_run)  # arrivals in the top K are marked NEW
    browser.save_screenshot(str(tmp_path / "user_page.png"))
    if os.environ.get(SCREENSHOT_DIR_ENV):
        shutil.copy(tmp_path / "user_page.png", Path(os.environ[SCREENSHOT_DIR_ENV]) / "user_page.png")
    assert (tmp_path / "user_page.png").stat().st_size > 10_000


def test_item_page_shows_similar_items_and_likely_users(browser, visit, demo_run):
    items = pd.read_csv(demo_run[1] / "items.csv", dtype=str).set_index("item_id")
    item = items.index[0]
    find = visit(f"/items/{item}")
    similar = card_ids(find, "#similar")
    assert len(similar) == K and item not in similar and loaded(browser, find("#similar img"))
    # the demo's photos are drawn from colour and shape: the nearest look-alikes share the colour
    assert (items.loc[similar[:3], "colour"] == items.loc[item, "colour"]).mean() >= 2 / 3
    assert len(find("#users tr")) == K + 1


def test_uploaded_red_photo_is_liked_most_by_a_red_lover(browser, visit, demo_run, tmp_path):
    from selenium.webdriver.support.wait import WebDriverWait

    truth = pd.read_csv(demo_run[1] / "users_truth.csv", dtype=str).set_index("user_id")
    photo = draw(tmp_path / "red-circle.png", "red", "circle", seed=7)
    find = visit("/photo")
    picker = set(card_ids(find, "#new-items"))  # or pick one of them
    assert len(picker) == K and picker <= arrival_ids(demo_run)
    find("input[name=photo]")[0].send_keys(str(photo))
    find("#score")[0].click()
    WebDriverWait(browser, 60).until(lambda b: find("#users, #error"))  # the click returns before the new page
    users = [a.text for a in find("#users tr td a")]
    assert truth.loc[users[0], "favourite_colour"] == "red", truth.loc[users, "favourite_colour"]
    assert find("#uploaded") and len(card_ids(find, "#similar")) == K
    find = visit("/items/NEW-RED")  # a new item of the catalog, picked instead of uploaded
    assert truth.loc[find("#users tr td a")[0].text, "favourite_colour"] == "red"


def test_unknown_user_gets_the_404_page(visit, server):
    find = visit("/users/NOBODY", status=404)
    assert "NOBODY" in find("#message")[0].text
    assert requests.get(server + "/users/NOBODY", timeout=10).status_code == 404
    find = visit("/users?id=NOBODY", status=404)
    assert "NOBODY" in find("#message")[0].text


def test_images_outside_the_dataset_are_refused(server):
    host, port = server.removeprefix("http://").split(":")
    # an arrival whose image_path leaves its folder is neither embedded nor served
    assert requests.get(server + "/images/ESCAPES", timeout=10).status_code == 404
    for path in ("/images/../../../../etc/passwd", "/images/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
                 "/images//etc/passwd", "/images/NEW-RED/../../outside.png"):
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("GET", path)  # sent as written, no client-side normalising
        response = conn.getresponse()
        status, body = response.status, response.read()
        if status == 308:  # werkzeug merges the slashes of //etc: follow it
            assert response.headers["Location"].startswith(f"{server}/images/"), path
            followed = requests.get(response.headers["Location"], timeout=10)
            status, body = followed.status_code, followed.content
        assert status == 404 and b"root:" not in body, path
    assert requests.get(server + "/images/NEW-RED", timeout=10).headers["Content-Type"] == "image/jpeg"


def test_model_page_leads_with_the_comparison_and_links_the_mlflow_run(browser, visit, demo_run, tmp_path):
    run = demo_run[0]
    find = visit("/model")
    assert find("main h2")[0].text == "Against the baselines"
    header = [th.text for th in find("#comparison tr:first-child th")]
    assert header == ["model"] + [f"{s}@{k}" for s in ("warm", "cold", "all") for k in (10, 20)]
    rows = [[cell.text for cell in row.find_elements("css selector", "th, td")] for row in find("#comparison tr")[1:]]
    assert [row[0] for row in rows] == ["hybrid", "cf_only", "content_knn", "image_only", "item_knn", "popularity",
                                        "random"]
    cold_20 = header.index("cold@20")
    assert float(rows[0][cold_20]) == pytest.approx(run.data.metrics["cold_ndcg_at_20"], abs=1e-4)
    popularity = rows[-2][cold_20]  # its NDCG and its ratio to the hybrid's
    assert popularity.startswith(f"{run.data.metrics['popularity.cold_ndcg_at_20']:.4f} (") and popularity.endswith("x)")
    weights = [row.text for row in find("#encoder tr") if row.text.startswith("weights")]
    assert weights == ["weights none (random initialisation)"]  # the demo's compact CNN
    link = find("#run a")[0]
    assert run.info.run_id in link.get_attribute("href")
    assert "ESCAPES" in find("main")[0].text  # the arrival left out, with its reason
    browser.save_screenshot(str(tmp_path / "model_page.png"))
    if os.environ.get(SCREENSHOT_DIR_ENV):
        shutil.copy(tmp_path / "model_page.png", Path(os.environ[SCREENSHOT_DIR_ENV]) / "model_page.png")


def test_start_page_shows_the_newest_and_the_most_recommended_items(browser, visit, demo_run):
    interactions = pd.read_csv(demo_run[1] / "interactions.csv", dtype=str)
    first_seen = interactions.assign(t=interactions["timestamp"].astype(int)).groupby("item_id")["t"].min()
    find = visit("/")
    newest = card_ids(find, "#newest")
    assert len(newest) == K and set(newest) == set(first_seen.nlargest(K).index)
    recommended = card_ids(find, "#recommended")
    assert len(recommended) == K and loaded(browser, find("#recommended img"))
    counts = [int(meta.text.split()[1].replace(",", "")) for meta in find("#recommended .card .meta")
              if meta.text.startswith("in ")]
    assert counts == sorted(counts, reverse=True) and counts[0] > 1


def test_slow_clients_hold_no_thread_and_are_cut_after_the_idle_timeout(server):
    pid = PIDS[server]
    host, port = server.removeprefix("http://").split(":")
    threads = proc_status(pid, "Threads")
    stalled = []
    for _ in range(150):  # each sends half a request, then nothing
        conn = socket.create_connection((host, int(port)), timeout=30)
        conn.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        stalled.append(conn)
    started = time.perf_counter()
    assert requests.get(server + "/", timeout=20).status_code == 200
    assert time.perf_counter() - started < 10
    assert proc_status(pid, "Threads") <= threads + 2  # no thread per waiting connection
    time.sleep(IDLE_TIMEOUT + 2)
    for conn in stalled:
        try:
            assert conn.recv(1024) == b""  # the server closed it
        except ConnectionResetError:
            pass
        conn.close()


def test_parallel_uploads_are_decoded_a_few_at_a_time_and_freed(server):
    pid = PIDS[server]
    photo = io.BytesIO()
    Image.new("RGB", (3900, 3900), (200, 40, 40)).save(photo, format="PNG")  # 15 MP, a few dozen KB
    data = photo.getvalue()
    rss, peak = proc_status(pid, "VmRSS"), proc_status(pid, "VmHWM")

    def upload(_):
        return requests.post(server + "/photo", files={"photo": ("big.png", data)}, timeout=300).status_code

    with ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(upload, range(12)))
    assert statuses == [200] * 12
    grew_mb = (proc_status(pid, "VmHWM") - max(peak, rss)) / 1024
    kept_mb = (proc_status(pid, "VmRSS") - rss) / 1024
    print(f"peak grew {grew_mb:.0f} MB, kept {kept_mb:.0f} MB")
    assert grew_mb < 700 and kept_mb < 500  # 12 decodes at once would need about 12 x 140 MB
