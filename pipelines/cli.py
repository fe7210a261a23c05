"""The ``recsys`` command. Each subcommand lives in its own pipelines module
with ``add_arguments(parser)`` and ``run(args) -> exit code``."""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import signal
import sys
import threading

from recsys import quiet
from recsys.data import DataError, ImageError

# bad input is reported in one line and a non-zero exit, never a traceback
USER_ERRORS = (DataError, ImageError, KeyError, ValueError, FileNotFoundError, FileExistsError, ConnectionError)


#: command -> (pipelines module, help); modules are imported only for the command
#: being run, and none imports TensorFlow at the top, so `--help` and
#: `recsys data validate` never load it
COMMANDS = {
    "embed": ("embed", "embed item images with a CNN (incremental)"),
    "train": ("train", "fit the hybrid model on a dataset and save a model directory"),
    "recommend": ("recommend", "top-K items per user from a model directory, to Parquet"),
    "evaluate": ("evaluate", "warm and cold metrics of the hybrid and every baseline"),
    "batch-recommend": ("batch_recommend", "top-K for every user, in chunks, to Parquet parts"),
    "score-new-items": ("score_new_items", "score new items from their photos: users, per-user top-K, similar"),
    "browse": ("browse", "a local web explorer of the recommendations, with the photos"),
    "serve": ("serve", "the logged model over HTTP, as `mlflow models serve` answers, with request bodies capped"),
    "models": ("models", "model registry tools"),
    "demo": ("demo", "generate the demo shop and run the whole flow on it"),
}


#: the system refusing a write or a read: the user's to fix (full disk, read-only
#: folder, no permission), so one line, not a traceback
USER_OS_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG}


class Terminated(KeyboardInterrupt):
    """SIGTERM (Kubernetes, systemd, Airflow), handled like Ctrl-C: temporary
    outputs are removed and the MLflow run ends as FAILED on the way out."""


def _on_sigterm(signum, frame):
    raise Terminated()


def user_error_message(exc: BaseException) -> str | None:
    """The one-line message for an expected failure; ``None`` for a bug."""
    if isinstance(exc, USER_ERRORS):
        return str(exc.args[0] if isinstance(exc, KeyError) and exc.args else exc)
    if isinstance(exc, OSError) and exc.errno in USER_OS_ERRORS:
        return f"{exc.filename or 'write'}: {exc.strerror}"
    if type(exc).__name__ == "MlflowException":  # the tracking store refused (read-only, full, unknown)
        return f"MLflow: {str(exc.message).strip().splitlines()[0]}"
    return None


#: commands that do not need TensorFlow
WITHOUT_TENSORFLOW = {"data", "models"}


class HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless it has none or says it itself."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.option_strings and action.default not in (None, False, argparse.SUPPRESS) \
                and "default" not in text:
            text += " (default %(default)s)"
        return text


def _attach(parser, module_name: str) -> None:
    module = importlib.import_module(f"pipelines.{module_name}")
    module.add_arguments(parser)
    parser.set_defaults(handler=module.run)


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """The parser; only the ``selected`` command's module and arguments are loaded
    (``recsys --help`` lists the commands without importing any)."""
    parser = argparse.ArgumentParser(prog="recsys", description="CNN-powered hybrid recommender.")
    parser.add_argument("--verbose", action="store_true",
                        help=f"show TensorFlow's own start-up messages (or set {quiet.VERBOSE_ENV}=1)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = commands.add_parser("data", help="dataset tools").add_subparsers(dest="data_command", required=True,
                                                                            metavar="SUBCOMMAND")
    validate = data.add_parser("validate", help="check a dataset folder and print a summary",
                               formatter_class=HelpFormatter)
    if selected == "data":
        _attach(validate, "validate")
    for name, (module_name, text) in COMMANDS.items():
        sub = commands.add_parser(name, help=text, description=text, formatter_class=HelpFormatter)
        if selected == name:
            _attach(sub, module_name)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    selected = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(selected).parse_args(argv)
    if args.verbose:
        os.environ[quiet.VERBOSE_ENV] = "1"
    if args.command not in WITHOUT_TENSORFLOW:
        quiet.load_tensorflow()
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main_thread else None
    try:
        return int(args.handler(args) or 0)
    except Terminated:
        print(f"recsys {args.command}: terminated (SIGTERM); temporary files removed", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print(f"recsys {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        message = user_error_message(exc)
        if message is None:
            raise  # a bug: keep the traceback
        from recsys.tracking import redact  # a message may quote a tracking URI: never its credentials

        print(f"recsys {args.command}: error: {redact(message)}", file=sys.stderr)
        return 2
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
