"""Splits: no leakage between train and test, cold items really cold, seeded."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.data import load_dataset
from recsys.evaluation import fit_and_evaluate, make_split, metric_table
from recsys.models import ItemKNN, Popularity, RandomScores


@pytest.fixture(scope="module")
def demo(demo_path):
    return load_dataset(demo_path)


def keys(frame):
    return set(zip(frame["user_idx"], frame["item_idx"], frame.get("timestamp", pd.Series(0, index=frame.index))))


@pytest.mark.parametrize("warm", ["temporal", "random"])
def test_no_leakage(demo, warm):
    split = make_split(demo, warm=warm, test_share=0.2, cold_share=0.25, seed=3)
    train = split.train.interactions
    assert len(split.cold_items) == round(0.25 * demo.interactions["item_idx"].nunique())
    assert not train["item_idx"].isin(split.cold_items).any(), "a cold item is in training"
    assert split.cold_test["item_idx"].isin(split.cold_items).all()
    assert not split.warm_test["item_idx"].isin(split.cold_items).any()
    assert not keys(split.warm_test) & keys(train), "a test interaction is in training"
    assert not keys(split.cold_test) & keys(train)
    # every positive of a cold item is in the cold test
    cold_pos = demo.positives()[demo.positives()["item_idx"].isin(split.cold_items)]
    assert len(split.cold_test) == len(cold_pos)
    # the catalog and id maps are kept, so cold items can still be scored
    assert split.train.n_items == demo.n_items


def test_temporal_holdout_is_each_users_latest(demo):
    split = make_split(demo, warm="temporal", test_share=0.2, cold_share=0.0)
    train = split.train.interactions
    last_train = train.groupby("user_idx")["timestamp"].max()
    first_test = split.warm_test.groupby("user_idx")["timestamp"].min()
    assert (first_test >= last_train.loc[first_test.index]).all()
    share = len(split.warm_test) / len(demo.interactions)
    assert 0.15 < share < 0.25


def test_split_is_seeded(demo):
    a, b = make_split(demo, seed=1), make_split(demo, seed=1)
    c = make_split(demo, seed=2)
    assert np.array_equal(a.cold_items, b.cold_items) and a.warm_test.equals(b.warm_test)
    assert not np.array_equal(a.cold_items, c.cold_items)


def test_bad_arguments(demo):
    with pytest.raises(ValueError, match="`warm` must be one of"):
        make_split(demo, warm="future")
    with pytest.raises(ValueError, match="`cold_share` must be in"):
        make_split(demo, cold_share=1.5)


def test_baselines_on_demo_rank_sensibly(demo):
    split = make_split(demo, seed=0)
    table = metric_table(fit_and_evaluate(
        {"popularity": Popularity(), "random": RandomScores(), "item_knn": ItemKNN()}, split))
    # with warm items, behaviour beats chance and co-occurrence beats popularity
    assert table.loc["popularity", "warm_ndcg_at_20"] > 1.5 * table.loc["random", "warm_ndcg_at_20"]
    assert table.loc["item_knn", "warm_ndcg_at_20"] > table.loc["popularity", "warm_ndcg_at_20"]
    # cold items have no behaviour: popularity cannot beat chance by much
    assert table.loc["popularity", "cold_ndcg_at_20"] < 1.3 * table.loc["random", "cold_ndcg_at_20"]
