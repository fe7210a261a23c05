"""Safe outputs: recsys replaces only what it wrote, atomically, and never an input.

Each output folder holds a marker file (:data:`MARKER`) listing every file recsys
wrote into it (a manifest), and each output Parquet file a schema metadata key
(:data:`PARQUET_KEY`). A folder is replaced only while it holds exactly its
manifest; anything else at a target, or a folder a user added a file to, is
refused unless the caller passes ``overwrite=True`` (``--overwrite``). Work
happens in a temporary path beside the target (named with the writer's process
id), which is renamed into place at the end, under a lock on the parent folder
so concurrent writers end with one complete output. A crash or a kill leaves
the previous output whole; temporary paths of dead writers are removed by the
next writer. Outputs get the permissions the umask gives.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

#: the file inside every output folder that says recsys wrote it
MARKER = ".recsys-output"
#: the Parquet schema metadata key of every output file
PARQUET_KEY = b"recsys.output"


class OutputError(ValueError):
    """A target recsys must not write to: another program's data, or the command's input."""


def folder_files(folder: Path) -> list[str]:
    """Every entry under ``folder`` but the marker, as sorted relative paths (a folder
    ends with ``/``, so an empty one counts too)."""
    out = []
    for parent, dirs, files in os.walk(folder):
        rel = Path(parent).relative_to(folder)
        out += [f"{(rel / d).as_posix()}/" for d in dirs] + [(rel / f).as_posix() for f in files]
    return sorted(p for p in out if p != MARKER)


def foreign_files(folder: Path) -> list[str] | None:
    """What a recsys output folder holds beyond its manifest (the files its marker lists);
    ``None`` when the folder has no readable marker, or one without a manifest."""
    try:
        manifest = json.loads((folder / MARKER).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(manifest, list):
        return None
    return sorted(set(folder_files(folder)) - set(manifest))


def written_by_recsys(target: Path) -> bool:
    """Whether ``target`` is a folder holding exactly what recsys wrote there (its
    :data:`MARKER` lists every file) or a Parquet file with :data:`PARQUET_KEY`."""
    if target.is_dir():
        return foreign_files(target) == []
    if target.is_file() and target.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            return PARQUET_KEY in (pq.read_schema(target).metadata or {})
        except Exception:  # not Parquet, or unreadable: not ours
            return False
    return False


#: MLflow 3's default tracking store: an SQLite file in the working directory
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` when set, else :data:`DEFAULT_TRACKING_URI`."""
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def sqlite_store(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` tracking URI (absolute); ``None`` for other stores."""
    from urllib.parse import unquote

    if not uri.startswith("sqlite:///"):
        return None
    return Path(unquote(uri.removeprefix("sqlite:///").split("?")[0])).absolute()


def tracking_store_paths() -> list[Path]:
    """The local MLflow store that ``MLFLOW_TRACKING_URI`` names (default
    :data:`DEFAULT_TRACKING_URI`): the SQLite file and the artifact root beside it
    (``mlruns``), or a file store's folder. An output never replaces them."""
    from urllib.parse import unquote, urlparse

    uri = tracking_uri()
    parsed = urlparse(uri)
    store = sqlite_store(uri)
    if store is not None:
        return [store.resolve(), (store.parent / "mlruns").resolve()]
    if parsed.scheme in ("", "file"):
        return [Path(unquote(parsed.path)).absolute().resolve()]
    return []


def check_output(target: str | os.PathLike, overwrite: bool = False, inputs=()) -> Path:
    """Fail before a long job when ``target`` must not be written.

    Refused always: the current folder, a command input (``inputs``: dataset,
    model), a folder holding one, or a path inside one. Refused unless
    ``overwrite``: an existing path that recsys did not write.
    """
    target = Path(target).absolute()
    resolved = target.resolve()
    protected = [("the current folder", Path.cwd().resolve())] + \
        [("this command's input", Path(p).resolve()) for p in inputs if p is not None] + \
        [("the MLflow tracking store", p) for p in tracking_store_paths()]
    for what, path in protected:
        if resolved == path or path.is_relative_to(resolved):
            raise OutputError(f"{target}: refusing to write there: it is or holds {what} ({path})")
        if what != "the current folder" and resolved.is_relative_to(path):
            raise OutputError(f"{target}: refusing to write inside {what} ({path}); choose a path outside it")
    if target.is_symlink() or (target.exists() and not overwrite and not written_by_recsys(target)):
        added = foreign_files(target) if target.is_dir() and not target.is_symlink() else None
        why = (f"it holds files recsys did not write there ({', '.join(added[:5])}"
               + (f" and {len(added) - 5} more" if len(added) > 5 else "") + ")") if added \
            else f"recsys did not write it (no {MARKER} marker listing its files)"
        raise OutputError(f"{target}: exists and {why}; refusing to replace it. Choose another path, "
                          "or pass --overwrite to replace it")
    return target


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(target: Path) -> None:
    """Temporary paths beside ``target`` left by writers that were killed."""
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.(tmp|old)-(\d+)-")
    for path in target.parent.glob(f".{target.name}.*"):
        match = pattern.match(path.name)
        if match and not _alive(int(match.group(2))):
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)


@contextlib.contextmanager
def locked(folder: Path):
    """An exclusive lock on ``folder`` itself (no lock file is left behind)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _apply_umask(path: Path) -> None:
    """``mkdtemp``/``mkstemp`` create 0700/0600; outputs get what the umask allows."""
    mask = _umask()
    if path.is_dir():
        for folder, dirs, files in os.walk(path):
            os.chmod(folder, 0o777 & ~mask)
            for name in files:
                os.chmod(os.path.join(folder, name), 0o666 & ~mask)
    else:
        os.chmod(path, 0o666 & ~mask)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, directory: bool = False, overwrite: bool = False, kind: str = "output"):
    """Yield a temporary path beside ``target``; on success it replaces ``target``.

    ``target`` must pass :func:`check_output` (checked here again, under the
    lock, in case another program wrote there meanwhile). A folder gets the
    :data:`MARKER` file (``kind`` says what it holds); a Parquet file must be
    written with :func:`write_parquet` (or carry :data:`PARQUET_KEY`) to be
    replaceable later. On an exception, ``target`` is untouched.
    """
    target = check_output(target, overwrite)
    if target.exists() and target.is_dir() != directory:
        raise OutputError(f"{target}: is a {'folder' if target.is_dir() else 'file'}; this output is a "
                          f"{'folder' if directory else 'file'}. Choose another path")
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(target)
    prefix = f".{target.name}.tmp-{os.getpid()}-"
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=prefix, dir=target.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        if directory:
            manifest = {"written_by": "recsys", "kind": kind, "files": folder_files(tmp)}
            (tmp / MARKER).write_text(json.dumps(manifest, indent=1) + "\n")
        _apply_umask(tmp)
        with locked(target.parent):
            check_output(target, overwrite)
            if target.is_dir() and not target.is_symlink():
                old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-{os.getpid()}-", dir=target.parent))
                os.replace(target, old / "previous")
                os.replace(tmp, target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink()


def write_parquet(frame, target: str | os.PathLike, overwrite: bool = False) -> Path:
    """``frame`` as a Parquet file marked as a recsys output, through :func:`atomic_path`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), PARQUET_KEY: b"1"})
    with atomic_path(target, overwrite=overwrite) as tmp:
        pq.write_table(table, tmp)
    return Path(target)
