"""``recsys models set-alias NAME ALIAS VERSION``: point a registry alias at a version."""

from __future__ import annotations

from recsys import tracking


def add_arguments(parser):
    sub = parser.add_subparsers(dest="models_command", required=True, metavar="SUBCOMMAND")
    alias = sub.add_parser("set-alias", help="set a registry alias (e.g. champion) to a model version")
    alias.add_argument("name", help="registered model name")
    alias.add_argument("alias", help="alias, e.g. champion")
    alias.add_argument("version", help="model version number")


def run(args) -> int:
    tracking.connect()
    tracking.set_alias(args.name, args.alias, args.version)
    print(f"models:/{args.name}@{args.alias} -> version {args.version}")
    return 0
