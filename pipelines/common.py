"""Steps shared by several jobs."""

from __future__ import annotations

import dataclasses
import importlib.util
import warnings
from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd

from recsys.data import check_images, load_dataset, tables
from recsys.data.dataset import DEFAULT_POSITIVE_THRESHOLD
from recsys.data.images import DEFAULT_MAX_PIXELS
from recsys.io import check_output
from recsys.models import ContentKNN, ItemKNN, Popularity, RandomScores

#: skipped items listed one by one; the rest are counted
MAX_SKIPPED_SHOWN = 20


def embed_with_report(dataset, encoder, store: str, batch_size: int = 64, embed=None):
    """Embed a dataset's images (reusing the store) with an ``ImageEncoder`` and print the summary.

    ``embed``: what runs the CNN (default :func:`recsys.vision.embed_files`, this machine)."""
    from recsys.vision import embed_dataset, embed_files

    print(f"Embedding {dataset.n_items:,} items of {dataset.name} with {encoder.config.name} "
          f"({encoder.image_size}px, {encoder.dim}-d, fingerprint {encoder.fingerprint()})")
    result = embed_dataset(dataset, encoder, store_dir=store, batch_size=batch_size, progress=True,
                           embed=embed or embed_files)
    print(f"  {result.summary()}")
    return result


def check_learnable(dataset) -> None:
    """Before embedding: a dataset a model can learn from (positives on two items or more)."""
    positives = dataset.positives()
    if positives.empty:
        raise ValueError(f"{dataset.root}: no positive interactions to learn from ({dataset.summary()['positive_rule']})")
    if positives["item_idx"].nunique() < 2:
        raise ValueError(f"{dataset.root}: positives on {positives['item_idx'].nunique()} item only; a recommender "
                         "needs positives on two items or more")


def print_skipped(result, template: str) -> None:
    """The items whose image was not usable, one line each (``template`` holds ``{}``
    for the item id), up to :data:`MAX_SKIPPED_SHOWN`."""
    for item_id, reason in result.skipped_items[:MAX_SKIPPED_SHOWN]:
        print("  " + template.format(repr(item_id)) + f": {reason}")
    if len(result.skipped_items) > MAX_SKIPPED_SHOWN:
        print(f"  ... and {len(result.skipped_items) - MAX_SKIPPED_SHOWN} more")


def read_ids(path: str | Path, column: str) -> list[str]:
    """The ``column`` of a CSV or Parquet file, as exact strings, in file order, deduplicated."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    frame = tables.read_table(path, (column,))
    tables.require_columns(frame, (column,), path.name)
    tables.check_ids(frame, (column,), path.name)
    return list(pd.unique(frame[column].astype(str)))


def read_items(path: str | Path) -> pd.DataFrame:
    """An items table in the data contract (``item_id``, ``image_path``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    items, _ = tables.clean_items(tables.read_table(path, ("item_id",)), path.name)
    return items


def add_overwrite_argument(parser, what: str = "the output path") -> None:
    parser.add_argument("--overwrite", action="store_true",
                        help=f"replace {what} even if recsys did not write it (default: refuse)")


def add_spark_arguments(parser, partitions: str) -> None:
    """``--engine local|spark``, ``--spark-master``, ``--partitions`` (of ``partitions``, e.g. "user partitions")."""
    parser.add_argument("--engine", choices=("local", "spark"), default="local",
                        help=f"local: this machine; spark: {partitions} on Spark (needs the `spark` extra)")
    parser.add_argument("--spark-master", default=None,
                        help="Spark master URL (default: the one spark-submit gives, else local[*])")
    parser.add_argument("--partitions", type=int, default=None, help=f"Spark: {partitions} (default: Spark's)")


def check_spark_installed(args) -> None:
    if args.engine == "spark" and importlib.util.find_spec("pyspark") is None:
        raise ValueError("--engine spark needs pyspark: pip install 'recsys[spark]'")


def start_spark(args, app_name: str):
    """The Spark session for ``--engine spark`` (``None`` for local), or a one-line error when it cannot start."""
    if args.engine != "spark":
        return None
    check_spark_installed(args)
    from recsys.spark import session

    # pyspark 4.3 warns at every pandas conversion under pandas 3; tests/test_spark.py checks the output
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    try:
        return session(args.spark_master, app_name)
    except Exception as exc:  # Spark reports a bad master or a missing Java in many exception types
        raise ValueError(f"Spark did not start (master {args.spark_master or 'default'}): "
                         f"{str(exc).splitlines()[0]}") from None


def local_output(out: str, engine: str = "local") -> str:
    """An ``--out`` as a local path: a ``file://`` URI becomes its path; other URIs
    (``s3a://``, ``hdfs://``) are Spark's to write, so refused here."""
    parsed = urlparse(str(out))
    if parsed.scheme == "file":
        return unquote(parsed.path)
    if parsed.scheme:
        spark = " with --engine local; use --engine spark" if engine == "local" else ""
        raise ValueError(f"--out {out}: {parsed.scheme}:// cannot be written{spark or ' by this command'}; "
                         "give a local path or a file:// URI")
    return str(out)


def check_writable(out: str | Path, overwrite: bool = False, inputs=()) -> str:
    """Fail before a long job, not after it, when the output must not or cannot be
    written: see :func:`recsys.io.check_output`. Returns the output as a local path
    (:func:`local_output`)."""
    out = local_output(str(out))
    check_output(out, overwrite, inputs)
    parent = Path(out).resolve().parent
    while not parent.exists():
        parent = parent.parent
    probe = parent / f".recsys-write-test-{id(out)}"
    try:
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise ValueError(f"{out}: cannot write there ({exc.strerror})") from None
    return out


def local_model(model: str) -> str | None:
    """A model argument's folder when it is one (not a ``runs:/`` or ``models:/`` URI)."""
    return None if model.startswith(("runs:/", "models:/")) else model


# -- users and candidates (recommend, batch-recommend) -----------------------------
def add_history_arguments(parser, data_help: str) -> None:
    parser.add_argument("--data", default=None, metavar="DATASET", help=data_help)
    parser.add_argument("--history", default=None, metavar="INTERACTIONS",
                        help="interactions table (user_id, item_id; optional timestamp, rating or weight) of users "
                             "the model does not know, or newer ones of known users: folded in, no retraining")


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


# -- validation (data validate, demo) ---------------------------------------------
#: image problems listed one by one; the rest are counted
MAX_PROBLEMS_SHOWN = 20


def validate(path, positive_threshold=DEFAULT_POSITIVE_THRESHOLD, max_pixels=DEFAULT_MAX_PIXELS):
    """Load and check a dataset; returns ``(dataset, image_report)``."""
    dataset = load_dataset(path, positive_threshold=positive_threshold)
    report = check_images(dataset.item_ids, dataset.image_paths(), dataset.root, max_pixels=max_pixels)
    return dataset, report


def format_report(dataset, report) -> str:
    s = dataset.summary()
    no_image = report.n_items - report.n_usable
    reasons = ", ".join(f"{reason}: {n:,}" for reason, n in report.unusable.most_common())
    converted = ", ".join(f"{mode}: {n:,}" for mode, n in report.converted.most_common()) or "none"
    lines = [
        f"Dataset {s['name']} ({s['layout']} layout) at {s['root']}",
        f"  users                    {s['users']:>10,}",
        f"  items                    {s['items']:>10,}",
        f"    with interactions      {s['items_with_interactions']:>10,}",
        f"    with a usable image    {report.n_usable:>10,}",
        f"    without a usable image {no_image:>10,}" + (f"  ({reasons})" if reasons else ""),
        f"  interactions             {s['interactions']:>10,}",
        f"  positives                {s['positives']:>10,}  ({s['positive_rule']})",
        f"  timestamps               {'yes' if s['has_timestamps'] else 'no':>10}",
        f"  images converted to RGB  {sum(report.converted.values()):>10,}  ({converted})",
        f"  problems found           {len(report.problems) + len(dataset.warnings):>10,}",
    ]
    for warning in dataset.warnings:
        lines.append(f"  warning: {warning}")
    for item_id, reason, detail in report.problems[:MAX_PROBLEMS_SHOWN]:
        lines.append(f"  image problem: item {item_id!r}: {reason} ({detail})")
    if len(report.problems) > MAX_PROBLEMS_SHOWN:
        lines.append(f"  ... and {len(report.problems) - MAX_PROBLEMS_SHOWN} more image problems")
    return "\n".join(lines)


# -- the evaluation job (evaluate, demo) ---------------------------------------------
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
    from pipelines import tracked
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
    tracked.log_inputs(config, dataset)
    tracked.log_training(models["hybrid"])
    tracked.log_evaluation(results, table, main_model="hybrid")
    tracked.log_gallery(split, models["hybrid"])
    tracked.log_embeddings(dataset.item_ids, embedded.vectors, embedded.has_image)
    return results, table, split, models, embedded
