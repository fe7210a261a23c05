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
        self.ids = np.asarray([str(i) for i in ids], dtype=object)
        self.kind = kind
        self._rows = {i: n for n, i in enumerate(self.ids)}
        if len(self._rows) != len(self.ids):
            duplicated = pd.unique(self.ids[pd.Series(self.ids).duplicated().to_numpy()])[:SHOWN]
            raise ValueError(f"duplicate {kind}_id(s): {', '.join(map(repr, duplicated))}")

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, item_id) -> bool:
        return str(item_id) in self._rows

    def __eq__(self, other) -> bool:
        return isinstance(other, IdMap) and np.array_equal(self.ids, other.ids)

    def rows(self, ids, missing: str = "raise") -> np.ndarray:
        """Rows of ``ids`` (int64). ``missing="raise"`` names unknown ids in a ``KeyError``;
        ``"-1"`` marks them with -1."""
        ids = [ids] if isinstance(ids, str) else list(ids)
        out = np.fromiter((self._rows.get(str(i), -1) for i in ids), dtype=np.int64, count=len(ids))
        if missing == "raise" and (out < 0).any():
            unknown = [ids[j] for j in np.flatnonzero(out < 0)[:SHOWN]]
            more = int((out < 0).sum()) - SHOWN
            raise KeyError(f"unknown {self.kind}_id(s): {', '.join(map(repr, unknown))}"
                           + (f" and {more} more" if more > 0 else ""))
        return out

    def row(self, one_id) -> int:
        return int(self.rows([one_id])[0])

    def new(self, ids) -> list[str]:
        """The ids of ``ids`` not in the map, each once, in order."""
        return [i for i in dict.fromkeys(str(i) for i in ids) if i not in self._rows]

    def extended(self, ids) -> "IdMap":
        """A map with :meth:`new` ``ids`` appended (rows of known ids unchanged)."""
        return IdMap(np.concatenate([self.ids, np.asarray(self.new(ids), dtype=object)]), self.kind)
