"""Command-line arguments several commands share."""

from __future__ import annotations

import errno
import socket

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


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


def add_history_arguments(parser, data_help: str) -> None:
    parser.add_argument("--data", default=None, metavar="DATASET", help=data_help)
    parser.add_argument("--history", default=None, metavar="INTERACTIONS",
                        help="interactions table (user_id, item_id; optional timestamp, rating or weight) of users "
                             "the model does not know, or newer ones of known users: folded in, no retraining")


def add_server_arguments(parser, port: int) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on; anything but loopback shows the model to your network")
    parser.add_argument("--port", type=int, default=port, help="port to listen on")


def check_port(host: str, port: int) -> None:
    """Fail before loading anything when the address cannot be served."""
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ValueError(f"--port {port}: {host}:{port} is already in use; pick another port") from None
        raise ValueError(f"--host {host} --port {port}: cannot listen there ({exc.strerror or exc})") from None
