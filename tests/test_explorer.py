"""The explorer's pages in-process (Flask's test client) on the example shop's model:
what each page may show, which files it may serve, and how it refuses bad input.
The browser tests (tests/test_browse.py) drive the real server."""

from __future__ import annotations

import html
import io
import shutil
import socket

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import REPO, write_image
from recsys.bundle import ModelBundle
from recsys.data import load_dataset
from recsys.data.images import CORRUPT, OUTSIDE
from recsys.explorer.app import create_app, id_url
from recsys.explorer.explorer import Explorer
from recsys.explorer.photos import PhotoIndex

SHOP = REPO / "data" / "example-shop"


def png(colour, size=(32, 32)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def shop(tmp_path):
    """A copy of the example shop with one interaction the model never saw (the data is newer)."""
    root = tmp_path / "shop"
    shutil.copytree(SHOP, root)
    with open(root / "interactions.csv", "a") as f:
        f.write("U00,0101,2026-12-01,5\n")
    return root


def explorer(model_dir, root=None, new_items=None, new_root=None, k=5):
    return Explorer(ModelBundle.load(model_dir), load_dataset(root) if root else None, new_items, new_root, k=k)


def test_history_is_newest_first_and_recommendations_never_repeat_it(example_model, shop):
    ex = explorer(example_model, shop)
    history, total = ex.history("U00")
    interactions = pd.read_csv(shop / "interactions.csv", dtype=str)
    mine = interactions[interactions.user_id == "U00"]
    assert total == len(mine) and [c.item_id for c in history][0] == "0101"  # the newest, 2026-12-01
    assert [c.when for c in history] == sorted((c.when for c in history), reverse=True)
    recommended = [c.item_id for c in ex.recommendations("U00")]
    assert len(recommended) == 5 and not set(recommended) & set(mine.item_id)
    trained = ModelBundle.load(example_model).model  # without the newer interaction folded in, it would propose it
    assert "0101" in set(trained.recommend(["U00"], k=36)["item_id"])
    assert "0101" not in set(ex.model.recommend(["U00"], k=36)["item_id"])


def test_a_user_only_the_data_knows_gets_a_page_from_their_history(example_model, shop):
    with open(shop / "interactions.csv", "a") as f:
        f.write("NEWCOMER,0100,2026-12-01,5\nNEWCOMER,0106,2026-12-02,5\n")
    ex = explorer(example_model, shop)
    assert ex.folded_in.added == ["NEWCOMER"] and ex.folded_in.updated == ["U00"]
    history, total = ex.history("NEWCOMER")
    assert total == 2 and [c.item_id for c in history] == ["0106", "0100"]
    recommended = [c.item_id for c in ex.recommendations("NEWCOMER")]
    assert len(recommended) == 5 and not {"0100", "0106"} & set(recommended)
    page = create_app(ex).test_client().get(id_url("users", "NEWCOMER"))
    assert page.status_code == 200 and "0106" in page.get_data(as_text=True)


def hostile_table(tmp_path):
    """A new-items table kept in a home-like folder: photos (one in another folder, by an
    absolute path) beside rows naming a key, the log, a web page and a path out."""
    home = tmp_path / "home"
    write_image(home / "images" / "a.png")
    write_image(tmp_path / "photo-store" / "b.png", (30, 30, 200))
    write_image(tmp_path / "outside.png")
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    (home / "page.html").write_text("<script>alert(1)</script>")
    shutil.copy(SHOP / "interactions.csv", home / "interactions.csv")
    table = pd.DataFrame({"item_id": ["a", "b", "evil", "x", "page", "up"],
                          "image_path": ["images/a.png", str(tmp_path / "photo-store" / "b.png"), ".ssh/id_rsa",
                                         "interactions.csv", "page.html", "../outside.png"]})
    return table, home


def test_only_files_that_open_as_images_are_served_wherever_the_catalog_keeps_them(tmp_path):
    table, home = hostile_table(tmp_path)
    photos = PhotoIndex([(table, home)], lambda item_id: item_id != "x")
    assert photos.files == {
        "a": (home / "images" / "a.png").resolve(), "b": tmp_path / "photo-store" / "b.png"}
    reasons = dict(photos.skipped)
    assert reasons["evil"] == reasons["page"] == CORRUPT and reasons["up"] == OUTSIDE
    assert reasons["x"] == "an item the model does not know"
    narrowed = PhotoIndex([(table, home)], lambda item_id: True, image_root=home)
    assert set(narrowed.files) == {"a"} and dict(narrowed.skipped)["b"] == "outside --image-root"


def test_the_explorer_serves_photos_as_images_and_nothing_else(example_model, tmp_path):
    table, home = hostile_table(tmp_path)
    client = create_app(explorer(example_model, new_items=table, new_root=home)).test_client()
    for item_id in ("evil", "x", "page", "up"):
        response = client.get(f"/images/{item_id}")
        assert response.status_code == 404 and b"OPENSSH" not in response.data and b"<script>" not in response.data
    for item_id in ("a", "b"):
        response = client.get(f"/images/{item_id}")
        assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_links_encode_ids_so_each_leads_back_to_its_own_item(example_model, tmp_path):
    ids = ["../../etc/passwd", "two\nlines", "..", ".", "a b?c#d", "x/../0100"]
    for n, item_id in enumerate(ids):
        write_image(tmp_path / "new" / f"{n}.png", (40 * n, 90, 200))
    table = pd.DataFrame({"item_id": ids, "image_path": [f"{n}.png" for n in range(len(ids))]})
    app = create_app(explorer(example_model, new_items=table, new_root=tmp_path / "new"))
    client = app.test_client()
    for item_id in ids:
        url = id_url("items", item_id)
        assert "/../" not in url and "\n" not in url and not url.endswith(("/..", "/.")), url
        page = html.unescape(client.get(url).get_data(as_text=True))
        assert f"<h1>Item {item_id}" in page, (item_id, url)
        assert client.get(id_url("images", item_id)).headers["Content-Type"] == "image/png", item_id
    start = client.get("/").get_data(as_text=True)
    assert 'href="/items/..%2F..%2Fetc%2Fpasswd"' in start and 'href="/items/?id=..' in start


def test_an_upload_over_the_pixel_budget_is_refused_from_its_header(example_model):
    huge = io.BytesIO()
    Image.new("RGB", (6300, 6300), (200, 40, 40)).save(huge, format="PNG")  # ~40 MP, a few dozen KB
    client = create_app(explorer(example_model)).test_client()
    refused = client.post("/photo", data={"photo": (io.BytesIO(huge.getvalue()), "huge.png")})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "too many pixels" in page and "6300x6300 &gt; 16,000,000" in page


def test_new_photo_ranks_users_against_the_training_catalog(example_model, tmp_path):
    """Items added as new do not move an upload's user ranking: log p(item | user) is
    normalised over the catalog the model was trained on, as in score-new-items."""
    photo = png((210, 40, 40))
    alone = explorer(example_model).score_photo(photo)["users"]
    folder = tmp_path / "new"
    rows = []
    for n, colour in enumerate([(40, 80, 210), (210, 40, 40), (40, 160, 60)]):
        write_image(folder / f"n{n}.png", colour)
        rows.append((f"N{n}", f"n{n}.png"))
    with_new = explorer(example_model, new_items=pd.DataFrame(rows, columns=["item_id", "image_path"]),
                        new_root=folder)
    assert with_new.new_item_ids == ["N0", "N1", "N2"]
    assert [(u.user_id, round(u.score, 4)) for u in with_new.score_photo(photo)["users"]] == \
        [(u.user_id, round(u.score, 4)) for u in alone]


def test_pages_answer_and_bad_ids_get_the_404_page(example_model, shop):
    client = create_app(explorer(example_model, shop)).test_client()
    for path in ("/", "/users/U00", "/items/0100", "/model", "/photo", "/images/0100"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert client.get("/images/0100").data[:8] == b"\x89PNG\r\n\x1a\n"
    for path, text in (("/users/NOBODY", "No user 'NOBODY'"), ("/items/9999", "No item '9999'"),
                       ("/users?id=NOBODY", "No user 'NOBODY'"), ("/images/9999", "no such page"),
                       ("/images/..%2Finteractions.csv", "no such page")):
        response = client.get(path)
        page = html.unescape(response.get_data(as_text=True))
        assert response.status_code == 404 and text in page and "Traceback" not in page, path


def test_uploads_are_checked_like_validation_and_capped(example_model, monkeypatch):
    monkeypatch.setenv("RECSYS_MAX_IMAGE_MB", "0.05")  # 51 KiB
    client = create_app(explorer(example_model)).test_client()
    good = client.post("/photo", data={"photo": (io.BytesIO(png((210, 40, 40))), "red.png")})
    assert good.status_code == 200 and "Who will like it" in good.get_data(as_text=True)
    corrupt = client.post("/photo", data={"photo": (io.BytesIO(b"GIF89a" + bytes(100)), "bad.gif")})
    assert corrupt.status_code == 400 and "bad.gif: cannot be used (not a readable JPEG, PNG" in corrupt.get_data(
        as_text=True)
    big = np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)  # noise: ~120 KB as PNG
    buffer = io.BytesIO()
    Image.fromarray(big).save(buffer, format="PNG")
    too_large = client.post("/photo", data={"photo": (io.BytesIO(buffer.getvalue()), "big.png")})
    assert too_large.status_code == 413 and "0.05 MiB cap" in too_large.get_data(as_text=True)
    empty = client.post("/photo", data={})
    assert empty.status_code == 400 and "Choose a photo" in empty.get_data(as_text=True)


def test_browse_refuses_a_busy_port_before_loading_anything(tmp_path, capsys):
    from pipelines.cli import main

    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        assert main(["browse", str(tmp_path / "no-model-here"), "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"recsys browse: error: --port {port}: 127.0.0.1:{port} is already in use; pick another port"]


def test_most_recommended_counts_the_top_k_lists_of_the_users(example_model):
    from recsys.explorer.overview import most_recommended

    model = ModelBundle.load(example_model).model
    counted = most_recommended(model, k=3, n=5)
    naive = model.recommend(list(model.user_ids_), k=3)["item_id"].value_counts()  # every user: 12 < the sample
    assert [n for _, n in counted] == naive.iloc[:5].tolist()
    assert all(naive[item] == n for item, n in counted)


def test_the_model_page_table_comes_from_the_run_at_its_own_k_values():
    from recsys.explorer.overview import comparison

    metrics = {"cold_ndcg_at_20": 0.4, "cold_ndcg_at_50": 0.5, "popularity.cold_ndcg_at_20": 0.1,
               "warm_ndcg_at_20": 0.2, "popularity.warm_ndcg_at_20": 0.3, "_hybrid.cold_ndcg_at_20": 0.4,
               "_hybrid.warm_ndcg_at_20": 0.2, "cold_ndcg_at_20_low": 0.3, "popularity.cold_ndcg_at_20_vs_hybrid": 0.25,
               "select_ids_val_ndcg_at_20": 0.9}
    table = comparison(metrics)
    assert table["columns"] == ["warm@20", "cold@20"]
    assert table["rows"] == [("hybrid", [(0.2, 1.0), (0.4, 1.0)]),
                             ("popularity", [(0.3, pytest.approx(1.5)), (0.1, pytest.approx(0.25))])]
    assert comparison({"fit_seconds": 3.0, "best_epochs_ids": 4})["rows"] == []  # a `recsys train` run
