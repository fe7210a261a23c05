"""Progress of long steps on stderr: a bar with rate and ETA on a terminal or in a
notebook, one line per step in a log file.

A bar's description names the step ("training ids"); :func:`labelled` names what it
belongs to ("cf_only"), so a run that fits seven models tells their bars apart.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
import time

from tqdm.auto import tqdm

_LABEL = contextvars.ContextVar("recsys_progress_label", default="")
#: in a log file, a step longer than this also prints a line every this many seconds
LOG_EVERY_SECONDS = 60.0


@contextlib.contextmanager
def labelled(name: str):
    """Bars opened inside the block start with ``name:`` (nested labels are joined)."""
    outer = _LABEL.get()
    token = _LABEL.set(f"{outer} {name}" if outer else name)
    try:
        yield
    finally:
        _LABEL.reset(token)


def _interactive() -> bool:
    """A terminal, or a Jupyter kernel (its stderr is no terminal, but it draws widgets)."""
    if sys.stderr.isatty():
        return True
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def bar(description: str, total: int, unit: str, enabled: bool = True, **options):
    """A tqdm bar on a terminal or in a notebook; elsewhere a :class:`LogLine`."""
    label = _LABEL.get()
    description = f"{label}: {description}" if label else description
    if enabled and not _interactive():
        return LogLine(description, total, unit)
    return tqdm(total=total, desc=description, unit=unit, disable=not enabled, **options)


def epoch_bar(description: str, epochs: int, enabled: bool):
    """A bar over ``epochs`` training epochs; early stopping may close it before the end."""
    return bar(description, epochs, "epoch", enabled)


class LogLine:
    """What a bar says, as one line when the step ends (and once a minute while a long
    one runs): a log file gets no carriage returns and no line per update."""

    def __init__(self, description: str, total: int, unit: str):
        self.description, self.total, self.unit, self.n = description, total, unit, 0
        self.postfix = ""
        self.started = self.last_line = time.perf_counter()
        self.closed = False

    def update(self, n: int = 1) -> None:
        self.n += n
        if time.perf_counter() - self.last_line >= LOG_EVERY_SECONDS:
            self._print(f", ETA {self._eta():.0f}s")

    def set_postfix(self, **values) -> None:
        self.postfix = ", ".join(f"{key}={value}" for key, value in values.items())

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._print("")

    def _eta(self) -> float:
        elapsed = time.perf_counter() - self.started
        return elapsed / self.n * (self.total - self.n) if self.n else float("nan")

    def _print(self, extra: str) -> None:
        elapsed = time.perf_counter() - self.started
        rate = self.n / elapsed if elapsed > 0 else 0.0
        postfix = f", {self.postfix}" if self.postfix else ""
        print(f"{self.description}: {self.n:,}/{self.total:,} {self.unit}s in {elapsed:.1f}s "
              f"({rate:,.1f} {self.unit}s/s{extra}){postfix}", file=sys.stderr, flush=True)
        self.last_line = time.perf_counter()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
