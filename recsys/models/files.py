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


#: the arrays of the contract, beside a model's own ``state_array_names``
CONTRACT_ARRAYS = {"user_ids", "item_ids", "seen_indptr", "seen_indices"} | {
    f"{name}{part}" for name in VECTORS for part in ("", "_data", "_indices", "_indptr", "_shape")}
#: the largest user or item vector norm read: scores (dot products) stay far from float32's overflow
MAX_VECTOR_NORM = 1e15


def array_names(cls) -> set[str]:
    return CONTRACT_ARRAYS | set(cls.state_array_names())


def read_seen(arrays: dict, n_users: int, n_items: int, name: str = "seen") -> sp.csr_matrix:
    """A binary users x items matrix (the seen items; ``name`` for another), its index arrays
    checked first: a row pointer per user that never decreases, and item indices inside the catalog."""
    indptr, indices = np.asarray(arrays[f"{name}_indptr"]), np.asarray(arrays[f"{name}_indices"])
    if indptr.shape != (n_users + 1,) or indptr[0] != 0 or indptr[-1] != len(indices) \
            or (np.diff(indptr) < 0).any():
        raise ValueError(f"{name}_indptr is not a row pointer over {n_users} users and {len(indices)} entries")
    if len(indices) and (indices.min() < 0 or indices.max() >= n_items):
        raise ValueError(f"{name}_indices holds item indices outside 0..{n_items - 1} "
                         f"(from {indices.min()} to {indices.max()})")
    return sp.csr_matrix((np.ones(len(indices), np.float32), indices, indptr), shape=(n_users, n_items))


def check_norms(model) -> None:
    for name in VECTORS:
        vectors = getattr(model, f"{name}_")
        values = vectors.data if sp.issparse(vectors) else np.asarray(vectors)
        largest = float(np.abs(values).max(initial=0.0))
        if largest * np.sqrt(max(vectors.shape[1], 1)) > MAX_VECTOR_NORM:
            raise ValueError(f"{name} hold values up to {largest:.3g}: their scores would overflow "
                             "(not vectors recsys learned)")


def load(path: str | os.PathLike, cls):
    """A saved model of class ``cls`` or a subclass, checked: a wrong format version, another
    class, an unknown parameter, a truncated file, a wrong shape or NaN is one line
    naming the file."""
    path = Path(path)
    if not (path / "model.json").exists():
        raise FileNotFoundError(f"{path}: not a saved recsys model (no model.json)")
    meta = formats.read_json(path / "model.json", FORMAT_VERSION, {"class", "params", "state"},
                             required={"class": str, "params": dict, "state": dict})
    saved = cls.registry.get(meta.get("class"))
    if saved is None or not issubclass(saved, cls):
        raise formats.CorruptFile(f"{path / 'model.json'}: holds a {meta.get('class')!r} model, expected "
                                  f"{cls.__name__}" + ("" if saved else " (or a model class imported here)"))
    unknown = sorted(set(meta["params"]) - set(saved().get_params()))
    if unknown:
        raise formats.CorruptFile(f"{path / 'model.json'}: unknown parameter(s) {unknown}")
    model = saved(**meta["params"])
    where = path / "arrays.npz"
    a = formats.load_arrays(where, names=array_names(saved))
    try:
        model.user_map_, model.item_map_ = IdMap(a["user_ids"], "user"), IdMap(a["item_ids"], "item")
        model.user_vectors_, model.item_vectors_ = (read_vectors(a, name, where) for name in VECTORS)
        model.seen_ = read_seen(a, len(model.user_map_), len(model.item_map_))
        model.restore_state(a, meta["state"])
        model.check_state()
        check_norms(model)
    except (KeyError, ValueError) as exc:
        raise formats.CorruptFile(f"{where}: {exc.args[0] if exc.args else exc}") from None
    return model
