"""Reading the files recsys writes (``model.json``, ``bundle.json``, ``.npz`` arrays),
checked: a newer or older format, an unknown key, a truncated or corrupt file,
a wrong shape or a non-finite number is one :class:`CorruptFile` line naming the
file, never a traceback from deep inside numpy or json."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np


class CorruptFile(ValueError):
    """A recsys file that cannot be used as it is."""


def read_json(path: Path, version: int | None, keys: set[str] | None) -> dict:
    """A JSON object written with ``{"format": version, ...}`` (``None``: no version)
    holding only ``keys`` (``None``: any)."""
    try:
        meta = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptFile(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise CorruptFile(f"{path}: expected a JSON object, found {type(meta).__name__}")
    found = meta.get("format")
    if version is not None and found != version:
        if isinstance(found, int) and found > version:
            raise CorruptFile(f"{path}: written by a newer recsys (format {found}; this one reads {version}); "
                              "upgrade recsys")
        raise CorruptFile(f"{path}: format {found!r}, expected {version}: written by an older recsys or "
                          "another program; retrain the model with this version")
    unknown = sorted(set(meta) - keys - {"format"}) if keys is not None else []
    if unknown:
        raise CorruptFile(f"{path}: unknown key(s) {unknown}; expected some of {sorted(keys)}")
    return meta


def load_arrays(path: Path, rows: dict[str, str] | None = None) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file, read in full (a truncated file fails here)
    and checked: float arrays finite; ``rows`` maps an array to the name of the
    array whose length must equal its number of rows."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise CorruptFile(f"{path}: truncated or corrupt ({type(exc).__name__}: {exc})") from None
    for name, array in arrays.items():
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise CorruptFile(f"{path}: array {name!r} holds NaN or infinite values")
    for name, length_of in (rows or {}).items():
        if name not in arrays or length_of not in arrays:
            raise CorruptFile(f"{path}: array {name if name not in arrays else length_of!r} is missing")
        if len(arrays[name]) != len(arrays[length_of]):
            raise CorruptFile(f"{path}: array {name!r} has {len(arrays[name])} rows, "
                              f"expected {len(arrays[length_of])} (one per entry of {length_of!r})")
    return arrays
