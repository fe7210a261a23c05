"""The demo shop's generative story holds, `recsys demo` runs, and the real datasets validate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.common import validate
from recsys.data import load_dataset
from recsys.data.demo import DemoConfig, generate, write_demo
from tests.conftest import HM, MOVIELENS, need


def test_demo_tastes_are_visible_attributes(demo_path):
    ds = load_dataset(demo_path)
    truth = pd.read_csv(demo_path / "users_truth.csv")
    inter = ds.interactions.merge(ds.items[["item_id", "colour", "shape"]], on="item_id").merge(truth, on="user_id")
    colour_share = (inter["colour"] == inter["favourite_colour"]).mean()
    shape_share = (inter["shape"] == inter["favourite_shape"]).mean()
    assert colour_share > 0.45, colour_share  # chance is 1/6
    assert shape_share > 0.35, shape_share  # chance is 1/4


def test_demo_items_arrive_month_by_month_and_are_bought_only_once_in_the_shop():
    interactions, items, _ = generate(DemoConfig())
    arrival = pd.to_datetime(items.set_index("item_id")["arrival"], utc=True)
    assert (arrival == arrival.min()).mean() == pytest.approx(0.5, abs=0.06)  # half in the shop from the start
    assert arrival.nunique() == 7  # then month by month, and one month after the log
    bought = pd.to_datetime(interactions["timestamp"], unit="s", utc=True)
    assert (bought.to_numpy() >= arrival.loc[interactions["item_id"]].to_numpy()).all()
    after_log = arrival[arrival > bought.max()].index
    assert len(after_log) == DemoConfig().n_arrivals and not interactions["item_id"].isin(after_log).any()


def test_demo_is_seeded_and_rerun_is_a_no_op(tmp_path):
    small = DemoConfig(n_users=20, n_items=30, seed=5)
    a, b = generate(small), generate(small)
    assert a[0].equals(b[0]) and a[1].equals(b[1])
    assert not generate(DemoConfig(n_users=20, n_items=30, seed=6))[0].equals(a[0])
    path = write_demo(tmp_path / "d", small)
    before = (path / "interactions.csv").stat().st_mtime_ns
    write_demo(tmp_path / "d", small)
    assert (path / "interactions.csv").stat().st_mtime_ns == before
    write_demo(tmp_path / "d", DemoConfig(n_users=21, n_items=30, seed=5))  # new config replaces it
    assert load_dataset(path).n_users == 21
    assert [p.name for p in tmp_path.iterdir()] == ["d"]  # no temporary folders left behind


@pytest.mark.shared
def test_movielens_validates_with_known_counts():
    ds, report = validate(need(MOVIELENS))
    ratings = pd.read_csv(MOVIELENS / "ratings.csv")
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (610, 9742, 100836)
    assert ds.positive_mask.sum() == (ratings["rating"] >= 4).sum()
    assert report.n_usable == len(list((MOVIELENS / "posters").glob("*.jpg"))) == 9517
    assert not report.problems


@pytest.mark.shared
def test_hm_catalog_validates_keeping_leading_zeros():
    ds, report = validate(need(HM))
    assert ds.n_items == 11800 and len(ds.interactions) == 0
    assert ds.item_ids[0] == "0111565001"
    assert report.n_usable == 11800 and not report.problems


def test_config_files_are_checked(tmp_path):
    from pipelines.config import load_config

    (tmp_path / "c.yaml").write_text("model: {factors: 8, epochz: 3}\n")
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['epochz'\]"):
        load_config(tmp_path / "c.yaml")
    (tmp_path / "c.json").write_text('{"encoder": {"name": "compact_cnn", "image_size": 32}, "ks": [5]}')
    config = load_config(tmp_path / "c.json")
    assert config.encoder.name == "compact_cnn" and config.ks == (5,) and config.encoder.weights is None
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json: cannot be parsed"):
        load_config(tmp_path / "bad.json")


@pytest.mark.shared
def test_hm_fashion_reads_transactions_with_right_counts():
    from tests.conftest import HM_FASHION

    ds, report = validate(need(HM_FASHION))
    purchases = pd.read_csv(HM_FASHION / "transactions_train.csv", dtype={"article_id": str})
    assert len(purchases) == 26328
    assert (ds.n_users, ds.n_items) == (1273, 14448)
    # one interaction per customer and article; repeat purchases add to its weight
    pairs = purchases.groupby(["customer_id", "article_id"])
    assert len(ds.interactions) == pairs.ngroups
    assert ds.interactions["weight"].sum() == 26328 and ds.positive_mask.all()
    first = pd.to_datetime(pairs["t_dat"].min(), utc=True)
    got = ds.interactions.set_index(["user_id", "item_id"])["timestamp"]
    expected = (first - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    assert np.allclose(got.loc[expected.index].to_numpy(), expected.to_numpy())
    assert ds.item_ids[0].startswith("0") and len(ds.item_ids[0]) == 10
    assert report.n_usable == 14448 and not report.problems
