"""A fitted :class:`~recsys.models.hybrid.HybridRecommender` on disk, without pickle:
``model.json`` (format version, hyperparameters, training history) and
``arrays.npz`` (the learned state), read back checked (:mod:`recsys.formats`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from recsys import formats
from recsys.models import cold_start

FORMAT_VERSION = 1


def save(model, path: str | os.PathLike) -> Path:
    """Write ``model``'s ``model.json`` (hyperparameters) and ``arrays.npz`` (learned state) into ``path``."""
    model._check_fitted()
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    meta = {"format": FORMAT_VERSION, "class": type(model).__name__, "params": model.get_params(),
            "best_epochs": model.best_epochs_, "history": model.history_}
    seen = model.seen_.tocsr()
    arrays = dict(user_ids=model.user_ids_.astype(str), item_ids=model.item_ids_.astype(str),
                  user_vectors=model.user_vectors_, item_vectors=model.item_vectors_,
                  warm_items=model.warm_items_, image_mean=model.image_mean_, image_std=model.image_std_,
                  prior_coef=model.prior_coef_, prior_intercept=np.float32(model.prior_intercept_),
                  image_weight=np.float32(model.image_weight_), profile_weight=np.float32(model.profile_weight_),
                  space_mean=model.space_.mean, space_components=model.space_.components,
                  image_calibration=np.array([model.image_scale_, model.image_shift_], np.float32),
                  seen_indptr=seen.indptr, seen_indices=seen.indices,
                  **{f"tower_{k}": w for k, w in enumerate(model.tower_)})
    np.savez(path / "arrays.npz", **arrays)
    (path / "model.json").write_text(json.dumps(meta, indent=2))
    return path


def load(cls, path: str | os.PathLike):
    """A saved model of class ``cls``, checked (:mod:`recsys.formats`): a wrong format version,
    unknown key, truncated file, wrong shape or NaN is one line naming the file."""
    path = Path(path)
    if not (path / "model.json").exists():
        raise FileNotFoundError(f"{path}: not a saved recsys model (no model.json)")
    meta = formats.read_json(path / "model.json", FORMAT_VERSION, {"class", "params", "best_epochs", "history"})
    unknown = sorted(set(meta["params"]) - set(cls().get_params()))
    if unknown:
        raise formats.CorruptFile(f"{path / 'model.json'}: unknown parameter(s) {unknown}")
    model = cls(**meta["params"])
    a = formats.load_arrays(path / "arrays.npz", {"user_vectors": "user_ids", "item_vectors": "item_ids",
                                                   "warm_items": "item_ids"})
    model.user_ids_ = a["user_ids"].astype(object)
    model.item_ids_ = a["item_ids"].astype(object)
    model.user_vectors_, model.item_vectors_ = a["user_vectors"], a["item_vectors"]
    model.warm_items_ = a["warm_items"]
    model.image_mean_, model.image_std_ = a["image_mean"], a["image_std"]
    model.prior_coef_, model.prior_intercept_ = a["prior_coef"], float(a["prior_intercept"])
    model.image_weight_, model.profile_weight_ = float(a["image_weight"]), float(a["profile_weight"])
    model.space_ = cold_start.ImageSpace(a["space_mean"], a["space_components"])
    model.image_scale_, model.image_shift_ = map(float, a["image_calibration"])
    model.tower_ = [a[f"tower_{k}"] for k in range(4) if f"tower_{k}" in a]
    try:
        model.seen_ = sp.csr_matrix((np.ones(len(a["seen_indices"]), np.float32), a["seen_indices"],
                                     a["seen_indptr"]), shape=(len(model.user_ids_), len(model.item_ids_)))
    except ValueError as exc:
        raise formats.CorruptFile(f"{path / 'arrays.npz'}: the seen-items matrix is inconsistent ({exc})") from None
    if model.user_vectors_.shape[1] != model.item_vectors_.shape[1]:
        raise formats.CorruptFile(f"{path / 'arrays.npz'}: user and item vectors differ in width")
    model._user_pos = {u: i for i, u in enumerate(model.user_ids_)}
    model._item_pos = {u: i for i, u in enumerate(model.item_ids_)}
    model.best_epochs_, model.history_ = meta["best_epochs"], meta["history"]
    return model
