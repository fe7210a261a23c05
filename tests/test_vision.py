"""Image encoders, the tf.data pipeline, the embedding store and similar items."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import EXAMPLE_SHOP, MOBILENET_WEIGHTS, need, one_line_error, run_recsys, write_image
from recsys.data import images as im, load_dataset
from recsys.vision import compact_cnn, embed_catalog, embed_dataset, EncoderConfig, ImageEncoder, SimilarItems
from recsys.vision.pixels import letterbox, load_pixels

SMALL = EncoderConfig("compact_cnn", image_size=32, embedding_dim=16)


@pytest.fixture(scope="module")
def small_encoder():
    return ImageEncoder(SMALL)


def conv_out(w, f, p, s):
    return (w - f + 2 * p) // s + 1


def test_compact_cnn_feature_maps_follow_the_formula():
    model = compact_cnn(image_size=64, filters=(8, 16, 32))
    w = 64
    for layer in model.layers:
        if layer.name.startswith("conv"):
            w = conv_out(w, f=3, p=1, s=1)  # 'same' padding for a 3x3 kernel is P = 1
        elif layer.name.startswith("pool"):
            w = conv_out(w, f=2, p=0, s=2)
        else:
            continue
        assert layer.output.shape[1:3] == (w, w), layer.name
    assert w == 8


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_v2_b0"])
def test_backbones_build_offline_with_the_right_preprocessing(name):
    enc = ImageEncoder(EncoderConfig(name, image_size=64, embedding_dim=8, weights=None))
    out = enc.encode(np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3)))
    assert out.shape == (2, 8)
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    rescale = [l for l in enc.model.get_layer(name).layers if l.name == "rescale"]
    if name == "mobilenet_v2":  # wants -1..1; the others rescale 0..255 themselves
        assert rescale and rescale[0].scale == pytest.approx(1 / 127.5) and rescale[0].offset == -1.0
    else:
        assert not rescale


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="encoder `name` must be one of"):
        EncoderConfig("resnet9000")
    with pytest.raises(ValueError, match="file not found"):
        EncoderConfig(weights="/nowhere/weights.h5")


def test_letterbox_keeps_aspect_ratio_and_pads_white():
    img = Image.new("RGB", (100, 50), (255, 0, 0))
    out = letterbox(img, 40)
    assert out.shape == (40, 40, 3)
    assert tuple(out[0, 0]) == (255, 255, 255) and tuple(out[20, 20]) == (255, 0, 0)
    assert (out[:, 20, 0] == 255).all() and (out[:, 20, 1] < 10).sum() == 20  # red band 20 px tall


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (40, 20), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    img.save(tmp_path / "r.jpg", exif=exif)
    rgb, _ = im.load_rgb(tmp_path / "r.jpg")
    assert rgb.size == (20, 40)


def test_save_load_round_trip(tmp_path, small_encoder):
    x = np.random.default_rng(1).integers(0, 256, (3, 32, 32, 3))
    small_encoder.save(tmp_path / "enc")
    loaded = ImageEncoder.load(tmp_path / "enc")
    assert loaded.fingerprint() == small_encoder.fingerprint()
    assert np.allclose(loaded.encode(x), small_encoder.encode(x), atol=1e-6)
    other = ImageEncoder(EncoderConfig("compact_cnn", image_size=32, embedding_dim=16, seed=1))
    assert other.fingerprint() != small_encoder.fingerprint()


def catalog(root, n=6):
    rows = []
    for i in range(n):
        write_image(root / f"img/{i}.png", colour=(40 * i, 255 - 40 * i, 90))
        rows.append((f"0{i}", f"img/{i}.png"))
    return pd.DataFrame(rows, columns=["item_id", "image_path"])


def test_rerun_runs_no_cnn_work_and_changed_image_is_re_embedded(tmp_path, small_encoder):
    items = catalog(tmp_path)
    store = tmp_path / "store"
    first = embed_catalog(items.item_id, items.image_path, tmp_path, small_encoder, store)
    assert (first.embedded, first.reused, first.cnn_batches) == (6, 0, 1)
    again = embed_catalog(items.item_id, items.image_path, tmp_path, small_encoder, store)
    assert (again.embedded, again.reused, again.cnn_batches) == (0, 6, 0)
    assert np.array_equal(again.vectors, first.vectors)
    write_image(tmp_path / "img/3.png", colour=(0, 0, 0))  # one photo replaced
    changed = embed_catalog(items.item_id, items.image_path, tmp_path, small_encoder, store)
    assert (changed.embedded, changed.reused) == (1, 5)
    assert not np.allclose(changed.vectors[3], first.vectors[3])
    assert np.allclose(changed.vectors[:3], first.vectors[:3])
    fresh = small_encoder.encode(load_pixels(tmp_path / "img/3.png", 32)[None])
    assert np.allclose(changed.vectors[3], fresh[0], atol=1e-5)


def test_every_bad_image_kind_is_reported_by_embed(tmp_path, small_encoder):
    root = tmp_path / "ds"
    write_image(root / "ok.jpg")
    (root / "empty.jpg").write_bytes(b"")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(root / "full.jpg")
    (root / "trunc.jpg").write_bytes((root / "full.jpg").read_bytes()[:600])
    (root / "corrupt.jpg").write_bytes(b"GIF89a nonsense" * 20)
    Image.new("1", (8000, 6000)).save(root / "bomb.png")
    write_image(tmp_path / "outside.jpg")
    for mode in ("L", "CMYK"):
        write_image(root / f"{mode}.jpg", mode=mode)
    for mode in ("P", "RGBA"):
        write_image(root / f"{mode}.png", mode=mode)
    cells = {"ok": "ok.jpg", "missing": "gone.jpg", "empty": "empty.jpg", "trunc": "trunc.jpg",
             "corrupt": "corrupt.jpg", "bomb": "bomb.png", "escape": "../outside.jpg", "none": "",
             "gray": "L.jpg", "cmyk": "CMYK.jpg", "palette": "P.png", "rgba": "RGBA.png"}
    result = embed_catalog(list(cells), list(cells.values()), root, small_encoder, tmp_path / "store")
    assert result.embedded == 5  # ok + the four converted modes
    assert dict(result.skipped) == {im.MISSING: 1, im.EMPTY: 1, im.TRUNCATED: 1, im.CORRUPT: 1,
                                    im.BOMB: 1, im.OUTSIDE: 1, im.NO_IMAGE: 1}
    assert dict(result.skipped_items)["escape"] == im.OUTSIDE
    assert result.has_image.tolist() == [k in ("ok", "gray", "cmyk", "palette", "rgba") for k in cells]
    assert not result.vectors[~result.has_image].any()
    assert "skipped 7" in result.summary()


def test_embed_cli_summary(tmp_path, capsys):
    from pipelines.cli import main

    items = catalog(tmp_path / "ds")
    (tmp_path / "ds" / "items.csv").write_text(items.to_csv(index=False) + "bad,img/missing.png\n")
    (tmp_path / "ds" / "interactions.csv").write_text("user_id,item_id\nu,00\n")
    args = ["embed", str(tmp_path / "ds"), "--encoder", "compact_cnn", "--image-size", "32",
            "--store", str(tmp_path / "store")]
    assert main(args) == 0
    assert "embedded 6, reused 0, skipped 1 (file not found: 1)" in capsys.readouterr().out
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "embedded 0, reused 6, skipped 1" in out and "skipped item 'bad': file not found" in out


def test_similar_items_match_a_naive_search(rng):
    vectors = rng.normal(size=(50, 8)).astype(np.float32)
    ids = [f"i{k}" for k in range(50)]
    has_image = np.ones(50, bool)
    has_image[7] = False
    sim = SimilarItems(ids, vectors, has_image)
    table = sim.similar_items(["i0", "i3"], k=5)
    centred = vectors - vectors[has_image].mean(axis=0)
    unit = centred / np.linalg.norm(centred, axis=1, keepdims=True)
    for query in ("i0", "i3"):
        q = ids.index(query)
        cos = unit @ unit[q]
        cos[[q, 7]] = -np.inf
        order = np.argsort(-cos)[:5]
        got = table[table.item_id == query].sort_values("rank")
        assert got.similar_item_id.tolist() == [ids[j] for j in order]
        assert got.score.to_numpy() == pytest.approx(cos[order], abs=1e-5)
    new = sim.similar_to(["new"], vectors[[3]], k=1)  # a new image identical to i3
    assert new.similar_item_id.tolist() == ["i3"] and new.score.iloc[0] == pytest.approx(1.0)
    with pytest.raises(KeyError, match="unknown item_id 'nope'"):
        sim.similar_items(["nope"])


def test_similarity_scores_spread_though_features_share_one_direction(rng):
    """Two looks on top of a large shared component (as ReLU features have): raw
    cosines are all about 1; centred, the same look scores high and the other negative."""
    looks = np.repeat(np.eye(2, 16, dtype=np.float32), 10, axis=0) + rng.normal(0, 0.03, (20, 16))
    vectors = 50.0 + looks
    raw = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    assert (raw @ raw.T).min() > 0.999
    table = SimilarItems([f"i{k}" for k in range(20)], vectors).similar_items(["i0"], k=19)
    same_look = table.similar_item_id.isin([f"i{k}" for k in range(10)])
    assert same_look.head(9).all()
    assert table.score[same_look].min() > 0.5 and table.score[~same_look].max() < -0.5


@pytest.mark.slow
@pytest.mark.shared
def test_local_imagenet_weights_load_at_any_size(demo_path):
    weights = need(MOBILENET_WEIGHTS)
    pretrained = ImageEncoder(EncoderConfig("mobilenet_v2", image_size=96, weights=str(weights)))
    random_init = ImageEncoder(EncoderConfig("mobilenet_v2", image_size=96, weights=None))
    assert pretrained.dim == 1280 and pretrained.fingerprint() != random_init.fingerprint()
    ds = load_dataset(demo_path)
    vectors = embed_dataset(ds, pretrained, store_dir=demo_path.parent / "store").vectors
    idx, _ = SimilarItems(ds.item_ids, vectors).neighbours(ds.item_ids, 5)
    colour = ds.items["colour"].to_numpy()
    agreement = (colour[idx] == colour[:, None]).mean()
    assert agreement > 0.5, agreement  # chance is 1/6: ImageNet features see colour


@pytest.mark.slow
def test_missing_imagenet_weights_offline_fail_before_any_run(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    line = one_line_error(run_recsys("train", EXAMPLE_SHOP, "--out", tmp_path / "m", "--image-size", "96", cwd=tmp_path,
                                 env={"KERAS_HOME": str(tmp_path / "keras"), "MLFLOW_TRACKING_URI": uri,
                                      "https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}))
    assert "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5" in line
    assert f"{tmp_path / 'keras' / 'models'}" in line and "--weights FILE.h5" in line and "compact_cnn" in line
    assert "None --" not in line and "(" in line.split("cannot be downloaded")[1]  # the cause, not a repr
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # mlflow.set_tracking_uri sets it too: restored after the test
    mlflow.set_tracking_uri(uri)
    assert mlflow.search_runs(search_all_experiments=True).empty
    assert not (tmp_path / "m").exists()
