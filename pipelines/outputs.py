"""Where a command writes: ``--out`` as a local path, checked before a long job."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from recsys.io import check_output


def local_output(out: str, engine: str = "local") -> str:
    """An ``--out`` as a local path: a ``file://`` URI becomes its path; other URIs
    (``s3a://``, ``hdfs://``) are Spark's to write, so refused here."""
    parsed = urlparse(str(out))
    if parsed.scheme == "file":
        return unquote(parsed.path)
    if parsed.scheme:
        spark = " with --engine local; use --engine spark" if engine == "local" else ""
        raise ValueError(f"--out {out}: {parsed.scheme}:// cannot be written{spark or ' by this command'}; "
                         "give a local path or a file:// URI")
    return str(out)


def check_writable(out: str | Path, overwrite: bool = False, inputs=()) -> str:
    """Fail before a long job, not after it, when the output must not or cannot be
    written: see :func:`recsys.io.check_output`. Returns the output as a local path
    (:func:`local_output`)."""
    out = local_output(str(out))
    check_output(out, overwrite, inputs)
    parent = Path(out).resolve().parent
    while not parent.exists():
        parent = parent.parent
    probe = parent / f".recsys-write-test-{id(out)}"
    try:
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise ValueError(f"{out}: cannot write there ({exc.strerror})") from None
    return out


def local_model(model: str) -> str | None:
    """A model argument's folder when it is one (not a ``runs:/`` or ``models:/`` URI)."""
    return None if model.startswith(("runs:/", "models:/")) else model
