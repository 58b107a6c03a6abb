"""``pytest-wsenv`` / ``python -m pytest_wsenv``: inspection and CI helpers.

Each subcommand lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable taking
the parsed namespace and returning an exit code. Errors derived from
:class:`~pytest_wsenv.errors.WsenvError` become one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ..errors import WsenvError

__all__ = ["main"]

#: Subcommand modules, in the order ``--help`` lists them.
_COMMANDS = ("members", "closure", "envs", "matrix", "cache_key", "combine", "check_imports")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pytest-wsenv",
        description="Inspect a uv workspace the way pytest-wsenv sees it.",
    )
    parser.add_argument(
        "--directory",
        "-C",
        default=".",
        help="Start looking for the workspace here (default: current directory)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _COMMANDS:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:  # a subcommand not written yet
            if exc.name != f"{__name__}.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except WsenvError as exc:
        print(f"pytest-wsenv: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pytest-wsenv: interrupted", file=sys.stderr)
        return 130
