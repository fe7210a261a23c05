"""Progress in a log file: one line per step, named by what it belongs to."""

from __future__ import annotations

import io
import sys

from recsys import progress


def test_a_bar_in_a_log_file_is_one_line_naming_its_model_and_step(monkeypatch):
    err = io.StringIO()  # not a terminal, as a file or a CI log is not
    monkeypatch.setattr(sys, "stderr", err)
    with progress.labelled("cf_only"):
        with progress.labelled("fold 2"):
            bar = progress.epoch_bar("training ids", 40, enabled=True)
        for epoch in range(7):
            bar.set_postfix(loss=f"{7 - epoch:.3f}")
            bar.update()
        bar.close()
        bar.close()  # closing twice prints once
    with progress.bar("embedding", 10, "image", enabled=False) as quiet:
        quiet.update(10)
    lines = err.getvalue().splitlines()
    assert len(lines) == 1 and "\r" not in err.getvalue()
    assert lines[0].startswith("cf_only fold 2: training ids: 7/40 epochs in ") and lines[0].endswith("loss=1.000")


def test_a_long_step_in_a_log_file_also_says_where_it_is(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(progress, "LOG_EVERY_SECONDS", 0.0)
    with progress.bar("recommending", 4, "user") as bar:
        bar.update(1)
        bar.update(1)
    lines = err.getvalue().splitlines()
    assert len(lines) == 3 and "ETA" in lines[0] and lines[1].startswith("recommending: 2/4 users")
    assert lines[-1].startswith("recommending: 2/4 users in ")
