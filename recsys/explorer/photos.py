"""The photos the explorer may serve: decided once, at start, by item id.

A file is served only when its row belongs to an item the model knows and the
file opened, at start, as an image of an allowed format (its header read through
the image reads' rules: a regular file, a size cap, no blocking). Anything else
a table names (a key, a log, a web page) is never served, and the rows left out
are listed with their reasons. Photos may live anywhere the catalog puts them
(the data contract allows absolute paths); ``image_root`` narrows that to one folder.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from recsys.data.images import CONTENT_TYPES, NO_IMAGE, ImageError, image_format, read_image_bytes, \
    open_image, resolve_image_path

OUTSIDE_ROOT = "outside --image-root"
UNKNOWN_ITEM = "an item the model does not know"


class PhotoIndex:
    """Item id -> file of every photo that may be served, and the rows left out."""

    def __init__(self, tables, knows_item, image_root=None):
        """``tables``: ``(items table, the folder its relative paths start from)`` pairs;
        ``knows_item``: whether the model knows an id."""
        self.root = None if image_root is None else Path(image_root).resolve()
        rows, self.skipped = [], []
        seen = set()
        for table, folder in tables:
            if folder is None or "image_path" not in table:
                continue
            for item_id, cell in zip(table["item_id"].astype(str), table["image_path"]):
                if item_id in seen:
                    continue
                seen.add(item_id)
                if not knows_item(item_id):
                    self.skipped.append((item_id, UNKNOWN_ITEM))
                    continue
                rows.append((item_id, cell, folder))
        with ThreadPoolExecutor(min(8, (os.cpu_count() or 1) * 2)) as pool:
            found = list(pool.map(lambda row: self._check(*row), rows))
        self.files = {}
        for (item_id, _, _), (entry, reason) in zip(rows, found):
            if entry is not None:
                self.files[item_id] = entry
            elif reason != NO_IMAGE:
                self.skipped.append((item_id, reason))

    def _check(self, item_id, cell, folder):
        try:
            path = resolve_image_path(cell, folder)
            if self.root is not None and not path.resolve().is_relative_to(self.root):
                return None, OUTSIDE_ROOT
            image_format(path)  # opens as an allowed format, or raises
            return path, None
        except ImageError as exc:
            return None, exc.reason
        except (OSError, RuntimeError) as exc:  # resolve(): a loop, a name too long
            return None, str(exc)

    def __contains__(self, item_id) -> bool:
        return item_id in self.files

    def __len__(self) -> int:
        return len(self.files)

    def read(self, item_id) -> tuple[bytes, str]:
        """The photo's bytes and content type, checked again now (the file may have
        changed since start). Raises ``KeyError`` or :class:`ImageError`."""
        path = self.files[item_id]
        data = read_image_bytes(path)
        with open_image(data, path) as im:
            return data, CONTENT_TYPES[im.format]
