"""What the web explorer shows, computed without the web: a model directory, the
dataset it learned from, and the new items it ranks from their photos alone.

Every lookup is by id. Photos are found through the items tables, never through
a path a request names, and only those that opened as images at start
(:mod:`recsys.explorer.photos`).
"""

from __future__ import annotations

import base64
import io
import threading
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from PIL import ImageOps

from recsys.data.images import max_image_bytes
from recsys.explorer.overview import RECOMMENDED_SAMPLE, comparison, most_recommended, newest_items
from recsys.explorer.photos import PhotoIndex
from recsys.photo_scoring import decode_photo, item_top_users, log_partition, score_vectors

#: users listed on the start page
SAMPLE_USERS = 12
#: history items shown on a user's page (newest first)
HISTORY_SHOWN = 48
#: side of the thumbnail of an uploaded photo, pixels
THUMBNAIL = 256
#: an upload's pixel budget (a 4000 x 4000 photo); a product photo needs far less
UPLOAD_MAX_PIXELS = 16_000_000
#: uploads decoded at the same time; the others wait their turn
UPLOAD_DECODES = 2


class NotFound(LookupError):
    """An id the model and the dataset do not know; the message says which."""


@dataclass
class Card:
    """One item as a page shows it."""

    item_id: str
    score: float | None = None
    new: bool = False
    image: bool = False
    caption: str = ""
    when: str = ""


@dataclass
class UserRow:
    user_id: str
    rank: int
    score: float


class Explorer:
    """A model directory with its dataset, ready to answer the explorer's pages.

    Parameters
    ----------
    bundle : ModelBundle
    dataset : Dataset, optional
        Histories (with dates), metadata and photos. Without it, histories come
        from the model's seen items and pages show no photos.
    new_items : DataFrame, optional
        ``item_id, image_path`` (relative to ``new_items_root``) of arrivals the
        model has not seen: embedded now and ranked from their photos.
    run : dict, optional
        The MLflow run the model came from (:func:`recsys.tracking.run_summary`).
    image_root : path, optional
        Serve only photos inside this folder (default: wherever the tables put them).
    """

    def __init__(self, bundle, dataset=None, new_items: pd.DataFrame | None = None, new_items_root=None,
                 run: dict | None = None, k: int = 10, image_root=None):
        self.bundle, self.model, self.dataset, self.run, self.k = bundle, bundle.model, dataset, run, k
        self.similar = bundle.similar()
        self._lock = threading.Lock()  # one Keras call at a time
        self._decodes = threading.BoundedSemaphore(UPLOAD_DECODES)
        self._history_rows = None
        #: log p(item | user) is against the catalog the model was trained on, as in score-new-items
        self._catalog_vectors = self.model.item_vectors_
        self._partition = None
        catalog = dataset.items if dataset is not None else bundle.items
        tables = [] if catalog is None else [(catalog, None if dataset is None else dataset.root)]
        if new_items is not None:
            tables.append((new_items, new_items_root))
        self.metadata = metadata(tables)
        self.skipped = self._add_unknown_items(tables)
        self.folded_in = self._fold_in_users(dataset)
        self.images = PhotoIndex(tables, self.model.knows_item, image_root)
        warm = getattr(self.model, "warm_items_", np.ones(len(self.model.item_ids_), bool))
        self.new_item_ids = [i for i, w in zip(self.model.item_ids_, warm) if not w]
        self._new = set(self.new_item_ids)
        self._overview = None

    def _add_unknown_items(self, tables) -> list[tuple[str, str]]:
        """Embed and add items the model does not know (each id once), so they rank as new."""
        self.new_vectors, skipped = {}, []
        for table, root in tables:
            if root is None:
                continue
            result = self.bundle.add_new_items(table, root)
            skipped += result.skipped_items
            for item_id, vector, ok in zip(result.item_ids, result.vectors, result.has_image):
                if ok:
                    self.new_vectors[str(item_id)] = vector
        return skipped

    def _fold_in_users(self, dataset):
        """Users of ``dataset`` the model never saw (and known users' newer interactions) folded
        in from their history, so anyone in the data has a page (:mod:`recsys.histories`)."""
        if dataset is None or not self.model.folds_in_users:
            return None
        from recsys.histories import fold_in

        return fold_in(self.model, dataset.interactions, dataset.positive_mask)

    # -- users -------------------------------------------------------------------
    def sample_users(self, n: int = SAMPLE_USERS) -> list[str]:
        ids = self.model.user_ids_
        return [str(ids[i]) for i in np.random.default_rng(0).permutation(len(ids))[:n]]

    def check_user(self, user_id: str) -> int:
        if not self.model.knows_user(user_id):
            raise NotFound(f"No user {user_id!r} in this model (it knows {len(self.model.user_ids_):,} users; "
                           "give the explorer a --data folder holding their interactions).")
        return int(self.model.user_index([user_id])[0])

    def history(self, user_id: str) -> tuple[list[Card], int]:
        """The user's items, newest first (dates where the data has them), and how many in all."""
        row = self.check_user(user_id)
        if self.dataset is not None:
            mine = self._history_frame(user_id)
            if "timestamp" in mine:
                mine = mine.sort_values("timestamp", ascending=False, kind="stable")
            when = (pd.to_datetime(mine["timestamp"], unit="s", utc=True).dt.strftime("%Y-%m-%d").tolist()
                    if "timestamp" in mine else [""] * len(mine))
            ids = mine["item_id"].tolist()
        else:
            ids = [str(self.model.item_ids_[j]) for j in self.model.seen_[row].indices]
            when = [""] * len(ids)
        cards = [self.card(i, when=w) for i, w in zip(ids[:HISTORY_SHOWN], when)]
        return cards, len(ids)

    def recommendations(self, user_id: str, new_only: bool = False) -> list[Card]:
        """The user's top-K (or top-K among new items): never an item of their history."""
        self.check_user(user_id)
        if new_only and not self.new_item_ids:
            return []
        had = set(self.history_ids(user_id))
        recs = self.model.recommend([user_id], k=self.k + len(had),
                                    candidates=self.new_item_ids if new_only else None)
        recs = recs[~recs["item_id"].isin(had)].head(self.k)  # the dataset may be newer than the model
        return [self.card(i, score) for i, score in zip(recs["item_id"], recs["score"])]

    def history_ids(self, user_id: str) -> list[str]:
        return [] if self.dataset is None else self._history_frame(user_id)["item_id"].tolist()

    def _history_frame(self, user_id: str) -> pd.DataFrame:
        if self._history_rows is None:  # once: each user's rows of the interactions
            self._history_rows = self.dataset.interactions.groupby("user_id", sort=False).indices
        rows = self._history_rows.get(user_id, np.zeros(0, np.int64))
        return self.dataset.interactions.iloc[rows]

    # -- items -------------------------------------------------------------------
    def card(self, item_id: str, score: float | None = None, when: str = "") -> Card:
        item_id = str(item_id)
        return Card(item_id, None if score is None else float(score), item_id in self._new,
                    item_id in self.images, caption_of(self.metadata.get(item_id, {})), when)

    def check_item(self, item_id: str) -> int:
        if not self.model.knows_item(item_id):
            raise NotFound(f"No item {item_id!r} in this model or its new items.")
        return int(self.model.item_index([item_id])[0])

    def item_details(self, item_id: str) -> dict:
        self.check_item(item_id)
        return self.metadata.get(item_id, {})

    def similar_items(self, item_id: str) -> list[Card]:
        """Catalog items that look most like this one (centred cosine of image embeddings)."""
        self.check_item(item_id)
        if item_id in self.new_vectors:
            frame = self.similar.similar_to([item_id], self.new_vectors[item_id][None, :], k=self.k)
        elif self.similar.has_image_of(item_id):
            frame = self.similar.similar_items([item_id], k=self.k)
        else:
            return []
        return [self.card(i, s) for i, s in zip(frame["similar_item_id"], frame["score"])]

    def likely_users(self, item_id: str) -> list[UserRow]:
        """Users most likely to engage with the item, by log p(item | user) over the catalog."""
        scores = self.model.user_vectors_ @ self.model.item_vectors_[self.check_item(item_id)]
        return self._top_users(scores)

    def _top_users(self, scores: np.ndarray) -> list[UserRow]:
        if self._partition is None:  # once: one pass over users x catalog
            self._partition = log_partition(self.model.user_vectors_, self._catalog_vectors)
        top = item_top_users(self.model, ["item"], scores[:, None], self.k, self._partition)
        return [UserRow(u, int(r), float(s)) for u, r, s in zip(top["user_id"], top["rank"], top["score"])]

    # -- a new photo -------------------------------------------------------------
    def score_photo(self, data: bytes) -> dict:
        """Similar catalog items and likely users of an uploaded photo, scored like
        ``recsys score-new-items``. Raises ``ImageError``/``ValueError`` for an unusable file.

        The photo is decoded in memory, once, under :data:`UPLOAD_MAX_PIXELS`, and at
        most :data:`UPLOAD_DECODES` uploads are decoded at a time, so parallel uploads
        cannot multiply memory."""
        if len(data) > max_image_bytes():
            raise ValueError(f"the photo is over the {max_image_bytes() / 2**20:.3g} MiB cap")
        encoder = self.bundle.encoder
        with self._decodes:
            image, pixels = decode_photo(data, encoder, "the uploaded file", UPLOAD_MAX_PIXELS)
            thumbnail = data_uri(image)
            del image  # the full-size pixels go now, not when the page is done
        with self._lock:
            vector = np.asarray(encoder.infer(pixels[None]))
        scores = score_vectors(self.model, vector)
        similar = self.similar.similar_to(["photo"], vector, k=self.k)
        return {"thumbnail": thumbnail,
                "similar": [self.card(i, s) for i, s in zip(similar["similar_item_id"], similar["score"])],
                "users": self._top_users(scores[:, 0])}

    # -- the start page and the model ---------------------------------------------
    def overview(self) -> dict:
        """The start page's lists: the catalog's newest items and its most recommended ones
        (computed once, on first use)."""
        if self._overview is None:
            sampled = min(RECOMMENDED_SAMPLE, len(self.model.user_ids_))
            self._overview = {
                "newest": [self.card(i, when=f"first seen {w}") for i, w in newest_items(self.dataset, self.k)],
                "recommended": [self.card(i, when=f"in {n:,} of {sampled:,} users' top {self.k}")
                                for i, n in most_recommended(self.model, self.k, self.k)]}
        return self._overview

    def summary(self) -> dict:
        model, info = self.model, self.bundle.info
        fitted = {name: getattr(model, name) for name in ("best_epochs_", "prior_alpha_", "profile_weight_")
                  if hasattr(model, name)}
        encoder = asdict(self.bundle.encoder.config)
        # the saved .keras encoder holds the weights; where they came from is in the training config
        encoder["weights"] = info.get("config", {}).get("encoder", {}).get("weights", encoder["weights"])
        return {"counts": {"users": len(model.user_ids_), "items": len(model.item_ids_),
                           "new items": len(self.new_item_ids),
                           "interactions trained on": info.get("dataset", {}).get("interactions", "?")},
                "encoder": encoder, "params": model.get_params(), "fitted": fitted,
                "comparison": comparison((self.run or {}).get("metrics") or {}),
                "dataset": info.get("dataset", {}), "run": self.run, "skipped": self.skipped}


def metadata(tables) -> dict[str, dict]:
    """Item id -> its catalog columns (not the image path)."""
    out = {}
    for table, _ in tables:
        shown = table.drop(columns=[c for c in ("image_path",) if c in table]).astype(str)
        for record in shown.to_dict("records"):
            out.setdefault(record.pop("item_id"), record)
    return out


def caption_of(meta: dict, limit: int = 3) -> str:
    values = [v for v in meta.values() if v and v != "nan"]
    return " · ".join(values[:limit])


def data_uri(image, size: int = THUMBNAIL) -> str:
    """A small PNG of ``image`` inline in the page (the upload is never stored)."""
    image = ImageOps.contain(image, (size, size)) if max(image.size) > size else image  # no full-size copy
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
