"""Adapters that read known public layouts into the data contract, in place.

Nothing is copied: image paths point into the original folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recsys.data import tables
from recsys.data.dataset import DEFAULT_POSITIVE_THRESHOLD, Dataset
from recsys.data.tables import DataError


def detect_layout(root: Path) -> str:
    """``"contract"``, ``"movielens"`` or ``"hm"``, from the files present."""
    if not root.is_dir():
        raise DataError(f"{root}: dataset folder not found")
    names = {p.name for p in root.iterdir()}
    if names & {"interactions.csv", "interactions.parquet"}:
        return "contract"
    if {"ratings.csv", "movies.csv"} <= names:
        return "movielens"
    if "articles.csv" in names:
        return "hm"
    return "contract"  # find_table then explains what is missing


def load_movielens(root: Path, positive_threshold: float = DEFAULT_POSITIVE_THRESHOLD) -> Dataset:
    """MovieLens (``ratings.csv``, ``movies.csv``, ``posters/{movieId}.jpg``).

    Movies without a poster file keep an empty ``image_path``: they count as
    items without an image, not as broken files.
    """
    ratings = tables.read_table(root / "ratings.csv", ("userId", "movieId"))
    movies = tables.read_table(root / "movies.csv", ("movieId",))
    tables.require_columns(ratings, ("userId", "movieId", "rating", "timestamp"), "ratings.csv")
    tables.require_columns(movies, ("movieId", "title"), "movies.csv")
    interactions = ratings.rename(columns={"userId": "user_id", "movieId": "item_id"})
    posters = {p.stem for p in (root / "posters").glob("*.jpg")} if (root / "posters").is_dir() else set()
    items = movies.rename(columns={"movieId": "item_id"})
    items.insert(1, "image_path", [f"posters/{m}.jpg" if m in posters else "" for m in items["item_id"]])
    return Dataset.from_frames(interactions, items, root, name=root.name, layout="movielens",
                               positive_threshold=positive_threshold,
                               sources=("ratings.csv", "movies.csv"))


def load_hm(root: Path, positive_threshold: float = DEFAULT_POSITIVE_THRESHOLD) -> Dataset:
    """H&M layout (``articles.csv``, ``images/{first 3 digits}/{article_id}.jpg``, and
    ``transactions_train.csv`` when present; without it, a catalog with no interactions).

    Every purchase is a positive. A customer buying one article again (same
    or another day) stays one interaction: ``timestamp`` is the first
    purchase date (what a time cutoff must see) and ``weight`` the number of
    purchases.
    """
    articles = tables.read_table(root / "articles.csv", ("article_id",))
    tables.require_columns(articles, ("article_id",), "articles.csv")
    items = articles.rename(columns={"article_id": "item_id"})
    items.insert(1, "image_path", [f"images/{a[:3]}/{a}.jpg" for a in items["item_id"]])
    source = "transactions_train.csv"
    if (root / source).exists():
        purchases = tables.read_table(root / source, ("customer_id", "article_id"))
        tables.require_columns(purchases, ("t_dat", "customer_id", "article_id"), source)
        purchases = purchases.rename(columns={"customer_id": "user_id", "article_id": "item_id"})
        tables.check_ids(purchases, tables.ID_COLUMNS, source)
        purchases["timestamp"] = tables.parse_timestamp(purchases.rename(columns={"t_dat": "timestamp"}),
                                                        "timestamp", source)
        interactions = (purchases.groupby(["user_id", "item_id"], sort=False)
                        .agg(timestamp=("timestamp", "min"), weight=("timestamp", "size"))
                        .reset_index().sort_values("timestamp", kind="stable", ignore_index=True))
        interactions["weight"] = interactions["weight"].astype(np.float64)
    else:
        source = "(no interactions)"
        interactions = pd.DataFrame({"user_id": pd.Series(dtype=object), "item_id": pd.Series(dtype=object)})
    return Dataset.from_frames(interactions, items, root, name=root.name, layout="hm",
                               positive_threshold=positive_threshold, sources=(source, "articles.csv"))


LOADERS = {"movielens": load_movielens, "hm": load_hm}
