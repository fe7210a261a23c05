"""Embedding a dataset's photos with a printed summary, and the items left out."""

from __future__ import annotations


#: skipped items listed one by one; the rest are counted
MAX_SKIPPED_SHOWN = 20


def embed_with_report(dataset, encoder, store: str, batch_size: int = 64, embed=None):
    """Embed a dataset's images (reusing the store) with an ``ImageEncoder`` and print the summary.

    ``embed``: what runs the CNN (default :func:`recsys.vision.embed_files`, this machine)."""
    from recsys.progress import labelled
    from recsys.vision import embed_dataset, embed_files

    print(f"Embedding {dataset.n_items:,} items of {dataset.name} with {encoder.config.name} "
          f"({encoder.image_size}px, {encoder.dim}-d, fingerprint {encoder.fingerprint()})")
    with labelled(f"{dataset.name} ({encoder.config.name})"):
        result = embed_dataset(dataset, encoder, store_dir=store, batch_size=batch_size, progress=True,
                               embed=embed or embed_files)
    print(f"  {result.summary()}")
    return result


def print_skipped(result, template: str) -> None:
    """The items whose image was not usable, one line each (``template`` holds ``{}``
    for the item id), up to :data:`MAX_SKIPPED_SHOWN`."""
    for item_id, reason in result.skipped_items[:MAX_SKIPPED_SHOWN]:
        print("  " + template.format(repr(item_id)) + f": {reason}")
    if len(result.skipped_items) > MAX_SKIPPED_SHOWN:
        print(f"  ... and {len(result.skipped_items) - MAX_SKIPPED_SHOWN} more")
