"""The demo shop (recsys.data.demo): tastes a CNN can see, items arriving month by month, seeded."""

from __future__ import annotations

import pandas as pd
import pytest

from recsys.data import load_dataset
from recsys.data.demo import DemoConfig, generate, write_demo


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
