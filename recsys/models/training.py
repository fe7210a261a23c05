"""One early-stopping loop for every part that trains: the hybrid's phases and the
taste head (:mod:`recsys.models.taste_head`)."""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from recsys.progress import epoch_bar


def train_epochs(run_epoch: Callable[[], float], epochs: int, label: str, progress: bool = False,
                 validate: Callable[[], float] | None = None, weights: tuple[Callable, Callable] | None = None,
                 patience: int = 3, score_name: str = "val_ndcg", score_start: bool = False):
    """Run up to ``epochs`` epochs of ``run_epoch`` (which returns the epoch's mean loss).

    With ``validate`` (a score, higher is better), stop after ``patience`` epochs without a
    better score and restore the best epoch's weights through ``weights = (get, set)``;
    ``score_start`` also scores the starting weights as epoch 0, kept if no epoch beats them.
    Without it, exactly ``epochs`` epochs.

    Returns ``(best epoch, records)``: one ``{"epoch", "loss", "seconds"[, score_name]}`` per epoch.
    """
    records, best, best_epoch, best_weights = [], -np.inf, epochs, None
    if validate is not None and score_start:
        best, best_epoch, best_weights = validate(), 0, weights[0]()
        records.append({"epoch": 0, score_name: best})
    bar = epoch_bar(f"{'selecting' if validate else 'training'} {label}", epochs, progress)
    for epoch in range(1, epochs + 1):
        started = time.perf_counter()
        loss = run_epoch()
        record = {"epoch": epoch, "loss": loss, "seconds": time.perf_counter() - started}
        if validate is not None:
            record[score_name] = validate()
            if record[score_name] > best:
                best, best_epoch, best_weights = record[score_name], epoch, weights[0]()
        records.append(record)
        bar.set_postfix(loss=f"{record['loss']:.3f}",
                        **({"val_ndcg": f"{record[score_name]:.4f}"} if validate else {}))
        bar.update()
        if validate is not None and epoch - best_epoch >= patience:
            break
    bar.close()
    if best_weights is not None:
        weights[1](best_weights)
    return best_epoch, records
