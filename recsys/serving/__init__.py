"""The recommender as an MLflow pyfunc model: the class MLflow loads and its signature.

MLflow logs it as code (``recsys/serving/model_code.py``, "models from code"), with
the model directory as plain files: nothing is pickled. A request's mistakes
come back as ``MlflowException(INVALID_PARAMETER_VALUE)``, which the scoring
server answers with HTTP 400 and this module's message.
"""

from __future__ import annotations

import base64
import binascii
import copy
import os
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

from recsys.data import DataError, ImageError

#: the folder whose images a request may name by path; unset, requests send image bytes
IMAGE_ROOT_ENV = "RECSYS_SERVING_IMAGE_ROOT"
#: the most rows one answer holds (rows of the request x k): about 60 MB of JSON
MAX_RESPONSE_ROWS = 1_000_000
#: the request's own mistakes; anything else is a bug and keeps its traceback
REQUEST_ERRORS = (KeyError, ValueError, DataError, ImageError)

SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("string", "user_id", required=False), ColSpec("string", "item_id", required=False),
                   ColSpec("string", "image_path", required=False), ColSpec("string", "image_base64", required=False)]),
    outputs=Schema([ColSpec("string", "user_id"), ColSpec("integer", "rank"), ColSpec("string", "item_id"),
                    ColSpec("float", "score")]),
    params=ParamSchema([ParamSpec("k", "long", 10), ParamSpec("exclude_seen", "boolean", True)]),
)


def bad_request(message: str) -> MlflowException:
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


class RecommenderModel(mlflow.pyfunc.PythonModel):
    """The model directory behind MLflow's pyfunc interface.

    Two input forms, one output ``user_id, rank, item_id, score``:

    - a column ``user_id``: top-``k`` items for each user (seen items excluded);
    - columns ``user_id`` and ``item_id``: each row an interaction (a positive) of
      that user; users the model does not know are folded in from these rows,
      known ones from their training positives plus these, without retraining,
      then ranked with those items excluded (the model itself is left as it was);
    - columns ``item_id`` and ``image_base64`` (the file's bytes, base64) or
      ``image_path`` (only under ``RECSYS_SERVING_IMAGE_ROOT``, so a request
      cannot probe the server's files): new items scored from their images; for
      each item, its top-``k`` users by log p(item | user) (``rank`` is the
      user's rank for that item), as ``recsys score-new-items`` writes them.
    """

    def load_context(self, context):
        from recsys.bundle import ModelBundle

        self.bundle = ModelBundle.load(context.artifacts["bundle"])

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        params = params or {}
        k = int(params.get("k", 10))
        if k < 1:
            raise bad_request(f"param k must be >= 1, got {k}")
        if len(model_input) * k > MAX_RESPONSE_ROWS:
            raise bad_request(f"{len(model_input):,} rows x k={k:,} would answer with over {MAX_RESPONSE_ROWS:,} "
                              "rows; send fewer rows per request or a smaller k")
        columns = [c for c in model_input.columns if model_input[c].notna().any()]
        try:
            if "image_path" in columns or "image_base64" in columns:
                return self._score_new_items(model_input, k)
            if "user_id" in columns:
                model, users = self.bundle.model, pd.unique(model_input["user_id"].astype(str))
                if "item_id" in columns:
                    model = with_history(model, model_input)
                return model.recommend(list(users), k=k, exclude_seen=bool(params.get("exclude_seen", True)))
        except REQUEST_ERRORS as exc:
            raise bad_request(exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)) from None
        found = columns or "none of them"
        raise bad_request("the input needs a 'user_id' column (top-K per user) or 'item_id' and 'image_base64' "
                          f"or 'image_path' columns (new items) with values; found {found} (other columns "
                          "are dropped by the model's signature)")

    def _score_new_items(self, frame: pd.DataFrame, k: int) -> pd.DataFrame:
        from recsys.data.images import DEFAULT_MAX_PIXELS
        from recsys.photo_scoring import embed_photos, item_top_users, score_vectors, skipped_text

        if "item_id" not in frame.columns or frame["item_id"].isna().any():
            raise ValueError("every row with an image needs an 'item_id'")
        ids = frame["item_id"].astype(str).to_numpy()
        shown, photos = request_images(frame)
        readable = [n for n, photo in enumerate(photos) if not isinstance(photo, ImageError)]
        refused = [(n, photo.reason) for n, photo in enumerate(photos) if isinstance(photo, ImageError)]
        vectors, _, undecodable = embed_photos(self.bundle.encoder, [photos[n] for n in readable],
                                               [shown[n] for n in readable], DEFAULT_MAX_PIXELS)
        refused += [(readable[i], reason) for i, reason in undecodable]
        if refused:  # named as the request gave them: never the server's own paths
            named = skipped_text([(ids[n], reason) for n, reason in sorted(refused)],
                                 pd.DataFrame({"item_id": ids, "image_path": shown}))
            raise ValueError(f"unusable image(s): {named}")
        scores = score_vectors(self.bundle.model, vectors, ids)
        return item_top_users(self.bundle.model, ids, scores, k)[["user_id", "rank", "item_id", "score"]]


def with_history(model, frame: pd.DataFrame):
    """A copy of ``model`` with the request's interactions (rows with ``user_id`` and
    ``item_id``) folded in: concurrent requests never see each other's histories."""
    from recsys.histories import fold_in

    rows = frame[frame["user_id"].notna() & frame["item_id"].notna()]
    if rows.empty:
        return model
    if (model.item_map_.rows(rows["item_id"].astype(str).to_numpy(), missing="-1") < 0).all():
        raise ValueError(f"none of the request's item_id values is an item the model knows, e.g. "
                         f"{rows['item_id'].astype(str).iloc[0]!r}")
    copied = copy.copy(model)
    fold_in(copied, rows[["user_id", "item_id"]].astype(str), np.ones(len(rows), bool))
    return copied


def image_root() -> Path | None:
    """The folder request paths may point into (``RECSYS_SERVING_IMAGE_ROOT``); ``None``: paths refused."""
    root = os.environ.get(IMAGE_ROOT_ENV, "").strip()
    return Path(root).resolve() if root else None


def request_images(frame: pd.DataFrame) -> tuple[list[str], list]:
    """Each row's photo, in memory: ``image_base64`` decoded (size-capped), or the bytes of
    ``image_path`` inside :func:`image_root` (an ``ImageError`` where the file cannot be read).
    Returns the photos as messages name them, and the photos."""
    from recsys.data.images import max_image_bytes, read_image_bytes, resolve_image_path

    root = image_root()
    shown, photos = [], []
    for row in frame.to_dict("records"):
        encoded, path = row.get("image_base64"), row.get("image_path")
        if isinstance(encoded, str) and encoded:
            if len(encoded) > max_image_bytes() * 4 // 3 + 4:
                raise ValueError(f"item {row['item_id']!r}: image_base64 is larger than the image size cap")
            try:
                data = base64.b64decode(encoded, validate=True)
            except binascii.Error:
                raise ValueError(f"item {row['item_id']!r}: image_base64 is not valid base64") from None
            shown.append("<image_base64>")
            photos.append(data)
            continue
        if root is None:
            raise ValueError(f"item {row['item_id']!r}: this server takes no image paths; send the image as "
                             f"image_base64, or start it with {IMAGE_ROOT_ENV}=FOLDER to allow paths under FOLDER")
        try:
            resolved = resolve_image_path(path, root)
        except ImageError as exc:  # the reason only: the server's own paths stay unsaid
            raise ValueError(f"item {row['item_id']!r}: {path}: {exc.reason}") from None
        try:
            inside = resolved.resolve().is_relative_to(root)
        except (OSError, RuntimeError):  # a symlink loop: let the reader report it per item
            inside = True
        if not inside:
            raise ValueError(f"item {row['item_id']!r}: {path} is outside {IMAGE_ROOT_ENV}, the server's image folder")
        shown.append(str(path))
        try:
            photos.append(read_image_bytes(resolved))
        except ImageError as exc:
            photos.append(exc)
    return shown, photos
