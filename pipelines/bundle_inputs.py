"""What recommend and batch-recommend add to a loaded model: users folded in from their
histories, candidates and arrivals embedded from their photos."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipelines.embedding_report import print_skipped
from pipelines.inputs import read_items
from recsys.data.dataset import DEFAULT_POSITIVE_THRESHOLD


def positive_threshold(bundle) -> float:
    """The rating a positive needs, as the model was trained with."""
    return float(bundle.info.get("config", {}).get("positive_threshold", DEFAULT_POSITIVE_THRESHOLD))


def fold_in_histories(bundle, dataset, history: str | None, users=None):
    """Fold the users of ``dataset``'s interactions and of the ``history`` table into the model
    (:func:`recsys.histories.fold_in`; ``users``: only these); prints and returns the report,
    None when there is no history to read."""
    from recsys.histories import FoldInReport, fold_in, read_history

    sources = ([(dataset.interactions, dataset.positive_mask)] if dataset is not None else []) + (
        [read_history(history, positive_threshold(bundle))] if history else [])
    if not sources:
        return None
    if not bundle.model.folds_in_users:
        print(f"  {type(bundle.model).__name__} cannot fold in users (a model file from before recsys could: train "
              "it again); users it does not know are not ranked")
        return None
    report = FoldInReport()
    for interactions, positive in sources:
        done = fold_in(bundle.model, interactions, positive, users)
        added = set(report.added)  # added by an earlier source: counted as added only
        report.added += done.added
        report.updated += [u for u in done.updated if u not in added]
        report.unknown_item_rows += done.unknown_item_rows
    print(f"  {report.summary()}")
    return report


def resolve_users(bundle, users: list[str], skip_unknown: bool) -> list[str]:
    known = bundle.model.user_map_.rows(users, missing="-1") >= 0
    unknown = [u for u, ok in zip(users, known) if not ok]
    if unknown and not skip_unknown:
        raise KeyError(f"{len(unknown)} user(s) unknown to the model and without a history, e.g. {unknown[:5]}; "
                       "give their interactions with --data DATASET or --history FILE, or pass "
                       "--skip-unknown-users to leave them out")
    if unknown:
        print(f"  left out {len(unknown)} unknown user(s), e.g. {unknown[:5]}")
    return [u for u, ok in zip(users, known) if ok]


def add_candidates(bundle, path: str) -> list[str]:
    """Candidate ids; items new to the model are embedded from their images."""
    items = read_items(path)
    add_arrivals(bundle, items, Path(path).parent, "candidate")
    return [i for i in items["item_id"] if bundle.model.knows_item(i)]


def add_arrivals(bundle, items: pd.DataFrame, root, what: str = "arrival") -> list[str]:
    """Embed the items of ``items`` that the model does not know (each once) and add them,
    scored from their photos on the model's one scale; prints what was added and skipped.
    Returns the ids added."""
    result = bundle.add_new_items(items, root)
    if len(result.item_ids):
        print(f"  new {what}s: {result.summary()}")
    print_skipped(result, what + " {} left out")
    return [str(i) for i, ok in zip(result.item_ids, result.has_image) if ok]
