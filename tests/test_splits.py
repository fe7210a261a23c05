"""Splits: no leakage between train and test, cold items really cold, seeded."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from recsys.data import Dataset, load_dataset
from recsys.evaluation import evaluate, fit_and_evaluate, make_split, metric_table
from recsys.evaluation.holdouts import before_held
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


def test_a_dataset_made_of_a_filtered_frame_splits_like_a_fresh_one(demo):
    """``Dataset.from_frames`` of a caller's filtered table (its index has gaps) indexes rows by position."""
    raw = demo.interactions.drop(columns=["user_idx", "item_idx"])
    kept = raw[raw["item_id"].isin(raw["item_id"].value_counts().index[:40])]
    assert not kept.index.equals(pd.RangeIndex(len(kept)))
    filtered = Dataset.from_frames(kept, demo.items, demo.root)
    fresh = Dataset.from_frames(kept.reset_index(drop=True), demo.items, demo.root)
    a, b = (make_split(d, warm="temporal", cold_share=0.2, seed=0) for d in (filtered, fresh))
    assert a.warm_test.reset_index(drop=True).equals(b.warm_test.reset_index(drop=True))
    assert np.array_equal(a.cold_items, b.cold_items)


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
    # cold items have no behaviour: popularity ties them all, so over a few tie orders it ranks them as chance does
    popularity, chance = Popularity().fit(split.train), RandomScores(seed=0).fit(split.train)
    cold = {name: np.mean([evaluate(model, split, seed=seed)["cold"]["ndcg_at_20"] for seed in range(5)])
            for name, model in (("popularity", popularity), ("random", chance))}
    assert cold["popularity"] < 1.3 * cold["random"], cold


def _cutoff_frame():
    """u1 and u2 before the cutoff (day 10); after it: warm A by u1 (new to u1), u1's own B
    again, new item N by u2 and by u3 (unknown at the cutoff), item M seen only after."""
    day = 86400
    inter = ("user_id,item_id,timestamp\n"
             f"u1,A0,{1 * day}\nu1,B,{2 * day}\nu2,A,{3 * day}\nu2,B,{4 * day}\n"
             f"u1,A,{10 * day}\nu1,B,{11 * day}\nu2,N,{12 * day}\nu3,N,{13 * day}\nu3,M,{14 * day}\n")
    return inter


def test_cutoff_split_known_answer(tmp_path):
    from conftest import write_dataset

    ds = load_dataset(write_dataset(tmp_path, _cutoff_frame()))
    split = make_split(ds, kind="cutoff", at="1970-01-11")
    ids = lambda frame: set(zip(ds.user_ids[frame["user_idx"]], ds.item_ids[frame["item_idx"]]))  # noqa: E731
    assert ids(split.train.interactions) == {("u1", "A0"), ("u1", "B"), ("u2", "A"), ("u2", "B")}
    assert ids(split.warm_test) == {("u1", "A")}  # u1's own B again is no test; u3 was unknown
    assert ids(split.cold_test) == {("u2", "N")}
    assert set(ds.item_ids[split.cold_items]) == {"N", "M"}  # all items first seen after the cutoff
    same = make_split(ds, kind="cutoff", last="4d")  # latest is day 14: cutoff at day 10
    assert ids(same.train.interactions) == ids(split.train.interactions)


@pytest.mark.parametrize("bad, match", [({"at": None, "last": None}, "exactly one of"),
                                        ({"last": "8x"}, "`last` must be"), ({"at": "soon"}, "`at` must be"),
                                        ({"at": "1960-01-01"}, "no training")])
def test_cutoff_split_bad_settings_are_named(tmp_path, bad, match):
    from conftest import write_dataset

    ds = load_dataset(write_dataset(tmp_path, _cutoff_frame()))
    with pytest.raises(ValueError, match=match):
        make_split(ds, kind="cutoff", **({"at": None, "last": None} | bad))


def _check_no_leak(ds, split, cutoff):
    train = split.train.interactions
    assert (train["timestamp"] < cutoff).all(), "a training interaction at or after the cutoff"
    assert not train["item_idx"].isin(split.cold_items).any(), "a cold item has a training interaction"
    later = ds.interactions[ds.interactions["timestamp"] >= cutoff]
    assert (split.warm_test["timestamp"] >= cutoff).all() and (split.cold_test["timestamp"] >= cutoff).all()
    assert split.cold_test["item_idx"].isin(split.cold_items).all()
    assert set(split.cold_items) == set(later["item_idx"]) - set(train["item_idx"])
    known = set(train["user_idx"])
    assert set(split.warm_test["user_idx"]) <= known and set(split.cold_test["user_idx"]) <= known


def test_cutoff_split_leaks_nothing_on_the_demo(demo):
    from recsys.evaluation.splits import cutoff_time

    split = make_split(demo, kind="cutoff", last="6w")
    _check_no_leak(demo, split, cutoff_time(demo.interactions["timestamp"].to_numpy(), last="6w"))
    assert len(split.warm_test) > 100


@pytest.mark.shared
def test_cutoff_split_leaks_nothing_on_hm_fashion():
    from recsys.evaluation.splits import cutoff_time
    from conftest import HM_FASHION, need

    ds = load_dataset(need(HM_FASHION))
    split = make_split(ds, kind="cutoff", last="8w")
    _check_no_leak(ds, split, cutoff_time(ds.interactions["timestamp"].to_numpy(), last="8w"))
    # in fashion most of what is bought after the cutoff is new
    assert len(split.cold_test) > len(split.warm_test) > 100


def test_cutoff_split_from_a_config_file(demo, tmp_path):
    import dataclasses

    from pipelines.config import load_config

    (tmp_path / "c.yaml").write_text("split: {kind: cutoff, last: 6w}\n")
    split = make_split(demo, **dataclasses.asdict(load_config(tmp_path / "c.yaml").split))
    assert split.train.interactions["timestamp"].max() < demo.interactions["timestamp"].max() - 6 * 7 * 86400 + 1
    (tmp_path / "bad.yaml").write_text("split: {kind: future}\n")
    with pytest.raises(ValueError, match="split `kind` must be one of"):
        make_split(demo, **dataclasses.asdict(load_config(tmp_path / "bad.yaml").split))


def test_validation_users_are_a_seeded_sorted_sample_beyond_the_cap():
    from recsys.evaluation.holdouts import MAX_VALIDATION_USERS, validation_users

    few = np.array([5, 1, 5, 3])
    assert validation_users(few, 0).tolist() == [1, 3, 5]
    many = np.arange(3 * MAX_VALIDATION_USERS)[::-1]
    sample = validation_users(many, 7)
    assert len(sample) == MAX_VALIDATION_USERS and (np.diff(sample) > 0).all()
    assert np.array_equal(sample, validation_users(many, 7)) and not np.array_equal(sample, validation_users(many, 8))


def test_before_held_keeps_only_what_each_user_liked_before_their_first_held_out_item():
    rng = np.random.default_rng(5)
    train = pd.DataFrame({"user_idx": rng.integers(0, 6, 80), "item_idx": rng.integers(0, 30, 80),
                          "timestamp": rng.integers(0, 20, 80).astype(float)})
    held = pd.DataFrame({"user_idx": [0, 0, 2, 3], "item_idx": [1, 2, 3, 4], "timestamp": [9.0, 4.0, 12.0, 0.0]})
    first_held = {0: 4.0, 2: 12.0, 3: 0.0}
    expected = [i for i, row in train.iterrows() if row["timestamp"] < first_held.get(row["user_idx"], np.inf)]
    assert before_held(train, held).index.tolist() == expected  # same-day rows go: they may share the basket
    assert before_held(train.drop(columns="timestamp"), held.drop(columns="timestamp")).equals(
        train.drop(columns="timestamp"))


def test_equal_scores_rank_in_a_seeded_random_order_not_by_index(demo):
    split = make_split(demo, seed=0)
    lowest = np.sort(split.cold_items)[:5]
    users = np.unique(split.cold_test["user_idx"].to_numpy())
    # every cold user likes exactly the cold items with the lowest indices
    split = dataclasses.replace(split, cold_test=pd.DataFrame({"user_idx": np.repeat(users, 5),
                                                               "item_idx": np.tile(lowest, len(users))}))
    model = Popularity().fit(split.train)  # no interactions on cold items: they all score alike
    cold = [evaluate(model, split, seed=seed)["cold"]["ndcg_at_20"] for seed in (0, 1)]
    assert max(cold) < 0.5, cold  # in index order these ties would rank the liked items first: NDCG 1
    assert cold[0] != cold[1] and cold[0] == evaluate(model, split, seed=0)["cold"]["ndcg_at_20"]


def test_newest_cold_draw_holds_out_the_items_first_seen_last(demo):
    split = make_split(demo, cold_share=0.2, seed=5, cold_draw="newest")
    first = demo.interactions.groupby("item_idx")["timestamp"].min()
    held = first.index.isin(split.cold_items)
    assert held.sum() == round(0.2 * len(first)) and first[held].min() >= first[~held].max()
    assert np.array_equal(split.cold_items, make_split(demo, seed=9, cold_draw="newest").cold_items)  # no draw
    with pytest.raises(ValueError, match="cold_draw"):
        make_split(demo, cold_draw="oldest")


def test_all_segment_ranks_the_whole_catalog_against_every_future_positive(demo):
    """A model that scores each user's own future items highest, new or known, gets NDCG 1 on
    the whole catalog, and the shares of new items are counted over the top K and the positives."""
    from recsys.models import Recommender

    split = make_split(demo, seed=0)
    known = np.unique(split.train.interactions["user_idx"].to_numpy())
    future = pd.concat([split.warm_test, split.cold_test])
    future = future[future["user_idx"].isin(known)][["user_idx", "item_idx"]].drop_duplicates()
    liked = np.zeros((demo.n_users, demo.n_items), np.float32)
    liked[future["user_idx"], future["item_idx"]] = 1.0
    oracle = Recommender.from_factors(demo.user_ids, demo.item_ids, liked, np.eye(demo.n_items, dtype=np.float32),
                                      split.train.user_items(positives_only=False))
    per_user = {}
    result = evaluate(oracle, split, ks=(5,), per_user=per_user)["all"]
    assert result["users"] == future["user_idx"].nunique() and result["ndcg_at_5"] == pytest.approx(1.0)
    is_new = future["item_idx"].isin(split.cold_items)
    assert result["new_share_of_positives"] == pytest.approx(is_new.mean())
    assert per_user["all"]["ndcg_at_5"].mean() == pytest.approx(result["ndcg_at_5"])
    assert set(per_user) == {"warm", "cold", "all"}
    for bonus, share in ((10.0, 1.0), (-10.0, 0.0)):  # arrivals ranked above, or below, every known item
        column = np.where(np.isin(np.arange(demo.n_items), split.cold_items), bonus, 0.0)[:, None]
        model = Recommender.from_factors(demo.user_ids, demo.item_ids, np.ones((demo.n_users, 1), np.float32),
                                         column.astype(np.float32), split.train.user_items(positives_only=False))
        assert evaluate(model, split, ks=(5,))["all"]["new_share_at_5"] == share
