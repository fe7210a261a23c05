"""How sure a metric is: 90% intervals from a bootstrap over test users, and every model
against a reference (the hybrid) as a paired ratio with its interval.

Resampling users, not interactions, is what a test set of users allows: a user's
positives are not independent of each other. A model's ratio to the reference
resamples the same users for both (each user's two values kept together), so the
noise they share cancels and a small margin can still be told from none.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

LEVEL = 0.9
ROUNDS = 1000
#: below this many test users a segment's interval is too wide to compare models on
MIN_USERS = 50
#: the metrics an evaluation reports with intervals
INTERVAL_METRICS = ("recall", "ndcg", "map")


def resampled_sums(values: np.ndarray, rounds: int = ROUNDS, seed: int = 0, chunk: int = 100) -> np.ndarray:
    """``(rounds, columns)``: column sums of ``values`` (users x columns) over ``rounds``
    resamples of its rows with replacement (each round's counts times the values: one
    matrix product per ``chunk`` rounds). Every column sees the same resamples."""
    values = np.asarray(values, np.float64)
    n = len(values)
    rng = np.random.default_rng(seed)
    sums = [rng.multinomial(n, np.full(n, 1.0 / n), size=min(chunk, rounds - start)) @ values
            for start in range(0, rounds, chunk)]
    return np.vstack(sums)


def percentile_interval(samples: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The central ``level`` interval of ``samples`` (NaNs ignored; NaN when none is finite)."""
    finite = samples[np.isfinite(samples)]
    if not finite.size:
        return float("nan"), float("nan")
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def metric_intervals(per_user: dict, reference: str = "hybrid", ks=(20,), metrics=INTERVAL_METRICS,
                     level: float = LEVEL, rounds: int = ROUNDS, seed: int = 0) -> pd.DataFrame:
    """One row per model, segment and metric at each K: ``value`` with its ``low``/``high``
    interval, ``ratio`` to ``reference`` with its paired interval, and ``users``.

    ``per_user``: ``{model: {segment: {metric: Series over users}}}`` as
    :func:`~recsys.evaluation.protocol.fit_and_evaluate` fills it.
    """
    names = [f"{m}_at_{k}" for k in ks for m in metrics]
    rows = []
    for segment in dict.fromkeys(s for model in per_user.values() for s in model):
        models = [m for m in per_user if per_user[m].get(segment)]
        if not models:
            continue
        users = per_user[models[0]][segment][names[0]].dropna().index
        table = np.column_stack([per_user[m][segment][name].reindex(users).to_numpy(np.float64)
                                 for m in models for name in names])
        sums = resampled_sums(np.nan_to_num(table), rounds, seed)
        means = sums / max(len(users), 1)
        for a, model in enumerate(models):
            for b, name in enumerate(names):
                col = a * len(names) + b
                ref = models.index(reference) * len(names) + b if reference in models else None
                with np.errstate(divide="ignore", invalid="ignore"):
                    ratio = table[:, col].sum() / table[:, ref].sum() if ref is not None else np.nan
                    ratio_low, ratio_high = (percentile_interval(sums[:, col] / sums[:, ref], level)
                                             if ref is not None else (np.nan, np.nan))
                rows.append((model, segment, name, float(np.mean(table[:, col])) if len(users) else np.nan,
                             *percentile_interval(means[:, col], level), float(ratio), ratio_low, ratio_high,
                             len(users)))
    return pd.DataFrame(rows, columns=["model", "segment", "metric", "value", "low", "high",
                                       "ratio", "ratio_low", "ratio_high", "users"])


def thin_segments(intervals: pd.DataFrame, min_users: int = MIN_USERS) -> dict[str, int]:
    """``{segment: test users}`` of the segments with fewer than ``min_users`` test users."""
    users = intervals.groupby("segment", sort=False)["users"].max()
    return {segment: int(n) for segment, n in users.items() if n < min_users}
