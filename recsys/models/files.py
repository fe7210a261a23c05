"""A fitted model on disk, without pickle: ``model.json`` (format version, class,
hyperparameters, learned JSON values) and ``arrays.npz`` (ids, vectors, seen
items, learned arrays), read back checked (:mod:`recsys.formats`).

Every model saves the same contract (:mod:`recsys.models.base`); what a model
learns beyond it comes from its ``saved_arrays``/``saved_json`` or its
``state_arrays``/``restore_state``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from recsys import formats
from recsys.idmap import IdMap

FORMAT_VERSION = 2
VECTORS = ("user_vectors", "item_vectors")


def save(model, path: str | os.PathLike) -> Path:
    """Write ``model``'s ``model.json`` and ``arrays.npz`` into ``path``."""
    model.check_is_fitted()
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    meta = {"format": FORMAT_VERSION, "class": type(model).__name__, "params": model.get_params(),
            "state": {name.rstrip("_"): getattr(model, name) for name in model.saved_json}}
    seen = model.seen_.tocsr()
    arrays = {"user_ids": model.user_ids_.astype(str), "item_ids": model.item_ids_.astype(str),
              "seen_indptr": seen.indptr, "seen_indices": seen.indices, **model.state_arrays()}
    for name in VECTORS:
        arrays.update(vector_arrays(name, getattr(model, f"{name}_")))
    np.savez(path / "arrays.npz", **arrays)
    (path / "model.json").write_text(json.dumps(meta, indent=2, default=plain))
    return path


def plain(value):
    """numpy scalars and arrays in JSON as the numbers they hold."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def vector_arrays(name: str, vectors) -> dict[str, np.ndarray]:
    if not sp.issparse(vectors):
        return {name: np.asarray(vectors)}
    vectors = vectors.tocsr()
    return {f"{name}_data": vectors.data, f"{name}_indices": vectors.indices, f"{name}_indptr": vectors.indptr,
            f"{name}_shape": np.asarray(vectors.shape)}


def read_vectors(arrays: dict, name: str, where: Path):
    if name in arrays:
        return arrays[name]
    try:
        return sp.csr_matrix((arrays[f"{name}_data"], arrays[f"{name}_indices"], arrays[f"{name}_indptr"]),
                             shape=tuple(arrays[f"{name}_shape"]))
    except (KeyError, ValueError) as exc:
        raise formats.CorruptFile(f"{where}: {name} missing or inconsistent ({exc})") from None


def load(path: str | os.PathLike, cls):
    """A saved model of class ``cls`` or a subclass, checked: a wrong format version, another
    class, an unknown parameter, a truncated file, a wrong shape or NaN is one line
    naming the file."""
    path = Path(path)
    if not (path / "model.json").exists():
        raise FileNotFoundError(f"{path}: not a saved recsys model (no model.json)")
    meta = formats.read_json(path / "model.json", FORMAT_VERSION, {"class", "params", "state"})
    saved = cls.registry.get(meta.get("class"))
    if saved is None or not issubclass(saved, cls):
        raise formats.CorruptFile(f"{path / 'model.json'}: holds a {meta.get('class')!r} model, expected "
                                  f"{cls.__name__}" + ("" if saved else " (or a model class imported here)"))
    unknown = sorted(set(meta["params"]) - set(saved().get_params()))
    if unknown:
        raise formats.CorruptFile(f"{path / 'model.json'}: unknown parameter(s) {unknown}")
    model = saved(**meta["params"])
    where = path / "arrays.npz"
    a = formats.load_arrays(where)
    try:
        model.user_map_, model.item_map_ = IdMap(a["user_ids"], "user"), IdMap(a["item_ids"], "item")
        model.user_vectors_, model.item_vectors_ = (read_vectors(a, name, where) for name in VECTORS)
        model.seen_ = sp.csr_matrix((np.ones(len(a["seen_indices"]), np.float32), a["seen_indices"],
                                     a["seen_indptr"]), shape=(len(model.user_map_), len(model.item_map_)))
        model.restore_state(a, meta["state"])
        model.check_state()
    except (KeyError, ValueError) as exc:
        raise formats.CorruptFile(f"{where}: {exc.args[0] if exc.args else exc}") from None
    return model
