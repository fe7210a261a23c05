"""Train/test splits: the item split (each user's latest or random positives as the warm test,
items held out as the cold test) and the time cutoff (with the users who arrived after it).

A :class:`Split` keeps the full catalog and id maps in ``train`` (a
:class:`~recsys.data.Dataset` holding only training interactions), so models
can be asked about cold items they have never seen interact.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from recsys.data.dataset import Dataset
from recsys.evaluation.holdouts import first_seen, latest_items, random_holdout, temporal_holdout

WARM_METHODS = ("temporal", "random")
#: how the item split draws its cold items: a seeded random share, or the items first seen last
COLD_DRAWS = ("random", "newest")
SPLIT_KINDS = ("items", "cutoff")
#: units of a ``last`` duration: "8w", "14d", "36h"
DURATION_UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600}
#: a user first seen after the cutoff keeps this many first positives as history (at most half of theirs)
NEW_USER_HISTORY = 5


def _no_rows() -> pd.DataFrame:
    return pd.DataFrame({"user_idx": np.zeros(0, np.int64), "item_idx": np.zeros(0, np.int64)})


@dataclass(frozen=True, eq=False)
class Split:
    """Result of :func:`make_split`.

    Attributes
    ----------
    train : Dataset
        Training interactions (all of them, positive or not) over the whole catalog.
    warm_test : DataFrame
        Held-out positives of items that have training interactions, by users
        that have training interactions (``user_idx, item_idx``).
    cold_test : DataFrame
        Positives of the cold items; rank these among ``cold_items`` only.
    cold_items : ndarray of int
        Item indices removed from training entirely.
    new_user_history, new_user_test : DataFrame
        Cutoff split only: users first seen after the cutoff, their first positives (their
        interaction rows) and the rest of their positives; rank these among every item.
    """

    train: Dataset
    warm_test: pd.DataFrame
    cold_test: pd.DataFrame
    cold_items: np.ndarray
    new_user_history: pd.DataFrame = field(default_factory=_no_rows)
    new_user_test: pd.DataFrame = field(default_factory=_no_rows)

    @property
    def warm_items(self) -> np.ndarray:
        return np.unique(self.train.interactions["item_idx"].to_numpy())

    def describe(self) -> dict:
        return {"train_interactions": len(self.train.interactions), "warm_test_positives": len(self.warm_test),
                "cold_test_positives": len(self.cold_test), "cold_items": len(self.cold_items),
                "warm_items": len(self.warm_items), "new_users": self.new_user_test["user_idx"].nunique(),
                "new_user_test_positives": len(self.new_user_test)}

    def with_new_user_history(self) -> "Split":
        """The same test with the new users' history in training: what a full retrain would learn from."""
        train = pd.concat([self.train.interactions, self.new_user_history], ignore_index=True)
        return Split(self.train.with_interactions(train), self.warm_test, self.cold_test, self.cold_items,
                     self.new_user_history, self.new_user_test)


def cold_item_holdout(dataset: Dataset, cold_share: float, seed: int, draw: str = "random"
                      ) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Remove a share of the interacted items from training entirely: a seeded random
    draw, or (``draw="newest"``) the items first seen last, as new releases are.

    Returns (remaining interactions, cold-test positives, cold item indices).
    """
    if not 0 <= cold_share < 1:
        raise ValueError(f"`cold_share` must be in [0, 1), got {cold_share}")
    if draw not in COLD_DRAWS:
        raise ValueError(f"`cold_draw` must be one of {COLD_DRAWS}, got {draw!r}")
    inter = dataset.interactions
    if draw == "newest" and "timestamp" not in inter:
        raise ValueError(f"{dataset.name}: cold_draw 'newest' needs a 'timestamp' column in the interactions")
    interacted = np.unique(inter["item_idx"].to_numpy())
    rng = np.random.default_rng(seed)
    n_cold = int(round(cold_share * len(interacted)))
    if not n_cold:
        cold = np.zeros(0, np.int64)
    elif draw == "newest":
        cold = latest_items(first_seen(dataset), interacted, cold_share, seed)
    else:
        cold = np.sort(rng.choice(interacted, size=n_cold, replace=False))
    is_cold = np.isin(inter["item_idx"].to_numpy(), cold)
    cold_test = inter[is_cold & dataset.positive_mask]
    return inter[~is_cold], cold_test, cold


def make_split(dataset: Dataset, warm: str = "temporal", test_share: float = 0.2,
               cold_share: float = 0.2, seed: int = 0, kind: str = "items",
               at: str | float | None = None, last: str | None = None, cold_draw: str = "random",
               new_user_history: int = NEW_USER_HISTORY) -> Split:
    """Cold-item holdout first, then a warm holdout of the remaining interactions;
    or, with ``kind="cutoff"``, the future as the test (:func:`cutoff_split`).

    Parameters
    ----------
    kind : {"items", "cutoff"}
        ``items``: a random share of items held out cold, a per-user warm
        holdout. ``cutoff``: everything before a time trains (``at`` or ``last``).
    warm : {"temporal", "random"}
        How the warm test is drawn from each user's remaining interactions.
    test_share : float
        Share of each user's interactions held out for the warm test.
    cold_share : float
        Share of interacted items removed from training (0 disables the cold test).
    cold_draw : {"random", "newest"}
        Which items: a seeded random share, or those first seen last (new releases).
    new_user_history : int
        Cutoff split: the first positives of each user first seen after the cutoff kept as
        their history (the new-users segment, :func:`new_user_holdout`).
    """
    if kind not in SPLIT_KINDS:
        raise ValueError(f"split `kind` must be one of {SPLIT_KINDS}, got {kind!r}")
    if kind == "cutoff":
        return cutoff_split(dataset, at=at, last=last, new_user_history=new_user_history)
    if warm not in WARM_METHODS:
        raise ValueError(f"`warm` must be one of {WARM_METHODS}, got {warm!r}")
    if not 0 < test_share < 1:
        raise ValueError(f"`test_share` must be in (0, 1), got {test_share}")
    rest, cold_test, cold_items = cold_item_holdout(dataset, cold_share, seed, cold_draw)
    held = temporal_holdout(rest, test_share) if warm == "temporal" else random_holdout(rest, test_share, seed + 1)
    train = rest[~held]
    test = rest[held]
    positive = dataset.positive_mask[test.index.to_numpy()] if len(test) else np.zeros(0, bool)
    test = test[positive]
    # warm test only covers items and users the model could have learned from
    test = test[test["item_idx"].isin(train["item_idx"]) & test["user_idx"].isin(train["user_idx"])]
    return Split(train=dataset.with_interactions(train), warm_test=test.reset_index(drop=True),
                 cold_test=cold_test.reset_index(drop=True), cold_items=cold_items)


def cutoff_time(timestamps: np.ndarray, at: str | float | None = None, last: str | None = None) -> float:
    """The cutoff in Unix seconds: ``at`` (a date, ISO-8601 time or Unix seconds),
    or ``last`` (``"8w"``, ``"14d"``, ``"36h"``) before the latest interaction."""
    if (at is None) == (last is None):
        raise ValueError(f"a cutoff split needs exactly one of `at` (a date) or `last` (e.g. '8w'), "
                         f"got at={at!r}, last={last!r}")
    if at is not None:
        if isinstance(at, (int, float)):
            return float(at)
        stamp = pd.to_datetime(str(at), utc=True, errors="coerce")
        if pd.isna(stamp):
            raise ValueError(f"split `at` must be a date or ISO-8601 time, got {at!r}")
        return (stamp - pd.Timestamp(0, tz="UTC")).total_seconds()
    text = str(last).strip().lower()
    if len(text) < 2 or text[-1] not in DURATION_UNITS or not text[:-1].isdigit() or int(text[:-1]) < 1:
        raise ValueError(f"split `last` must be a positive count with a unit {sorted(DURATION_UNITS)}, "
                         f"e.g. '8w', got {last!r}")
    return float(np.max(timestamps)) - int(text[:-1]) * DURATION_UNITS[text[-1]]


def cutoff_split(dataset: Dataset, at: str | float | None = None, last: str | None = None,
                 new_user_history: int = NEW_USER_HISTORY) -> Split:
    """The future as the test, as a retailer meets it every week.

    Interactions before the cutoff train. Of those at or after it, by users
    known at the cutoff: positives on items first seen after the cutoff form
    the cold test (ranked among all such new items); positives on items seen
    in training, other than the user's own training items, the warm test.
    Users first seen after the cutoff with two positives or more: their first
    ``new_user_history`` positives in time order (at most half of theirs) and
    what they did until then are their history, the rest of their positives the
    new-users test (:func:`new_user_holdout`).
    """
    inter = dataset.interactions
    if "timestamp" not in inter:
        raise ValueError(f"{dataset.name}: a cutoff split needs a 'timestamp' column in the interactions")
    when = inter["timestamp"].to_numpy()
    cutoff = cutoff_time(when, at, last)
    before = when < cutoff
    train = inter[before]
    if train.empty or before.all():
        raise ValueError(f"{dataset.name}: the cutoff {pd.Timestamp(cutoff, unit='s')} leaves "
                         f"{'no training' if train.empty else 'no test'} interactions")
    known_users = np.unique(train["user_idx"].to_numpy())
    history, new_user_test = new_user_holdout(inter[~before], dataset.positive_mask[~before], known_users,
                                              new_user_history)
    after = inter[~before & dataset.positive_mask]
    after = after[after["user_idx"].isin(known_users)]
    warm = np.unique(train["item_idx"].to_numpy())
    cold_items = np.setdiff1d(np.unique(inter.loc[~before, "item_idx"].to_numpy()), warm)
    is_warm = np.isin(after["item_idx"].to_numpy(), warm)
    warm_test = after[is_warm & ~pairs_in(after, train)].drop_duplicates(["user_idx", "item_idx"])
    cold_test = after[~is_warm].drop_duplicates(["user_idx", "item_idx"])
    return Split(train=dataset.with_interactions(train), warm_test=warm_test.reset_index(drop=True),
                 cold_test=cold_test.reset_index(drop=True), cold_items=cold_items, new_user_history=history,
                 new_user_test=new_user_test)


def new_user_holdout(later: pd.DataFrame, positive: np.ndarray, known_users: np.ndarray, first: int
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(history rows, test positives)`` of the users in ``later`` (interactions after a cutoff)
    outside ``known_users`` with two positives or more: the history is their first ``first``
    positives in time order, at most half of theirs, and every interaction before the last of
    those; the test, their later positives on other items (``user_idx, item_idx``). Equal
    times keep the table's order, so a first basket bought in one day can be split."""
    if first < 1:
        raise ValueError(f"split `new_user_history` must be >= 1, got {first}")
    new = ~later["user_idx"].isin(known_users).to_numpy()
    rows, liked = later[new], np.asarray(positive, bool)[new]
    order = np.lexsort((np.arange(len(rows)), rows["timestamp"].to_numpy(), rows["user_idx"].to_numpy()))
    rows, liked = rows.iloc[order], liked[order]
    by_user = pd.Series(liked.astype(np.int64)).groupby(rows["user_idx"].to_numpy())
    nth_liked = by_user.cumsum().to_numpy() - liked  # the user's positives strictly before each row
    count = by_user.transform("sum").to_numpy()
    kept = np.minimum(first, count // 2)
    in_history = nth_liked < kept  # up to and including the kept-th positive
    history, test = rows[in_history], rows[liked & ~in_history & (count >= 2)]
    test = test[~pairs_in(test, history)].drop_duplicates(["user_idx", "item_idx"])
    history = history[history["user_idx"].isin(test["user_idx"])]
    return history.reset_index(drop=True), test[["user_idx", "item_idx"]].reset_index(drop=True)


def pairs_in(frame: pd.DataFrame, other: pd.DataFrame) -> np.ndarray:
    """Which rows of ``frame`` have a ``(user_idx, item_idx)`` pair that ``other`` holds."""
    own = pd.MultiIndex.from_frame(other[["user_idx", "item_idx"]])
    return pd.MultiIndex.from_frame(frame[["user_idx", "item_idx"]]).isin(own)
