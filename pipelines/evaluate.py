"""``recsys evaluate DATASET [--config FILE]``: the evaluation protocol for the
hybrid and every baseline, one table."""

from __future__ import annotations

import dataclasses

from pipelines import tracked
from pipelines.common import embed_with_report
from pipelines.embed import add_encoder_arguments, run_config
from recsys import tracking
from recsys.data import load_dataset
from recsys.evaluation import fit_and_evaluate, make_split, metric_table
from recsys.models import ContentKNN, ItemKNN, Popularity, RandomScores


#: K values of the metric-at-K curves, besides the config's own
CURVE_KS = (1, 5, 10, 20, 50)


def add_arguments(parser):
    parser.add_argument("dataset", help="dataset folder")
    parser.add_argument("--config", default=None, help="run config (.json, .yaml or .toml)")
    parser.add_argument("--experiment", default=tracking.DEFAULT_EXPERIMENT, help="MLflow experiment name")
    add_encoder_arguments(parser)


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
    s = config.split
    split = make_split(dataset, **dataclasses.asdict(s))
    embedded = embed_with_report(dataset, encoder, config.store)
    models = models_to_compare(config, s.seed)
    ks = tuple(sorted(set(config.ks) | set(CURVE_KS)))
    results = fit_and_evaluate(models, split, embedded.vectors, ks=ks, progress=True)
    k = max(config.ks)
    table = metric_table(results, tuple(f"{m}_at_{k}" for m in ("recall", "ndcg", "map")))
    tracked.log_inputs(config, dataset)
    tracked.log_training(models["hybrid"])
    tracked.log_evaluation(results, table, main_model="hybrid")
    tracked.log_gallery(split, models["hybrid"])
    tracked.log_embeddings(dataset.item_ids, embedded.vectors, embedded.has_image)
    return results, table, split, models, embedded


def run(args) -> int:
    config = run_config(args)
    tracking.connect(args.experiment)
    dataset = load_dataset(args.dataset, positive_threshold=config.positive_threshold)
    from recsys.vision import ImageEncoder

    encoder = ImageEncoder(config.encoder)  # missing ImageNet weights fail here, before any run
    with tracking.start_run("evaluate", run_name=f"evaluate {dataset.name}") as run:
        results, table, split, *_ = evaluate_dataset(dataset, config, encoder)
    print(f"MLflow run {run.info.run_id} ({tracking.tracking_uri()})")
    d = split.describe()
    how = (f"cutoff {config.split.at or 'last ' + str(config.split.last)}" if config.split.kind == "cutoff"
           else f"{config.split.warm} holdout")
    print(f"\n{dataset.name} ({how}): warm test {d['warm_test_positives']:,} positives, "
          f"cold test {d['cold_test_positives']:,} positives on {d['cold_items']:,} cold items")
    print(table.round(4).to_string())
    return 0
