"""Safe image access: path resolution, decoding to RGB, and per-image checks.

Every place that reads a product photo goes through :func:`load_rgb`, so a bad
file is judged the same way by ``recsys data validate``, ``recsys embed`` and
on-the-fly scoring of new items.
"""

from __future__ import annotations

import io
import os
import stat
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from recsys.formats import mib_setting

#: Images with more pixels than this are refused as decompression bombs.
#: 40 MP is far above any product photo and far below what exhausts memory.
DEFAULT_MAX_PIXELS = 40_000_000
#: Image files larger than this many MiB are refused before reading a byte;
#: ``RECSYS_MAX_IMAGE_MB`` changes it (read at each call).
DEFAULT_MAX_IMAGE_MB = 50
MAX_IMAGE_MB_ENV = "RECSYS_MAX_IMAGE_MB"
#: the formats a catalog uses, and the only ones Pillow may open: never EPS or others
#: that hand the file to an external program (Ghostscript)
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
#: what the explorer sends each allowed format as
CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif",
                 "BMP": "image/bmp", "TIFF": "image/tiff"}

# Reasons an image is unusable; the strings appear in reports.
NO_IMAGE = "no image path"
OUTSIDE = "path escapes the dataset folder"
MISSING = "file not found"
EMPTY = "zero-byte file"
TRUNCATED = "truncated file"
CORRUPT = "not a readable JPEG, PNG, WebP, GIF, BMP or TIFF image"
BOMB = "too many pixels (decompression bomb)"
NOT_REGULAR = "not a regular file"
TOO_LARGE = "file too large"
UNREADABLE = "cannot be read"


class ImageError(Exception):
    """An image that cannot be used; ``reason`` is one of the module constants."""

    def __init__(self, reason: str, path: str | os.PathLike | None, detail: str = ""):
        self.reason = reason
        self.path = None if path is None else str(path)
        self.detail = detail
        super().__init__(f"{self.path}: {reason}" + (f" ({detail})" if detail else ""))


def resolve_image_path(image_path: object, root: str | os.PathLike) -> Path:
    """Resolve an ``image_path`` cell of an items table.

    Relative paths are taken from the dataset folder and must stay inside it;
    absolute paths are taken as given (the user named that file explicitly).

    Raises
    ------
    ImageError
        ``NO_IMAGE`` for an empty cell, ``OUTSIDE`` for a relative path that
        leaves the dataset folder (``../x.jpg``, or a symlink pointing out).
    """
    if image_path is None or (isinstance(image_path, float) and np.isnan(image_path)):
        raise ImageError(NO_IMAGE, None)
    text = str(image_path).strip()
    if not text:
        raise ImageError(NO_IMAGE, None)
    path = Path(text)
    if path.is_absolute():
        return path
    try:
        root = Path(root).resolve()
        resolved = (root / path).resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop (RuntimeError before Python 3.13), ENAMETOOLONG
        raise ImageError(UNREADABLE, text, getattr(exc, "strerror", None) or str(exc)) from None
    if not resolved.is_relative_to(root):
        raise ImageError(OUTSIDE, text, f"resolves to {resolved}, outside {root}")
    return resolved


def max_image_bytes() -> int:
    """The file size cap: ``RECSYS_MAX_IMAGE_MB`` MiB, else :data:`DEFAULT_MAX_IMAGE_MB`."""
    return mib_setting(MAX_IMAGE_MB_ENV, DEFAULT_MAX_IMAGE_MB)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def read_image_bytes(path: str | os.PathLike) -> bytes:
    """The bytes of an image file, read safely: only a regular file (devices, FIFOs,
    sockets and directories are refused without blocking), at most
    :func:`max_image_bytes`, and every ``OSError`` (missing, loops, ENOTDIR,
    ENAMETOOLONG, EACCES) as an :class:`ImageError`.
    """
    path = Path(path)
    limit = max_image_bytes()
    try:
        # O_NONBLOCK: opening a FIFO with no writer would otherwise wait forever
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise ImageError(MISSING, path) from None
    except OSError as exc:
        raise ImageError(UNREADABLE, path, exc.strerror or str(exc)) from None
    info = os.fstat(fd)  # of what was opened, not of what the name pointed to before
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise ImageError(NOT_REGULAR, path, _kind(info.st_mode))
    with os.fdopen(fd, "rb") as f:
        if info.st_size == 0:
            raise ImageError(EMPTY, path)
        too_large = ImageError(TOO_LARGE, path, f"over {limit / 2**20:g} MiB; set {MAX_IMAGE_MB_ENV} to allow more")
        if info.st_size > limit:  # refused before a byte is read
            raise too_large
        try:
            data = f.read(limit + 1)
        except OSError as exc:
            raise ImageError(UNREADABLE, path, exc.strerror or str(exc)) from None
        if len(data) > limit:  # it grew after fstat
            raise too_large
        return data


def load_rgb(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS,
             draft: tuple[int, int] | None = None) -> tuple[Image.Image, str]:
    """Open an image fully decoded, upright (EXIF orientation) and in RGB.

    ``draft`` lets the JPEG decoder downscale by 2, 4 or 8 while decoding, when
    the caller only needs an image at least that large (much faster for big photos).

    Returns the image and its original mode (``"L"``, ``"CMYK"``, ``"P"``,
    ``"RGBA"``...), so callers can count conversions. Transparent pixels are
    composited on white, the usual background of product photos.

    Raises
    ------
    ImageError
        For missing, zero-byte, truncated, corrupt or oversized files, and
        anything that is not a regular file (:func:`read_image_bytes`).
    """
    path = Path(path)
    return decode_rgb(read_image_bytes(path), path, max_pixels, draft)


def decode_rgb(data: bytes, path: str | os.PathLike | None = None, max_pixels: int = DEFAULT_MAX_PIXELS,
               draft: tuple[int, int] | None = None) -> tuple[Image.Image, str]:
    """:func:`load_rgb` of bytes already read (an upload); ``path`` names them in errors."""
    try:
        with open_image(data, path, max_pixels) as im:
            mode = im.mode
            if draft is not None and im.format == "JPEG":
                im.draft("RGB", draft)
            im.load()
            im = ImageOps.exif_transpose(im)
            return _to_rgb(im), mode
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageError(BOMB, path, str(exc)) from None
    except UnidentifiedImageError:
        raise ImageError(CORRUPT, path) from None
    except (OSError, SyntaxError, ValueError) as exc:
        reason = TRUNCATED if "truncated" in str(exc).lower() else CORRUPT
        raise ImageError(reason, path, str(exc)) from None


def open_image(data: bytes, path=None, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """The image in ``data``, header read only: one of :data:`ALLOWED_FORMATS` and within
    ``max_pixels`` (else :class:`ImageError`); nothing is decoded yet."""
    try:
        im = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError as exc:
        raise ImageError(BOMB, path, str(exc)) from None
    except UnidentifiedImageError:
        raise ImageError(CORRUPT, path) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(TRUNCATED if "truncated" in str(exc).lower() else CORRUPT, path, str(exc)) from None
    width, height = im.size
    if width * height > max_pixels:
        im.close()
        raise ImageError(BOMB, path, f"{width}x{height} > {max_pixels:,} pixels")
    return im


def image_format(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> str:
    """The format of an image file (``"JPEG"``...), from a safe read and its header:
    what the explorer checks before it serves a file. Raises :class:`ImageError`."""
    with open_image(read_image_bytes(path), path, max_pixels) as im:
        return im.format


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode == "RGB":
        return im
    if im.mode.startswith("I"):  # 16-bit (or 32-bit integer) grayscale: scale, do not clip at 255
        values = np.asarray(im, dtype=np.float64)
        if im.mode.startswith("I;16") or values.max(initial=0) > 255:
            values = values / 257.0  # 65535 -> 255
        return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), "L").convert("RGB")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGB", im.size, (255, 255, 255))
        background.paste(im.convert("RGBA"), mask=im.convert("RGBA").getchannel("A"))
        return background
    return im.convert("RGB")


@dataclass
class ImageReport:
    """Outcome of checking every image of a catalog."""

    n_items: int = 0
    n_usable: int = 0
    #: reason -> number of items
    unusable: Counter = field(default_factory=Counter)
    #: original mode -> number of usable images converted to RGB
    converted: Counter = field(default_factory=Counter)
    #: (item_id, reason, detail) for every unusable image, image path given
    problems: list[tuple[str, str, str]] = field(default_factory=list)
    #: boolean mask aligned with the checked items
    usable: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))


def check_images(
    item_ids, image_paths, root, max_pixels: int = DEFAULT_MAX_PIXELS, workers: int | None = None
) -> ImageReport:
    """Decode every image once (in threads: Pillow releases the GIL) and report.

    An item without an ``image_path`` is counted as unusable (``NO_IMAGE``)
    but is not a problem: catalogs may hold items with no photo yet.
    """
    report = ImageReport(n_items=len(item_ids))

    def check(path_cell):
        try:
            _, mode = load_rgb(resolve_image_path(path_cell, root), max_pixels)
            return None, mode
        except ImageError as err:
            return err, None

    workers = workers or min(8, (os.cpu_count() or 1) * 2)
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(check, image_paths, chunksize=64))
    usable = np.zeros(len(results), dtype=bool)
    for i, (err, mode) in enumerate(results):
        if err is None:
            usable[i] = True
            if mode != "RGB":
                report.converted[mode] += 1
            continue
        report.unusable[err.reason] += 1
        if err.reason != NO_IMAGE:
            detail = f"{image_paths[i]}" + (f": {err.detail}" if err.detail else "")
            report.problems.append((str(item_ids[i]), err.reason, detail))
    report.usable = usable
    report.n_usable = int(usable.sum())
    return report
