"""The evaluation job (evaluate, demo): the hybrid against every baseline on one split."""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pandas as pd

from pipelines.embedding_report import embed_with_report
from pipelines.inputs import check_learnable
from recsys.models import ContentKNN, ItemKNN, Popularity, RandomScores


#: K values of the metric-at-K curves, besides the config's own
CURVE_KS = (1, 5, 10, 20, 50)
#: the models that rank new items by their photos alone, and what they are held against
PHOTO_MODELS, CHANCE = ("image_only", "content_knn"), "random"


def models_to_compare(config, seed: int) -> dict:
    return {
        "hybrid": config.hybrid(),
        "cf_only": config.hybrid(use_images=False),
        "image_only": config.hybrid(use_ids=False),
        "content_knn": ContentKNN(),
        "item_knn": ItemKNN(),
        "popularity": Popularity(),
        "random": RandomScores(seed=seed),
    }


def evaluate_dataset(dataset, config, encoder):
    """Split, embed with ``encoder`` (an ``ImageEncoder``), fit and evaluate every model,
    logging to the active MLflow run. Returns ``(results, table, split, models, embedded,
    intervals, signal)``: :func:`recsys.evaluation.intervals.metric_intervals` at the config's
    K values, and :func:`photo_signal` at the largest.
    """
    from pipelines import run_logging
    from recsys.evaluation import fit_and_evaluate, make_split, metric_table
    from recsys.evaluation.intervals import metric_intervals

    check_learnable(dataset)
    s = config.split
    split = make_split(dataset, **dataclasses.asdict(s))
    embedded = embed_with_report(dataset, encoder, config.store)
    models = models_to_compare(config, s.seed)
    ks = tuple(sorted(set(config.ks) | set(CURVE_KS)))
    per_user = {}
    results = fit_and_evaluate(models, split, embedded.vectors, ks=ks, progress=True, per_user=per_user)
    table = metric_table(results, tuple(f"{m}_at_{k}" for k in config.ks for m in ("recall", "ndcg", "map", "new_share")))
    intervals = metric_intervals(per_user, reference="hybrid", ks=config.ks, seed=s.seed)
    run_logging.log_inputs(config, dataset)
    run_logging.log_training(models["hybrid"])
    run_logging.log_evaluation(results, table, intervals, main_model="hybrid")
    signal = photo_signal(per_user, max(config.ks), s.seed)
    run_logging.log_photo_signal(signal, CHANCE)
    run_logging.log_gallery(split, models["hybrid"])
    run_logging.log_embeddings(dataset.item_ids, embedded.vectors, embedded.has_image)
    return results, table, split, models, embedded, intervals, signal


def evaluation_report(results: pd.DataFrame, intervals: pd.DataFrame, ks) -> str:
    """The evaluation as printed: for each segment and K, every model's Recall, NDCG and MAP
    with their 90% intervals, and its NDCG as a paired ratio to the hybrid's."""
    blocks = []
    intervals = intervals.assign(text=[interval_text(*row) for row in
                                       intervals[["value", "low", "high"]].itertuples(index=False)])
    for segment, rows in intervals.groupby("segment", sort=False):
        for k in ks:
            names = [f"{m}_at_{k}" for m in ("recall", "ndcg", "map")]
            at_k = rows[rows["metric"].isin(names)]
            wide = at_k.pivot(index="model", columns="metric", values="text").reindex(columns=names)
            wide = wide.loc[at_k["model"].unique()]
            ndcg = at_k[at_k["metric"] == f"ndcg_at_{k}"].set_index("model")
            wide[f"ndcg_at_{k} vs hybrid"] = [ratio_text(*ndcg.loc[m, ["ratio", "ratio_low", "ratio_high"]])
                                             for m in wide.index]
            share = results[(results["segment"] == segment) & (results["metric"] == f"new_share_at_{k}")]
            if len(share):
                wide[f"new_share_at_{k}"] = share.set_index("model")["value"].reindex(wide.index).map("{:.3f}".format)
            wide.columns = [c.replace("_at_", "@") for c in wide.columns]
            blocks.append(f"{segment} @{k} (test users: {int(rows['users'].max()):,}; 90% intervals over users)\n"
                          + wide.rename_axis(None).to_string())
    return "\n\n".join(blocks)


def photo_signal(per_user: dict, k: int, seed: int = 0) -> pd.DataFrame:
    """Whether the photos carry taste in this catalog: the cold NDCG@k of the models that rank new
    items by their photos alone (``PHOTO_MODELS``), each with its paired ratio to random and the
    90% intervals (rows of :func:`~recsys.evaluation.intervals.metric_intervals`; empty without a
    cold segment)."""
    from recsys.evaluation.intervals import metric_intervals

    cold = {m: {"cold": per_user[m]["cold"]} for m in (*PHOTO_MODELS, CHANCE) if per_user.get(m, {}).get("cold")}
    if CHANCE not in cold or len(cold) < 2:
        return pd.DataFrame(columns=["model", "value", "low", "high", "ratio", "ratio_low", "ratio_high", "users"])
    table = metric_intervals(cold, reference=CHANCE, ks=(k,), metrics=("ndcg",), seed=seed)
    return table[table["model"] != CHANCE].reset_index(drop=True)


def photo_signal_report(signal: pd.DataFrame, k: int) -> str:
    """The photo signal as printed: each model's line, then what it means for this catalog."""
    from recsys.evaluation.intervals import MIN_USERS

    if signal.empty:
        return "Photos and taste: this split has no cold items to tell by"
    users = int(signal["users"].max())
    lines = [f"Photos and taste: new items ranked by their photos alone (cold NDCG@{k}; against {CHANCE}, "
             f"paired; 90% intervals over {users:,} users)"]
    lines += [f"  {r.model:<12} {interval_text(r.value, r.low, r.high)}, "
              + ("-" if not np.isfinite(r.ratio) else f"{r.ratio:.2f}x {CHANCE} [{r.ratio_low:.2f}, {r.ratio_high:.2f}]")
              for r in signal.itertuples()]
    if users < MIN_USERS:
        lines.append(f"  Too few cold test users ({users}, under {MIN_USERS}) to tell whether the photos carry taste.")
    elif (signal["ratio_low"] > 1).any():
        lines.append("  The photos carry taste in this catalog: ranked by them alone, new items beat chance.")
    else:
        lines.append("  The photos carry little taste in this catalog: ranked by them alone, new items are not told "
                     "apart from chance (every interval reaches 1.0), so expect little from them for new items.")
    return "\n".join(lines)


def interval_text(value, low, high) -> str:
    return "-" if not np.isfinite(value) else f"{value:.4f} [{low:.4f}, {high:.4f}]"


def ratio_text(ratio, low, high) -> str:
    return "-" if not np.isfinite(ratio) else f"{ratio:.2f}x [{low:.2f}, {high:.2f}]"


def warn_thin_segments(intervals: pd.DataFrame) -> None:
    """One line on stderr per segment with too few test users for its numbers to mean much."""
    from recsys.evaluation.intervals import MIN_USERS, thin_segments

    for segment, users in thin_segments(intervals).items():
        print(f"warning: the {segment} segment has {users} test user(s), under {MIN_USERS}: its metrics and "
              "intervals say little, and models cannot be told apart on it", file=sys.stderr)
