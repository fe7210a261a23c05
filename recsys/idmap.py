"""Ids <-> integer rows: the one lookup shared by datasets, models and similar items.

Ids stay exactly as given (strings: ``"0100"`` is not ``100``); rows follow the
order the ids were given in; an unknown id is a ``KeyError`` that names it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: unknown ids named in a message before "and N more"
SHOWN = 5


class IdMap:
    """An ordered set of ids with O(1) lookups.

    Parameters
    ----------
    ids : iterable of ids (stored as ``str``); duplicates are refused
    kind : what the ids are (``"user"``, ``"item"``), for messages
    """

    def __init__(self, ids, kind: str = "id"):
        self._index = as_strings(ids)  # a hash table: vectorised lookups of many ids at once
        self.ids = self._index.to_numpy(dtype=object)
        self.kind = kind
        if not self._index.is_unique:
            duplicated = self._index[self._index.duplicated()].unique()[:SHOWN]
            raise ValueError(f"duplicate {kind}_id(s): {', '.join(map(repr, duplicated))}")

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, item_id) -> bool:
        return str(item_id) in self._index

    def rows(self, ids, missing: str = "raise") -> np.ndarray:
        """Rows of ``ids`` (int64). ``missing="raise"`` names unknown ids in a ``KeyError``;
        ``"-1"`` marks them with -1."""
        query = as_strings([ids] if isinstance(ids, str) else ids)
        out = self._index.get_indexer(query).astype(np.int64)
        if missing == "raise" and (out < 0).any():
            unknown = list(query[np.flatnonzero(out < 0)[:SHOWN]])
            more = int((out < 0).sum()) - SHOWN
            raise KeyError(f"unknown {self.kind}_id(s): {', '.join(map(repr, unknown))}"
                           + (f" and {more} more" if more > 0 else ""))
        return out

    def row(self, one_id) -> int:
        return int(self.rows([one_id])[0])

    def new(self, ids) -> list[str]:
        """The ids of ``ids`` not in the map, each once, in order."""
        query = as_strings(ids).unique()
        return list(query[self._index.get_indexer(query) < 0])

    def extended(self, ids) -> "IdMap":
        """A map with :meth:`new` ``ids`` appended (rows of known ids unchanged)."""
        return IdMap(np.concatenate([self.ids, np.asarray(self.new(ids), dtype=object)]), self.kind)


def as_strings(ids) -> pd.Index:
    """``ids`` as an object index of ``str`` (converted only when some are not strings)."""
    if not isinstance(ids, (np.ndarray, pd.Index, pd.Series, list, tuple)):
        ids = list(ids)  # a generator, a set, dict keys
    index = pd.Index(np.asarray(ids, dtype=object) if not isinstance(ids, pd.Index) else ids, dtype=object)
    if pd.api.types.infer_dtype(index, skipna=False) not in ("string", "empty"):
        index = index.map(str)
    return index
