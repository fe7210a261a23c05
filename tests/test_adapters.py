"""The datasets of ../shared read through their adapters (recsys.data.adapters), with known counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import HM, MOVIELENS, need
from pipelines.inputs import validate


@pytest.mark.slow
@pytest.mark.shared
def test_movielens_validates_with_known_counts():
    ds, report = validate(need(MOVIELENS))
    ratings = pd.read_csv(MOVIELENS / "ratings.csv")
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (610, 9742, 100836)
    assert ds.positive_mask.sum() == (ratings["rating"] >= 4).sum()
    assert report.n_usable == len(list((MOVIELENS / "posters").glob("*.jpg"))) == 9517
    assert not report.problems


@pytest.mark.slow
@pytest.mark.shared
def test_hm_catalog_validates_keeping_leading_zeros():
    ds, report = validate(need(HM))
    assert ds.n_items == 11800 and len(ds.interactions) == 0
    assert ds.item_ids[0] == "0111565001"
    assert report.n_usable == 11800 and not report.problems


@pytest.mark.slow
@pytest.mark.shared
def test_hm_fashion_reads_transactions_with_right_counts():
    from conftest import HM_FASHION

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
