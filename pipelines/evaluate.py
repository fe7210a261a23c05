"""``recsys evaluate DATASET [--config FILE]``: the evaluation protocol for the
hybrid and every baseline, one table."""

from __future__ import annotations

from pipelines.common import embed_with_report
from pipelines.config import load_config
from pipelines.embed import add_encoder_arguments, encoder_config
from recsys.data import load_dataset
from recsys.evaluation import fit_and_evaluate, make_split, metric_table
from recsys.models import ContentKNN, ItemKNN, Popularity, RandomScores
from recsys.vision import ImageEncoder


def add_arguments(parser):
    parser.add_argument("dataset", help="dataset folder")
    parser.add_argument("--config", default=None, help="run config (.json, .yaml or .toml)")
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


def evaluate_dataset(dataset, config):
    """Split, embed, fit and evaluate every model; returns ``(results, table, split)``."""
    s = config.split
    split = make_split(dataset, warm=s.warm, test_share=s.test_share, cold_share=s.cold_share, seed=s.seed)
    embedded = embed_with_report(dataset, ImageEncoder(config.encoder), config.store)
    results = fit_and_evaluate(models_to_compare(config, s.seed), split, embedded.vectors, ks=config.ks)
    k = max(config.ks)
    table = metric_table(results, tuple(f"{m}_at_{k}" for m in ("recall", "ndcg", "map")))
    return results, table, split


def run(args) -> int:
    config = load_config(args.config)
    config = type(config)(**{**config.__dict__, "encoder": encoder_config(args, config.encoder)})
    dataset = load_dataset(args.dataset, positive_threshold=config.positive_threshold)
    results, table, split = evaluate_dataset(dataset, config)
    d = split.describe()
    print(f"\n{dataset.name}: warm test {d['warm_test_positives']:,} positives ({config.split.warm} holdout), "
          f"cold test {d['cold_test_positives']:,} positives on {d['cold_items']:,} held-out items")
    print(table.round(4).to_string())
    return 0
