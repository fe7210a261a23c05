"""Intervals over test users and paired ratios: known answers, and `recsys evaluate` printing them."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest

from conftest import EXAMPLE_SHOP, run_recsys
from recsys.evaluation.intervals import metric_intervals, resampled_sums, thin_segments


def per_user_of(values: dict, segment: str = "cold", k: int = 20) -> dict:
    """``{model: {segment: {metric: Series}}}`` with the same values for recall, NDCG and MAP."""
    return {model: {segment: {f"{m}_at_{k}": pd.Series(v, index=np.arange(len(v)))
                              for m in ("recall", "ndcg", "map")}} for model, v in values.items()}


def test_a_model_identical_to_the_hybrid_has_ratio_one_and_a_halved_one_one_half(rng):
    hybrid = rng.random(400)
    table = metric_intervals(per_user_of({"hybrid": hybrid, "twin": hybrid.copy(), "half": hybrid / 2,
                                          "noisy": hybrid * rng.uniform(0.5, 1.5, 400)}))
    ndcg = table[table.metric == "ndcg_at_20"].set_index("model")
    assert ndcg.loc["twin", "ratio"] == 1.0
    assert ndcg.loc["twin", "ratio_low"] <= 1.0 <= ndcg.loc["twin", "ratio_high"]
    assert ndcg.loc["half", ["ratio", "ratio_low", "ratio_high"]].tolist() == pytest.approx([0.5, 0.5, 0.5])
    noisy = ndcg.loc["noisy"]  # as good on average, user by user different: the interval holds 1
    assert noisy.ratio_low < 1.0 < noisy.ratio_high and noisy.ratio_low < noisy.ratio < noisy.ratio_high
    assert (ndcg["users"] == 400).all()


def test_the_interval_of_a_mean_covers_it_at_the_width_theory_gives(rng):
    hits = (rng.random(4000) < 0.3).astype(float)  # per-user hit: mean 0.3, sd sqrt(0.21)
    row = metric_intervals(per_user_of({"hybrid": hits})).query("metric == 'recall_at_20'").iloc[0]
    assert row.low < 0.3 < row.high and row.low < row.value < row.high
    expected = 2 * 1.645 * np.sqrt(0.21 / 4000)  # a 90% normal interval of the mean
    assert row.high - row.low == pytest.approx(expected, rel=0.15)


def test_resampled_sums_resample_users_with_replacement(rng):
    values = np.column_stack([np.ones(50), np.arange(50.0)])
    sums = resampled_sums(values, rounds=300, seed=1)
    assert sums.shape == (300, 2) and (sums[:, 0] == 50).all()  # each round draws 50 users
    assert sums[:, 1].std() > 0 and abs(sums[:, 1].mean() / 50 - 24.5) < 1.0
    np.testing.assert_array_equal(sums, resampled_sums(values, rounds=300, seed=1))  # seeded


def test_thin_segments_are_named_with_their_user_count(rng):
    table = pd.concat([metric_intervals(per_user_of({"hybrid": rng.random(n)}, segment=seg))
                       for seg, n in (("warm", 500), ("cold", 7))])
    assert thin_segments(table) == {"cold": 7}


@pytest.mark.slow
def test_recsys_evaluate_prints_intervals_ratios_each_k_and_warns_on_a_tiny_split(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("encoder: {name: compact_cnn, image_size: 32}\nmodel: {epochs: 4}\nks: [5, 10]\n")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    done = run_recsys("evaluate", EXAMPLE_SHOP, "--config", config, cwd=tmp_path, env={"MLFLOW_TRACKING_URI": uri})
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    for segment in ("warm", "cold", "all"):
        for k in (5, 10):
            assert f"{segment} @{k} (test users: " in out, (segment, k)
    cold = out[out.index("cold @10"):].splitlines()
    assert "ndcg@10 vs hybrid" in cold[1]
    hybrid = next(line for line in cold if line.startswith("hybrid"))
    assert hybrid.count("[") == 4 and hybrid.rstrip().endswith("1.00x [1.00, 1.00]")
    assert "warning: the warm segment has 1 test user(s), under 50" in done.stderr
    client = mlflow.MlflowClient(tracking_uri=uri)  # this test's own store; the session's stays current
    run = client.search_runs([client.get_experiment_by_name("recsys").experiment_id])[0]
    intervals = pd.read_csv(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, tracking_uri=uri,
                                                                artifact_path="evaluation_intervals.csv"))
    assert set(intervals["metric"]) == {f"{m}_at_{k}" for m in ("recall", "ndcg", "map") for k in (5, 10)}
    assert "content_knn.cold_ndcg_at_10_vs_hybrid" in run.data.metrics
    # whether the photos carry taste: 6 cold test users cannot tell, and the command says so
    assert "Photos and taste: new items ranked by their photos alone (cold NDCG@10" in out
    assert "Too few cold test users (6, under 50)" in out
    assert {f"photo_signal.{m}_cold_ndcg_at_10_vs_random{end}" for m in ("image_only", "content_knn")
            for end in ("", "_low", "_high")} <= set(run.data.metrics)
