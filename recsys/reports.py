"""Figures for runs and notebooks: training curves, metric-at-K curves, and the
recommendation gallery (a user's history beside their top-K, cold items marked)."""

from __future__ import annotations

import sys

import matplotlib

if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")  # files only on batch machines; a notebook keeps its inline backend

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from recsys.data.images import ImageError, resolve_image_path  # noqa: E402


def training_curves(history: list[dict]):
    """Loss and validation NDCG per epoch, one line per phase and stage."""
    frame = pd.DataFrame([r for r in history if "epoch" in r])
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    if frame.empty:
        return fig
    for (phase, validation), part in frame.groupby(["phase", "validation"]):
        label = f"{phase} ({'epoch selection' if validation else 'final fit'})"
        axes[0].plot(part["epoch"], part["loss"], marker=".", label=label)
        for col in [c for c in part.columns if c.startswith("val_")]:
            if part[col].notna().any():
                axes[1].plot(part["epoch"], part[col], marker=".", label=f"{phase}: {col}")
    axes[0].set(title="training loss", xlabel="epoch")
    axes[1].set(title="validation ranking quality", xlabel="epoch")
    for ax in axes:
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def metric_at_k(results: pd.DataFrame, metric: str = "ndcg"):
    """``metric@K`` against K for every model: warm, cold and the whole catalog side by side."""
    rows = results[results["metric"].str.match(rf"^{metric}_at_\d+$")].copy()
    rows["k"] = rows["metric"].str.rsplit("_", n=1).str[1].astype(int)
    segments = [s for s in ("warm", "cold", "all") if (rows["segment"] == s).any()]
    fig, axes = plt.subplots(1, len(segments), figsize=(5 * len(segments), 3.5), sharey=False, squeeze=False)
    for ax, segment in zip(axes[0], segments):
        part = rows[rows["segment"] == segment]
        for model, curve in part.groupby("model", sort=False):
            curve = curve.sort_values("k")
            ax.plot(curve["k"], curve["value"], marker="o", label=model)
        ax.set(title=f"{'whole catalog' if segment == 'all' else segment + ' items'}: {metric}@K", xlabel="K")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _thumbnail(dataset, item_id, size: int):
    from recsys.vision.pixels import load_pixels  # tf.data lives there: loaded only when drawing

    try:
        cell = dataset.items["image_path"].iloc[int(dataset.item_index([item_id])[0])]
        return load_pixels(resolve_image_path(cell, dataset.root), size)
    except (ImageError, KeyError):
        return np.full((size, size, 3), 200, np.uint8)  # grey: no usable photo


def recommendation_gallery(dataset, recommendations: pd.DataFrame, users, cold_items=(), n_history: int = 6,
                           k: int = 6, size: int = 96, history: pd.DataFrame | None = None,
                           cold_recommendations: pd.DataFrame | None = None):
    """For each user, a row of history thumbnails (latest first), a row of top-K
    thumbnails and, given ``cold_recommendations``, a row of top-K among cold items;
    cold items get a red frame and a "COLD" label.

    ``history`` defaults to the dataset's interactions; pass a split's training part
    to show what the model learned from.
    """
    history = dataset.interactions if history is None else history
    cold = set(map(str, cold_items))
    users = list(users)
    n_rows = 2 if cold_recommendations is None else 3
    fig, axes = plt.subplots(n_rows * len(users), max(n_history, k),
                             figsize=(1.6 * max(n_history, k), 1.7 * n_rows * len(users)), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for r, user in enumerate(users):
        past = history[history["user_id"] == user]
        if "timestamp" in past:
            past = past.sort_values("timestamp", ascending=False)
        rows = [(past["item_id"].head(n_history), "history")]
        for frame, title in ((recommendations, "top-K"), (cold_recommendations, "top-K cold")):
            if frame is not None:
                rows.append((frame[frame["user_id"] == user].sort_values("rank")["item_id"].head(k), title))
        for row, (ids, title) in enumerate(rows):
            for c, item in enumerate(ids):
                ax = axes[n_rows * r + row, c]
                ax.imshow(_thumbnail(dataset, item, size))
                is_cold = row > 0 and str(item) in cold
                ax.set_title(("COLD " if is_cold else "") + str(item), fontsize=7,
                             color="red" if is_cold else "black")
                if is_cold:
                    ax.axis("on")
                    ax.set_xticks([])
                    ax.set_yticks([])
                    for spine in ax.spines.values():
                        spine.set(color="red", linewidth=3)
            first = axes[n_rows * r + row, 0]
            first.text(-0.15, 0.5, f"{user}\n{title}", transform=first.transAxes, ha="right", va="center", fontsize=8)
    fig.tight_layout()
    return fig
