"""The ``recsys`` command. Each subcommand lives in its own pipelines module
with ``add_arguments(parser)`` and ``run(args) -> exit code``."""

from __future__ import annotations

import argparse
import os
import sys

from recsys.data import DataError, ImageError

# bad input is reported in one line and a non-zero exit, never a traceback
USER_ERRORS = (DataError, ImageError, KeyError, ValueError, FileNotFoundError, FileExistsError, ConnectionError)


def build_parser() -> argparse.ArgumentParser:
    from pipelines import (batch_recommend, demo, embed, evaluate, models, recommend, score_new_items, train,
                           validate)

    parser = argparse.ArgumentParser(prog="recsys", description="CNN-powered hybrid recommender.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = commands.add_parser("data", help="dataset tools").add_subparsers(dest="data_command", required=True,
                                                                            metavar="SUBCOMMAND")
    validate.add_arguments(data.add_parser("validate", help="check a dataset folder and print a summary"))
    data.choices["validate"].set_defaults(handler=validate.run)

    for name, module, text in [
        ("embed", embed, "embed item images with a CNN (incremental)"),
        ("train", train, "fit the hybrid model on a dataset and save a model directory"),
        ("recommend", recommend, "top-K items per user from a model directory, to Parquet"),
        ("evaluate", evaluate, "warm and cold metrics of the hybrid and every baseline"),
        ("batch-recommend", batch_recommend, "top-K for every user, in chunks, to Parquet parts"),
        ("score-new-items", score_new_items, "score new items from their photos: users, per-user top-K, similar"),
        ("models", models, "model registry tools"),
    ]:
        sub = commands.add_parser(name, help=text)
        module.add_arguments(sub)
        sub.set_defaults(handler=module.run)

    sub = commands.add_parser("demo", help="generate the demo shop and run the whole flow on it")
    demo.add_arguments(sub)
    sub.set_defaults(handler=demo.run)
    return parser


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of reports
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except USER_ERRORS as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"recsys {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"recsys {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
