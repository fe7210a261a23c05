"""The training step `recsys train` and `recsys demo` share: choose the hybrid's settings on a
validation split (:func:`recsys.models.hybrid_selection.select_settings`), fit it on every
interaction with them, and bundle it with its encoder."""

from __future__ import annotations

import time

from recsys import tracking
from recsys.progress import labelled


def fit_bundle(dataset, config, encoder, embedded, info: dict | None = None):
    """``(bundle, fit_seconds)``: the selected and fitted hybrid with its encoder and catalog
    (``embedded``: the catalog's embedding result; ``info`` goes into the bundle's info)."""
    from recsys.bundle import ModelBundle
    from recsys.models.hybrid_selection import select_settings

    model = config.hybrid()
    started = time.perf_counter()
    with labelled("hybrid on every interaction"):
        settings = select_settings(model, dataset, embedded, progress=True)  # the defaults without a validation share
        model.fit(dataset, embedded, progress=True, settings=settings)  # aligned by item id
    fit_seconds = time.perf_counter() - started
    bundle = ModelBundle(model=model, encoder=encoder, item_ids=dataset.item_ids, item_vectors=embedded.vectors,
                         has_image=embedded.has_image, items=dataset.items,
                         info={"dataset": dataset.summary(), "config": config.to_dict(), "fit_seconds": fit_seconds}
                         | (info or {}) | tracking.active_run_reference())
    return bundle, fit_seconds
