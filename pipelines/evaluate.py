"""``recsys evaluate DATASET [--config FILE]``: the evaluation protocol for the
hybrid and every baseline, one table."""

from __future__ import annotations

from pipelines.comparison import evaluate_dataset, evaluation_report, photo_signal_report, warn_thin_segments
from pipelines.config import add_encoder_arguments, run_config
from recsys import tracking
from recsys.data import load_dataset


def add_arguments(parser):
    parser.add_argument("dataset", help="dataset folder")
    parser.add_argument("--config", default=None, help="run config (.json, .yaml or .toml)")
    parser.add_argument("--experiment", default=tracking.DEFAULT_EXPERIMENT, help="MLflow experiment name")
    add_encoder_arguments(parser)


def run(args) -> int:
    config = run_config(args)
    tracking.connect(args.experiment)
    dataset = load_dataset(args.dataset, positive_threshold=config.positive_threshold)
    from recsys.vision import ImageEncoder

    encoder = ImageEncoder(config.encoder)  # missing ImageNet weights fail here, before any run
    with tracking.start_run("evaluate", run_name=f"evaluate {dataset.name}") as run:
        results, _, split, *_, intervals, signal = evaluate_dataset(dataset, config, encoder)
    print(tracking.run_line(run))
    d = split.describe()
    how = (f"cutoff {config.split.at or 'last ' + str(config.split.last)}" if config.split.kind == "cutoff"
           else f"{config.split.warm} holdout")
    print(f"\n{dataset.name} ({how}): warm test {d['warm_test_positives']:,} positives, "
          f"cold test {d['cold_test_positives']:,} positives on {d['cold_items']:,} cold items"
          + (f", new users {d['new_users']:,} (folded in from their first {config.split.new_user_history} "
             f"positives; {d['new_user_test_positives']:,} test positives)" if d["new_users"] else ""))
    print(evaluation_report(results, intervals, config.ks))
    print(f"\n{photo_signal_report(signal, max(config.ks))}")
    warn_thin_segments(intervals)
    return 0
