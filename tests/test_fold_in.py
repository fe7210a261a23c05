"""Users who arrived after training: fold-in from their history (recsys.models.fold_in,
Recommender.fold_in, recsys.histories), the new-users split and its segment, the CLI."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from conftest import EXAMPLE_SHOP
from recsys.data import load_dataset
from recsys.evaluation import evaluate, make_split
from recsys.evaluation.splits import new_user_holdout
from recsys.histories import fold_in
from recsys.models import ItemKNN, Popularity, RandomScores
from recsys.models.fold_in import FoldIn

def test_fold_in_solve_matches_a_naive_ridge_per_user(rng):
    factors, bias = rng.normal(size=(40, 6)), rng.normal(size=40)
    dense = (rng.random((7, 40)) < 0.2).astype(np.float32)
    dense[3] = 0.0  # a user with no history gets zeros: the popularity ranking
    history = sp.csr_matrix(dense)
    solver = FoldIn.fit(factors, bias, strength=3.0)
    prior = np.exp(bias) / np.exp(bias).sum()
    mean = prior @ factors
    covariance = (factors - mean).T @ ((factors - mean) * prior[:, None])
    penalty = 3.0 * np.trace(covariance) / 6  # the strength in mean eigenvalues
    for u in range(7):
        liked = history[u].indices
        # one Newton step from 0 of the softmax MAP with a penalty growing with the history
        expected = np.linalg.solve(len(liked) * (covariance + penalty * np.eye(6)),
                                   factors[liked].sum(axis=0) - len(liked) * mean) if len(liked) else np.zeros(6)
        np.testing.assert_allclose(solver.solve(history[u], factors)[0], expected, rtol=1e-4, atol=1e-5)


def test_a_user_with_a_known_users_history_gets_their_ranking(shop):
    dataset, _, _, model = shop
    model = copy.copy(model)  # fold_in replaces arrays, never writes into them
    known = "user-00"
    positives = model._training_positives()[model.user_index([known])]
    added, updated = model.fold_in(["newcomer"], positives)
    assert (added, updated) == (["newcomer"], [])
    ours, theirs = model.recommend(["newcomer"], k=10), model.recommend([known], k=10)
    assert ours.item_id.tolist() == theirs.item_id.tolist()
    np.testing.assert_allclose(ours.score, theirs.score, rtol=1e-5, atol=1e-5)
    assert ours.item_id.str.startswith("red-").head(3).all()  # a red lover's history: red items first


def test_folding_a_known_user_in_again_reproduces_their_ranking(shop):
    dataset, _, _, model = shop
    before = model.recommend(["user-01"], k=10)
    model = copy.copy(model)  # fold_in replaces arrays, never writes into them
    row = model.user_index(["user-01"])[0]
    vector = model.user_vectors_[row].copy()
    assert model.fold_in(["user-01"], sp.csr_matrix((1, len(model.item_ids_)))) == ([], ["user-01"])
    np.testing.assert_allclose(model.user_vectors_[row], vector, rtol=1e-5, atol=1e-6)
    after = model.recommend(["user-01"], k=10)
    assert after.item_id.tolist() == before.item_id.tolist()


def test_seen_items_stay_excluded_for_new_and_updated_users(shop):
    dataset, _, _, model = shop
    model = copy.copy(model)  # fold_in replaces arrays, never writes into them
    items = list(model.item_ids_)
    trained = set(dataset.interactions.query("user_id == 'user-02'").item_id)
    newer = [i for i in items if i.startswith(next(iter(trained)).split("-")[0]) and i not in trained][:2]
    history = pd.DataFrame({"user_id": ["user-02"] * 2 + ["fresh"] * 3,
                            "item_id": newer + ["red-00", "red-01", "blue-00"],
                            "rating": [5, 5, 5, 5, 1]})
    report = fold_in(model, history, history["rating"].to_numpy() >= 4)
    assert (report.added, report.updated) == (["fresh"], ["user-02"])
    k = len(items) - 6  # all but a few: every unseen item shows up
    recs = model.recommend(["user-02", "fresh"], k=k)
    assert not set(recs.query("user_id == 'user-02'").item_id) & (trained | set(newer))
    assert not set(recs.query("user_id == 'fresh'").item_id) & {"red-00", "red-01", "blue-00"}  # a negative too
    assert model.recommend(["fresh"], k=3).item_id.str.startswith("red-").all()


def test_an_item_knn_user_with_a_known_users_history_gets_their_ranking(shop):
    dataset = shop[0]
    model = ItemKNN().fit(dataset)
    model.fold_in(["copy"], model.seen_[model.user_index(["user-03"])])
    assert model.recommend(["copy"], k=8).item_id.tolist() == model.recommend(["user-03"], k=8).item_id.tolist()
    with pytest.raises(ValueError, match="cannot give vectors"):
        RandomScores().fit(dataset).fold_in(["x"], model.seen_[:1])


def test_new_user_holdout_keeps_the_first_positives_in_time_order():
    later = pd.DataFrame({
        "user_idx": [1, 2, 2, 2, 2, 2, 2, 2, 3, 4, 4, 4],
        "item_idx": [9, 10, 11, 12, 13, 14, 15, 11, 20, 30, 31, 32],
        "timestamp": [5, 6, 1, 2, 3, 4, 5, 7, 1, 1, 1, 1],
        #    known  u2: 11, 12(neg), 13, 14 first by time; 10, 15, 11 again later    u3: one  u4: one day
        "rating": [5, 5, 5, 1, 5, 5, 5, 5, 5, 5, 5, 5],
    }, index=np.arange(100, 112))
    history, test = new_user_holdout(later, later["rating"].to_numpy() >= 4, known_users=np.array([1]), first=2)
    # user 2: 6 positives, keeps min(2, 3) = 2: items 11 and 13, with the negative 12 between them
    assert history.query("user_idx == 2").item_idx.tolist() == [11, 12, 13]
    assert sorted(test.query("user_idx == 2").item_idx) == [10, 14, 15]  # 11 again is not a test item
    # user 4: three positives on one day keep the table's order: the first is the history
    assert history.query("user_idx == 4").item_idx.tolist() == [30]
    assert sorted(test.query("user_idx == 4").item_idx) == [31, 32]
    assert not {1, 3} & (set(history.user_idx) | set(test.user_idx))  # known, or a single positive
    with pytest.raises(ValueError, match="new_user_history"):
        new_user_holdout(later, np.ones(len(later), bool), np.array([1]), first=0)


def test_evaluate_ranks_new_users_from_their_history(demo_path):
    split = make_split(load_dataset(demo_path), kind="cutoff", last="12w")
    users = split.new_user_test["user_idx"].unique()
    assert len(users) >= 30 and not np.isin(users, split.train.interactions["user_idx"]).any()
    popular = evaluate(Popularity().fit(split.train), split)["new_users"]
    assert popular["users"] == len(users) and 0 < popular["ndcg_at_20"] < 1
    assert evaluate(RandomScores().fit(split.train), split)["new_users"] == {}  # cannot fold in users
    # a model trained with their history ranks them as known users, its training items excluded
    retrained = split.with_new_user_history()
    assert evaluate(Popularity().fit(retrained.train), retrained)["new_users"]["users"] == len(users)


def test_batch_recommend_folds_in_the_users_a_model_older_than_the_data_never_saw(older_model, tmp_path, capsys):
    from pipelines.cli import main

    model_dir, inter, trained = older_model
    new = set(inter.user_id) - set(trained.user_id)
    newer_known = set(inter.loc[~inter.index.isin(trained.index), "user_id"]) - new
    assert len(new) == 3 and newer_known
    capsys.readouterr()
    assert main(["batch-recommend", str(model_dir), "--out", str(tmp_path / "recs"), "--k", "5",
                 "--data", str(EXAMPLE_SHOP)]) == 0
    out = capsys.readouterr().out
    assert f"{len(new)} new user(s) folded in, {len(newer_known)} known user(s) updated" in out
    assert f"{len(new)} new users folded in from their history" in out.splitlines()[-2]
    recs = pd.read_parquet(tmp_path / "recs")
    assert set(recs.user_id) == set(inter.user_id) and (recs.groupby("user_id").size() == 5).all()
    had = recs.merge(inter, on=["user_id", "item_id"])
    assert had.empty, had  # nothing anyone interacted with, before or after the model
    # a user the data does not hold still gets the one-line message
    pd.DataFrame({"user_id": ["nobody"]}).to_csv(tmp_path / "users.csv", index=False)
    assert main(["recommend", str(model_dir), "--users", str(tmp_path / "users.csv"), "--data", str(EXAMPLE_SHOP),
                 "--out", str(tmp_path / "one.csv")]) == 2
    assert "unknown to the model and without a history" in capsys.readouterr().err


def test_a_model_saved_before_fold_in_loads_and_says_it_cannot_fold_in(shop, tmp_path):
    import json

    from recsys.models import HybridRecommender

    model = shop[3]
    model.save(tmp_path / "model")
    meta = json.loads((tmp_path / "model" / "model.json").read_text())
    del meta["state"]["fold_in_strength"]  # as a model file written before fold-in holds it
    (tmp_path / "model" / "model.json").write_text(json.dumps(meta))
    old = HybridRecommender.load(tmp_path / "model")
    assert not old.folds_in_users and model.folds_in_users
    assert old.recommend(["user-00"], k=5).item_id.tolist() == model.recommend(["user-00"], k=5).item_id.tolist()
    with pytest.raises(ValueError, match="train it again"):
        old.fold_in(["newcomer"], model._training_positives()[:1])
