"""``recsys demo``: generate the demo shop, validate it, embed, evaluate the hybrid
and every baseline, train the hybrid on every interaction, recommend, and log it
all as one MLflow run."""

from __future__ import annotations

from pathlib import Path

from pipelines import run_logging
from pipelines.arguments import add_overwrite_argument
from pipelines.comparison import evaluate_dataset, evaluation_report, photo_signal_report, warn_thin_segments
from pipelines.inputs import format_report, validate
from pipelines.config import RunConfig
from pipelines.training import fit_bundle
from recsys import tracking
from recsys.data.demo import DemoConfig, write_demo
from recsys.scoring import new_items
from recsys.vision.config import EncoderConfig

DEFAULT_DEMO_PATH = Path("data/demo")
#: offline on any machine: a compact CNN from scratch, no pretrained download
DEMO_ENCODER = EncoderConfig("compact_cnn", image_size=64, weights=None)


def add_arguments(parser):
    parser.add_argument("--path", type=Path, default=DEFAULT_DEMO_PATH, help="where the demo dataset is written")
    add_overwrite_argument(parser, "--path")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated shop")
    parser.add_argument("--experiment", default="recsys-demo", help="MLflow experiment name")


def run(args) -> int:
    from recsys.vision import ImageEncoder

    tracking.connect(args.experiment)
    path = write_demo(args.path, DemoConfig(seed=args.seed), overwrite=args.overwrite)
    print(f"Demo dataset ready at {path}\n")
    dataset, report = validate(path)
    print(format_report(dataset, report) + "\n")
    config = RunConfig(encoder=DEMO_ENCODER)
    encoder = ImageEncoder(config.encoder)
    with tracking.start_run("demo", run_name="demo") as run:
        results, _, split, models, embedded, intervals, signal = evaluate_dataset(dataset, config, encoder)
        print("\nWarm, cold and whole-catalog metrics (temporal warm holdout; 20% of items held out cold; "
              "all: known and held-out items ranked together, new_share: held-out items' share of the top K):\n")
        print(evaluation_report(results, intervals, config.ks))
        print(f"\n{photo_signal_report(signal, max(config.ks))}")
        warn_thin_segments(intervals)
        # the logged model, and the example below, learn from every interaction
        bundle, _ = fit_bundle(dataset, config, encoder, embedded, {"trained_on": "every interaction"})
        model = bundle.model
        info = run_logging.log_bundle(bundle)
    user = dataset.user_ids[0]
    recs = model.recommend([user], k=5, mark_new=True)
    print(f"\nTop 5 for {user}, as the nightly job ranks them: the {int(new_items(model).sum())} arrivals without "
          f"interactions ranked with the known items (model trained on every interaction; items {user} has "
          "are left out):")
    print(recs.to_string(index=False))
    print(f"\n{tracking.run_line(run)}; model: {info.model_uri}")
    print(f"See it with: {tracking.ui_command(tracking.shown_uri())}")
    return 0
