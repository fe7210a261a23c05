"""Reading the data contract's two tables, with messages that name file, row and column.

Fatal problems raise :class:`DataError`; recoverable ones (duplicate rows,
interactions with unknown items) are fixed and recorded as warnings so the
caller can report them.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import numpy as np
import pandas as pd

INTERACTIONS = "interactions"
ITEMS = "items"
ID_COLUMNS = ("user_id", "item_id")
#: rows shown in a message before "... and N more"
MAX_ROWS_SHOWN = 5


class DataError(ValueError):
    """A dataset that cannot be used as given. The message says where and why."""


def find_table(root: str | os.PathLike, name: str) -> Path:
    """Return ``root/name.parquet`` or ``root/name.csv``, whichever exists."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: dataset folder not found (expected a folder holding "
                        f"{INTERACTIONS}.csv|parquet and {ITEMS}.csv|parquet)")
    for suffix in (".parquet", ".csv"):
        path = root / f"{name}{suffix}"
        if path.exists():
            return path
    present = ", ".join(sorted(p.name for p in root.iterdir())[:10]) or "nothing"
    raise DataError(f"{root}: no {name}.csv or {name}.parquet (found: {present})")


def read_table(path: str | os.PathLike, id_columns: tuple[str, ...]) -> pd.DataFrame:
    """Read a CSV or Parquet table, keeping id columns as exact strings."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty (expected a header row and data rows)")
    try:
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
            for col in id_columns:
                if col in frame.columns:
                    frame[col] = frame[col].astype("string").astype(object)
        else:
            # ids as str with no NA guessing: "0111565001" and "NA" stay as written
            frame = pd.read_csv(path, dtype={c: str for c in id_columns},
                                keep_default_na=False, na_values={}, low_memory=False)
    except DataError:
        raise
    except (pd.errors.EmptyDataError, pd.errors.ParserError, OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot be read as a table: {exc}") from None
    if frame.empty:
        raise DataError(f"{path}: has a header but no data rows")
    return frame


def require_columns(frame: pd.DataFrame, required: tuple[str, ...], source: str) -> None:
    missing = [c for c in required if c not in frame.columns]
    if not missing:
        return
    found = list(map(str, frame.columns))
    hints = []
    for sep in (";", "\t", "|"):
        if len(found) == 1 and sep in found[0]:
            hints.append(f"the header holds {sep!r}: recsys reads comma-separated CSV; save the file with commas")
    for col in missing:
        close = difflib.get_close_matches(col, found, n=1, cutoff=0.6) or _loose_match(col, found)
        if close:
            hints.append(f"'{close[0]}' looks like '{col}': rename it")
    raise DataError(
        f"{source}: missing required column(s) {', '.join(repr(c) for c in missing)}; "
        f"found columns: {', '.join(found)}" + (f". {'; '.join(hints)}" if hints else "")
    )


def _loose_match(col: str, found: list[str]) -> list[str]:
    key = col.replace("_", "").lower()
    return [f for f in found if f.replace("_", "").lower() in (key, key.replace("id", ""))]


def _row_list(bad: pd.Series, frame: pd.DataFrame, column: str) -> str:
    rows = np.flatnonzero(bad.to_numpy())
    shown = ", ".join(f"row {r + 1} ({str(frame[column].iloc[r])!r})" for r in rows[:MAX_ROWS_SHOWN])
    more = f" and {len(rows) - MAX_ROWS_SHOWN} more" if len(rows) > MAX_ROWS_SHOWN else ""
    return shown + more


def check_ids(frame: pd.DataFrame, columns: tuple[str, ...], source: str) -> None:
    for col in columns:
        values = frame[col]
        bad = values.isna() | (values.astype(str).str.strip() == "")
        if bad.any():
            raise DataError(f"{source} column '{col}': empty id at {_row_list(bad, frame, col)}")


def parse_number(frame: pd.DataFrame, column: str, source: str) -> np.ndarray:
    """A numeric column as float64; unparseable, NaN and inf values are fatal."""
    raw = frame[column]
    values = pd.to_numeric(raw.replace("", np.nan), errors="coerce").to_numpy(dtype="float64")
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataError(f"{source} column '{column}': expected finite numbers, found "
                        f"{_row_list(pd.Series(bad), frame, column)}")
    return values


def parse_timestamp(frame: pd.DataFrame, column: str, source: str) -> np.ndarray:
    """Unix seconds (or milliseconds, microseconds, nanoseconds: :func:`epoch_seconds`)
    or ISO-8601 strings -> float64 Unix seconds."""
    raw = frame[column]
    numeric = pd.to_numeric(raw.replace("", np.nan), errors="coerce")
    if numeric.notna().all():
        values = epoch_seconds(numeric.to_numpy(dtype="float64"), frame, column, source)
    else:
        parsed = pd.to_datetime(raw.where(numeric.isna()), errors="coerce", utc=True, format="ISO8601")
        as_seconds = (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
        values = numeric.fillna(as_seconds).to_numpy(dtype="float64")
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataError(f"{source} column '{column}': expected Unix seconds or ISO-8601 "
                        f"times, found {_row_list(pd.Series(bad), frame, column)}")
    return values


#: epoch numbers of each unit for dates from 1973 to 5138: seconds stay below 1e11,
#: milliseconds below 1e14, microseconds below 1e17, nanoseconds above
EPOCH_UNITS = ((1e11, 1.0, "seconds"), (1e14, 1e3, "milliseconds"), (1e17, 1e6, "microseconds"),
               (np.inf, 1e9, "nanoseconds"))


def epoch_seconds(values: np.ndarray, frame: pd.DataFrame, column: str, source: str) -> np.ndarray:
    """Epoch numbers as seconds, their unit told by their size (one unit per column:
    a file mixing seconds and milliseconds is refused, naming rows of each)."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return values
    units = np.searchsorted([limit for limit, _, _ in EPOCH_UNITS[:-1]], np.abs(finite), side="right")
    if units.min() != units.max():
        first = pd.Series(np.isfinite(values) & (np.abs(values) < EPOCH_UNITS[units.min()][0]))
        other = pd.Series(np.isfinite(values) & (np.abs(values) >= EPOCH_UNITS[units.min()][0]))
        raise DataError(f"{source} column '{column}': mixes epoch {EPOCH_UNITS[units.min()][2]} "
                        f"({_row_list(first, frame, column)}) with {EPOCH_UNITS[units.max()][2]} "
                        f"({_row_list(other, frame, column)}); use one unit")
    return values / EPOCH_UNITS[units.min()][1]


def clean_interactions(frame: pd.DataFrame, source: str) -> tuple[pd.DataFrame, list[str]]:
    """Check and normalise an interactions table; returns it and the warnings."""
    require_columns(frame, ID_COLUMNS, source)
    check_ids(frame, ID_COLUMNS, source)
    if "rating" in frame.columns and "weight" in frame.columns:
        raise DataError(f"{source}: has both 'rating' and 'weight'; keep one "
                        "(rating = explicit stars, weight = implicit strength)")
    out = pd.DataFrame({"user_id": frame["user_id"].astype(str), "item_id": frame["item_id"].astype(str)})
    for col in ("rating", "weight"):
        if col in frame.columns:
            out[col] = parse_number(frame, col, source)
    if "timestamp" in frame.columns:
        out["timestamp"] = parse_timestamp(frame, "timestamp", source)
    warnings = []
    duplicated = out.duplicated()
    if duplicated.any():
        warnings.append(f"{source}: dropped {int(duplicated.sum())} duplicate row(s), first at "
                        f"{_row_list(duplicated, frame, 'item_id')}")
        out = out[~duplicated.to_numpy()].reset_index(drop=True)
    return out, warnings


def clean_items(frame: pd.DataFrame, source: str) -> tuple[pd.DataFrame, list[str]]:
    """Check and normalise an items table; metadata columns are kept as they are."""
    require_columns(frame, ("item_id", "image_path"), source)
    check_ids(frame, ("item_id",), source)
    out = frame.copy()
    out["item_id"] = out["item_id"].astype(str)
    out["image_path"] = out["image_path"].fillna("").astype(str)
    warnings = []
    duplicated = out["item_id"].duplicated()
    if duplicated.any():
        warnings.append(f"{source}: dropped {int(duplicated.sum())} row(s) repeating an item_id, "
                        f"first at {_row_list(duplicated, frame, 'item_id')}")
        out = out[~duplicated.to_numpy()]
    return out.reset_index(drop=True), warnings
