"""Every bad input of the data contract gets a clear message (file, row or column)."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
from PIL import Image

from conftest import EXAMPLE_SHOP, FAST_CONFIG as FAST, REPO, error_of, write_dataset, write_image
from pipelines.cli import main
from pipelines.inputs import format_report, validate
from recsys.data import DataError, ImageError, images as im, load_dataset, load_rgb

GOOD = "user_id,item_id,rating,timestamp\nu1,A,5,100\nu1,B,3,200\nu2,A,4,300\n"
#: the committed example dataset (data/README.md): the contract as a user copies it
EXAMPLE = REPO / "data" / "example-shop"


def fails(tmp_path, capsys, match: str):
    """Run `recsys data validate` and check: exit 2, message, no traceback."""
    code = main(["data", "validate", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert match in err, err
    return err


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


def test_good_dataset_loads_with_exact_ids(tmp_path):
    items = "item_id,image_path,colour\n0111565001,img/a.jpg,red\n007,img/b.jpg,blue\n"
    inter = "user_id,item_id\n00042,0111565001\nNA,007\n"
    ds = load_dataset(write_dataset(tmp_path, inter, items, {"img/a.jpg": (1, 2, 3), "img/b.jpg": (4, 5, 6)}))
    assert list(ds.item_ids) == ["0111565001", "007"]
    assert set(ds.user_ids) == {"00042", "NA"}
    assert ds.items["colour"].tolist() == ["red", "blue"]  # metadata kept
    assert ds.item_index(["007"]).tolist() == [1]
    with pytest.raises(KeyError, match="unknown item_id"):
        ds.item_index(["7"])


def test_missing_column_names_it_and_suggests_the_misnamed_one(tmp_path, capsys):
    write_dataset(tmp_path, "userId,item_id\nu1,A\n", "item_id,image_path\nA,\n")
    err = fails(tmp_path, capsys, "missing required column(s) 'user_id'")
    assert "'userId' looks like 'user_id'" in err and "interactions.csv" in err


def test_items_table_missing_image_path(tmp_path, capsys):
    write_dataset(tmp_path, "user_id,item_id\nu1,A\n", "item_id,picture\nA,x.jpg\n")
    fails(tmp_path, capsys, "items.csv: missing required column(s) 'image_path'")


def test_zero_byte_file(tmp_path, capsys):
    write_dataset(tmp_path, "", "item_id,image_path\nA,\n")
    fails(tmp_path, capsys, "interactions.csv: file is empty")


def test_header_only_file(tmp_path, capsys):
    write_dataset(tmp_path, "user_id,item_id\n", "item_id,image_path\nA,\n")
    fails(tmp_path, capsys, "interactions.csv: has a header but no data rows")


@pytest.mark.parametrize("bad, shown", [("abc", "'abc'"), ("", "''"), ("nan", "'nan'"), ("inf", "'inf'")])
def test_bad_rating_names_row_and_value(tmp_path, capsys, bad, shown):
    write_dataset(tmp_path, f"user_id,item_id,rating\nu1,A,4\nu2,A,{bad}\n")
    err = fails(tmp_path, capsys, "interactions.csv column 'rating': expected finite numbers")
    assert f"row 2 ({shown})" in err


def test_bad_timestamp_names_row(tmp_path, capsys):
    write_dataset(tmp_path, "user_id,item_id,timestamp\nu1,A,2024-01-02T03:04:05Z\nu2,A,yesterday\n")
    err = fails(tmp_path, capsys, "interactions.csv column 'timestamp'")
    assert "row 2 ('yesterday')" in err


def test_iso_and_unix_timestamps_parse(tmp_path):
    ds = load_dataset(write_dataset(tmp_path, "user_id,item_id,timestamp\nu1,A,1970-01-01T00:01:40Z\nu2,A,250\n"))
    assert ds.interactions["timestamp"].tolist() == [100.0, 250.0]


def test_empty_id_is_fatal(tmp_path, capsys):
    write_dataset(tmp_path, "user_id,item_id\nu1,A\n,A\n")
    fails(tmp_path, capsys, "interactions.csv column 'user_id': empty id at row 2")


def test_duplicates_are_dropped_counted_and_warned(tmp_path):
    ds, report = validate(write_dataset(tmp_path, GOOD + "u1,B,3,200\n"))
    assert len(ds.interactions) == 3
    text = format_report(ds, report)
    assert "dropped 1 duplicate row(s), first at row 4" in text


def test_unknown_items_are_dropped_and_counted(tmp_path):
    items = "item_id,image_path\nA,img/A.jpg\nB,img/B.jpg\n"
    inter = GOOD + "u3,Z,5,400\nu3,Y,5,500\n"
    ds, report = validate(write_dataset(tmp_path, inter, items, {"img/A.jpg": (1, 1, 1), "img/B.jpg": (2, 2, 2)}))
    assert len(ds.interactions) == 3 and "u3" not in set(ds.user_ids)
    assert "dropped 2 interaction(s) whose item_id is not in items.csv (2 distinct" in format_report(ds, report)


def test_image_problems_are_reported_per_item_not_fatal(tmp_path, capsys):
    items = ("item_id,image_path\nok,img/ok.jpg\nmissing,img/none.jpg\nempty,img/empty.jpg\n"
             "trunc,img/trunc.jpg\ncorrupt,img/corrupt.jpg\nescape,../outside.jpg\nnoimg,\n")
    inter = "user_id,item_id\n" + "".join(f"u1,{i}\n" for i in ("ok", "missing", "empty", "trunc", "corrupt", "escape", "noimg"))
    write_dataset(tmp_path / "ds", inter, items, {"img/ok.jpg": (10, 200, 10)})
    root = tmp_path / "ds"
    (root / "img/empty.jpg").write_bytes(b"")
    big = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    big.save(root / "img/full.jpg", quality=95)
    data = (root / "img/full.jpg").read_bytes()
    (root / "img/trunc.jpg").write_bytes(data[: len(data) // 2])
    (root / "img/corrupt.jpg").write_bytes(b"this is not an image at all" * 10)
    write_image(tmp_path / "outside.jpg")  # exists, but outside the dataset folder

    assert main(["data", "validate", str(root)]) == 0
    out = capsys.readouterr().out
    assert "with a usable image             1" in out
    assert "without a usable image          6" in out
    for item, reason in [("missing", im.MISSING), ("empty", im.EMPTY), ("trunc", im.TRUNCATED),
                         ("corrupt", im.CORRUPT), ("escape", im.OUTSIDE)]:
        assert f"item '{item}': {reason}" in out, (item, out)
    assert "no image path: 1" in out and "item 'noimg'" not in out


@pytest.mark.parametrize("mode", ["L", "CMYK", "P", "RGBA"])
def test_other_colour_modes_are_converted_not_errors(tmp_path, mode):
    suffix = "jpg" if mode in ("L", "CMYK") else "png"
    write_dataset(tmp_path, "user_id,item_id\nu1,A\n", f"item_id,image_path\nA,a.{suffix}\n")
    write_image(tmp_path / f"a.{suffix}", (0, 120, 250), mode=mode)
    ds, report = validate(tmp_path)
    assert report.n_usable == 1 and report.converted[mode] == 1
    assert f"({mode}: 1)" in format_report(ds, report)
    rgb, original = load_rgb(tmp_path / f"a.{suffix}")
    assert rgb.mode == "RGB" and original == mode


def test_transparent_pixels_become_white():
    img = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert im._to_rgb(img).getpixel((0, 0)) == (255, 255, 255)


def test_decompression_bomb_is_refused(tmp_path):
    # 8000 x 6000 = 48 MP: over the default limit, yet a tiny file (bilevel PNG)
    Image.new("1", (8000, 6000)).save(tmp_path / "bomb.png")
    assert (tmp_path / "bomb.png").stat().st_size < 100_000
    with pytest.raises(ImageError, match="decompression bomb"):
        load_rgb(tmp_path / "bomb.png")
    write_dataset(tmp_path / "ds", "user_id,item_id\nu1,A\n", f"item_id,image_path\nA,{tmp_path / 'bomb.png'}\n")
    _, report = validate(tmp_path / "ds")
    assert report.unusable[im.BOMB] == 1


def test_path_escaping_through_symlink_is_refused(tmp_path):
    write_image(tmp_path / "secret.jpg")
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "link.jpg").symlink_to(tmp_path / "secret.jpg")
    with pytest.raises(ImageError, match="escapes the dataset folder"):
        im.resolve_image_path("link.jpg", tmp_path / "ds")


def test_missing_folder_and_missing_table(tmp_path, capsys):
    fails(tmp_path / "nope", capsys, "dataset folder not found")
    (tmp_path / "items.csv").write_text("item_id,image_path\nA,\n")
    fails(tmp_path, capsys, "no interactions.csv or interactions.parquet")


def test_rating_and_weight_together_is_fatal(tmp_path, capsys):
    write_dataset(tmp_path, "user_id,item_id,rating,weight\nu1,A,4,1\n")
    fails(tmp_path, capsys, "has both 'rating' and 'weight'")


def test_parquet_tables_keep_string_ids(tmp_path):
    import pandas as pd

    pd.DataFrame({"user_id": ["007", "8"], "item_id": ["0111", "0111"]}).to_parquet(tmp_path / "interactions.parquet")
    pd.DataFrame({"item_id": ["0111"], "image_path": [""]}).to_parquet(tmp_path / "items.parquet")
    ds = load_dataset(tmp_path)
    assert list(ds.user_ids) == ["007", "8"] and list(ds.item_ids) == ["0111"]


def test_positives_follow_the_rating_threshold(tmp_path):
    ds = load_dataset(write_dataset(tmp_path, GOOD), positive_threshold=4.0)
    assert ds.positive_mask.tolist() == [True, False, True]
    with pytest.raises(DataError):
        load_dataset(tmp_path / "absent")


def test_millisecond_and_nanosecond_epochs_are_read_as_such(tmp_path):
    ms = write_dataset(tmp_path / "ms", "user_id,item_id,timestamp\nu1,A,1590969600000\nu2,A,1590969601500\n")
    assert load_dataset(ms).interactions["timestamp"].tolist() == [1590969600.0, 1590969601.5]  # 2020-06-01
    ns = write_dataset(tmp_path / "ns", "user_id,item_id,timestamp\nu1,A,1590969600000000000\n")
    assert load_dataset(ns).interactions["timestamp"].tolist() == [1590969600.0]


def test_a_column_mixing_seconds_and_milliseconds_names_rows_of_each(tmp_path, capsys):
    write_dataset(tmp_path, "user_id,item_id,timestamp\nu1,A,1590969600\nu2,A,1590969600000\n")
    err = fails(tmp_path, capsys, "interactions.csv column 'timestamp': mixes epoch seconds")
    assert "row 1 ('1590969600')" in err and "with milliseconds (row 2 ('1590969600000'))" in err


@pytest.mark.parametrize("fmt", ["EPS", "PPM", "TGA", "ICO"])
def test_only_catalog_formats_are_opened(fmt, tmp_path):
    """EPS would go to Ghostscript where it is installed; PPM, TGA and ICO Pillow decodes
    itself, and a catalog does not use them either: all are refused by their content."""
    path = tmp_path / "photo.jpg"  # the name does not matter, the bytes do
    Image.new("RGB", (16, 16), (200, 30, 30)).save(path, format=fmt)
    with pytest.raises(ImageError) as refused:
        load_rgb(path)
    assert refused.value.reason == im.CORRUPT and "JPEG, PNG, WebP, GIF, BMP or TIFF" in str(refused.value)
    for allowed in ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"):
        Image.new("RGB", (16, 16), (200, 30, 30)).save(path, format=allowed)
        assert load_rgb(path)[0].size == (16, 16)


# -- unusable datasets and embedding caches ----------------------------------------------------
def test_unusable_datasets_and_caches_are_named_before_any_embedding(tmp_path, capsys):
    from recsys.vision.store import EmbeddingStore

    (tmp_path / "fast.yaml").write_text(FAST + f"store: {tmp_path / 'store'}\n")
    train = ["train", None, "--out", tmp_path / "m", "--config", tmp_path / "fast.yaml"]
    semicolons = write_dataset(tmp_path / "semi", "user_id;item_id\nu1;A\n", "item_id;image_path\nA;a.png\n")
    assert "recsys reads comma-separated CSV" in error_of(train[:1] + [semicolons] + train[2:], capsys)
    one_item = write_dataset(tmp_path / "one", "user_id,item_id\nu1,A\nu2,A\n")
    assert "positives on 1 item only" in error_of(train[:1] + [one_item] + train[2:], capsys)
    no_positive = write_dataset(tmp_path / "low", "user_id,item_id,rating\nu1,A,1\nu2,B,2\n")
    assert "no positive interactions to learn from (rating >= 4)" in error_of(
        train[:1] + [no_positive] + train[2:], capsys)
    assert not (tmp_path / "store").exists()  # nothing was embedded
    # a cache of another width, then a corrupt one: each says to delete it
    assert main(["embed", str(EXAMPLE_SHOP), "--encoder", "compact_cnn", "--image-size", "32", "--weights", "none",
                 "--store", str(tmp_path / "store")]) == 0
    cache = next((tmp_path / "store").glob("*.parquet"))
    store = EmbeddingStore(tmp_path / "store", cache.stem)
    frame, vectors = store.load()
    store.save(frame, vectors[:, :3])
    assert "holds 3-d vectors, but this encoder makes" in error_of(train[:1] + [EXAMPLE_SHOP] + train[2:], capsys)
    cache.write_bytes(b"not parquet")
    assert "the embedding cache is unreadable (" in error_of(train[:1] + [EXAMPLE_SHOP] + train[2:], capsys)
    assert "delete it" in error_of(train[:1] + [EXAMPLE_SHOP] + train[2:], capsys)
    copy = tmp_path / "shop"
    shutil.copytree(EXAMPLE_SHOP, copy)
    assert "inside the dataset folder" in error_of(["embed", copy, "--store", copy / "cache"], capsys)
    assert not (copy / "cache").exists()
