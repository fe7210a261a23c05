"""The ``recsys`` command. Each subcommand lives in its own pipelines module
with ``add_arguments(parser)`` and ``run(args) -> exit code``."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from recsys.data import DataError, ImageError

# bad input is reported in one line and a non-zero exit, never a traceback
USER_ERRORS = (DataError, ImageError, KeyError, ValueError, FileNotFoundError, FileExistsError, ConnectionError)


#: command -> (pipelines module, help); modules are imported only for the command
#: being run, so `recsys data validate` does not pay for TensorFlow and MLflow
COMMANDS = {
    "embed": ("embed", "embed item images with a CNN (incremental)"),
    "train": ("train", "fit the hybrid model on a dataset and save a model directory"),
    "recommend": ("recommend", "top-K items per user from a model directory, to Parquet"),
    "evaluate": ("evaluate", "warm and cold metrics of the hybrid and every baseline"),
    "batch-recommend": ("batch_recommend", "top-K for every user, in chunks, to Parquet parts"),
    "score-new-items": ("score_new_items", "score new items from their photos: users, per-user top-K, similar"),
    "models": ("models", "model registry tools"),
    "demo": ("demo", "generate the demo shop and run the whole flow on it"),
}


def _attach(parser, module_name: str) -> None:
    module = importlib.import_module(f"pipelines.{module_name}")
    module.add_arguments(parser)
    parser.set_defaults(handler=module.run)


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """The parser; only the ``selected`` command's module and arguments are loaded
    (``recsys --help`` lists the commands without importing any)."""
    parser = argparse.ArgumentParser(prog="recsys", description="CNN-powered hybrid recommender.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = commands.add_parser("data", help="dataset tools").add_subparsers(dest="data_command", required=True,
                                                                            metavar="SUBCOMMAND")
    validate = data.add_parser("validate", help="check a dataset folder and print a summary")
    if selected == "data":
        _attach(validate, "validate")
    for name, (module_name, text) in COMMANDS.items():
        sub = commands.add_parser(name, help=text)
        if selected == name:
            _attach(sub, module_name)
    return parser


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of reports
    argv = sys.argv[1:] if argv is None else list(argv)
    selected = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(selected).parse_args(argv)
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
