"""``recsys demo``: generate the demo shop, validate it, and evaluate models on it."""

from __future__ import annotations

from pathlib import Path

from recsys.data.demo import DemoConfig, write_demo
from recsys.evaluation import fit_and_evaluate, make_split, metric_table
from recsys.models import ItemKNN, Popularity, RandomScores
from pipelines.validate import format_report, validate

DEFAULT_DEMO_PATH = Path("data/demo")


def add_arguments(parser):
    parser.add_argument("--path", type=Path, default=DEFAULT_DEMO_PATH, help="where the demo dataset is written")
    parser.add_argument("--seed", type=int, default=0)


def run(args) -> int:
    path = write_demo(args.path, DemoConfig(seed=args.seed))
    print(f"Demo dataset ready at {path}\n")
    dataset, report = validate(path)
    print(format_report(dataset, report) + "\n")
    split = make_split(dataset, warm="temporal", test_share=0.2, cold_share=0.2, seed=args.seed)
    models = {"popularity": Popularity(), "random": RandomScores(seed=args.seed), "item_knn": ItemKNN()}
    results = fit_and_evaluate(models, split)
    print("Warm and cold metrics (temporal warm holdout, 20% of items held out cold):")
    print(metric_table(results).round(4).to_string())
    return 0
