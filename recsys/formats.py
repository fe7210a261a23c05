"""Reading the files recsys writes (``model.json``, ``bundle.json``, ``.npz`` arrays),
checked: a newer or older format, an unknown key, a truncated or corrupt file,
a wrong shape or a non-finite number is one :class:`CorruptFile` line naming the
file, never a traceback from deep inside numpy or json."""

from __future__ import annotations

import json
import os
import stat
import zipfile
from pathlib import Path

import numpy as np


class CorruptFile(ValueError):
    """A recsys file that cannot be used as it is."""


#: recsys's JSON files are small (settings, counts, a training history)
MAX_JSON_BYTES = 64 * 2**20
#: a model file's size cap in MiB (``RECSYS_MAX_MODEL_MB``, read at each call)
DEFAULT_MAX_MODEL_MB = 16 * 1024
MAX_MODEL_MB_ENV = "RECSYS_MAX_MODEL_MB"
#: how much larger than its packed bytes an array may unpack: ``np.savez`` stores them
#: unpacked (1x); more than this is a decompression bomb, not a recsys file
MAX_UNPACK_RATIO = 20
#: how messages name the JSON types of ``read_json(required=...)``
JSON_TYPES = {dict: "object", list: "array", str: "string"}


def mib_setting(env: str, default_mb: float) -> int:
    """A size cap in bytes from the environment variable ``env`` (MiB), else ``default_mb``."""
    text = os.environ.get(env, "")
    try:
        return int(float(text or default_mb) * 2**20)
    except ValueError:
        raise ValueError(f"{env} must be a number of MiB, got {text!r}") from None


def max_model_bytes() -> int:
    return mib_setting(MAX_MODEL_MB_ENV, DEFAULT_MAX_MODEL_MB)


def open_regular(path: Path, limit: int):
    """``path`` opened for reading by the image reads' rules: a regular file only (a
    FIFO, a device or a directory is refused without blocking), at most ``limit``
    bytes. ``FileNotFoundError`` stays itself; anything else is :class:`CorruptFile`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO with no writer would block a plain open
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise CorruptFile(f"{path}: cannot be read ({exc.strerror or exc})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise CorruptFile(f"{path}: not a regular file; a model directory holds only the files recsys wrote")
    if info.st_size > limit:
        os.close(fd)
        raise CorruptFile(f"{path}: {info.st_size / 2**20:,.0f} MiB, over the {limit / 2**20:,.0f} MiB cap"
                          f" for this file (set {MAX_MODEL_MB_ENV} to allow more)")
    return os.fdopen(fd, "rb")


def read_json(path: Path, version: int | None, keys: set[str] | None, required: dict | None = None) -> dict:
    """A JSON object written with ``{"format": version, ...}`` (``None``: no version)
    holding only ``keys`` (``None``: any), read within :data:`MAX_JSON_BYTES`.
    ``required``: key -> the type its value must have."""
    with open_regular(Path(path), MAX_JSON_BYTES) as f:
        data = f.read(MAX_JSON_BYTES + 1)
    try:
        meta = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
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
    for key, kind in (required or {}).items():
        if key not in meta:
            raise CorruptFile(f"{path}: missing key {key!r}")
        if not isinstance(meta[key], kind):
            raise CorruptFile(f"{path}: {key!r} must be a JSON {JSON_TYPES.get(kind, kind.__name__)}, "
                              f"found {type(meta[key]).__name__ if meta[key] is not None else 'null'}")
    return meta


def load_arrays(path: Path, rows: dict[str, str] | None = None, names=None) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file, read in full (a truncated file fails here)
    and checked: float arrays finite; ``rows`` maps an array to the name of the
    array whose length must equal its number of rows; ``names`` (a container),
    when given, holds every array the format names: any other is refused unread,
    as is a member that unpacks to over :data:`MAX_UNPACK_RATIO` times its size."""
    with open_regular(Path(path), max_model_bytes()) as f:
        try:
            with zipfile.ZipFile(f) as archive:
                members = archive.infolist()
            for member in members:
                name = member.filename.removesuffix(".npy")
                if names is not None and name not in names:
                    raise CorruptFile(f"{path}: holds an array {name!r} this format does not name")
                if member.file_size > MAX_UNPACK_RATIO * member.compress_size + 2**20:
                    raise CorruptFile(f"{path}: array {name!r} unpacks to {member.file_size:,} bytes from "
                                      f"{member.compress_size:,}; refusing it (not written by recsys)")
            f.seek(0)
            with np.load(f, allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
        except CorruptFile:
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
