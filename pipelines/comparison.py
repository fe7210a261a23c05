"""The evaluation job (evaluate, demo): the hybrid against every baseline on one split."""

from __future__ import annotations

import dataclasses

from pipelines.embedding_report import embed_with_report
from pipelines.inputs import check_learnable
from recsys.models import ContentKNN, ItemKNN, Popularity, RandomScores


#: K values of the metric-at-K curves, besides the config's own
CURVE_KS = (1, 5, 10, 20, 50)


def models_to_compare(config, seed: int) -> dict:
    return {
        "hybrid": config.hybrid(),
        "cf_only": config.hybrid(use_images=False),
        "image_only": config.hybrid(use_ids=False),
        "content_knn": ContentKNN(),
        "item_knn": ItemKNN(),
        "popularity": Popularity(),
        "random": RandomScores(seed=seed),
    }


def evaluate_dataset(dataset, config, encoder):
    """Split, embed with ``encoder`` (an ``ImageEncoder``), fit and evaluate every model,
    logging to the active MLflow run. Returns ``(results, table, split, models, embedded)``.
    """
    from pipelines import run_logging
    from recsys.evaluation import fit_and_evaluate, make_split, metric_table

    check_learnable(dataset)
    s = config.split
    split = make_split(dataset, **dataclasses.asdict(s))
    embedded = embed_with_report(dataset, encoder, config.store)
    models = models_to_compare(config, s.seed)
    ks = tuple(sorted(set(config.ks) | set(CURVE_KS)))
    results = fit_and_evaluate(models, split, embedded.vectors, ks=ks, progress=True)
    k = max(config.ks)
    table = metric_table(results, tuple(f"{m}_at_{k}" for m in ("recall", "ndcg", "map", "new_share")))
    run_logging.log_inputs(config, dataset)
    run_logging.log_training(models["hybrid"])
    run_logging.log_evaluation(results, table, main_model="hybrid")
    run_logging.log_gallery(split, models["hybrid"])
    run_logging.log_embeddings(dataset.item_ids, embedded.vectors, embedded.has_image)
    return results, table, split, models, embedded
