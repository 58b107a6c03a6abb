"""``pytest-wsenv check-imports``: the static half of ``--ws-check-imports``, without tests.

Scans each member's source and test files and compares their imports with what the
member's isolated environment would hold (``uv.lock`` closure, default groups, the test
group, the runner), resolving modules to distributions through the workspace's shared
``.venv`` when there is one. Output: one line per finding (see
:mod:`pytest_wsenv.audit.report`), or ``--json``.

Exit codes: 0 when every import is available in its member's environment (transitive-only
imports and skipping tests are warnings), 1 when an import would fail there, 2 for
errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from ..audit.check import AuditRequest, ImportAudit
from ..audit.report import json_document, text_lines
from ..errors import WsenvError
from ..lock import Lock
from ..workspace import Workspace

__all__ = ["main", "register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "check-imports",
        help="Find imports that only work in the shared .venv (static, no tests run)",
        description="List the imports of each member that its own isolated environment "
        "would not satisfy: undeclared distributions, tests that would skip, and "
        "transitive-only imports.",
    )
    parser.add_argument(
        "--json", action="store_true", dest="as_json", help="Print JSON instead of text"
    )
    parser.add_argument(
        "--package",
        action="append",
        default=[],
        metavar="NAME",
        help="Check only this member (repeatable; default: every member)",
    )
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="NAME",
        help="Count this extra as requested, like --ws-extra (repeatable)",
    )
    parser.add_argument("--all-extras", action="store_true", help="Count every extra as requested")
    parser.add_argument(
        "--group",
        action="append",
        default=[],
        metavar="NAME",
        help="Count this dependency group as installed, like --ws-group (repeatable)",
    )
    parser.add_argument(
        "--no-default-groups",
        action="store_true",
        help="Do not count the members' default dependency groups",
    )
    parser.add_argument(
        "--test-group",
        default="dev",
        metavar="NAME",
        help="The workspace root's group whose test tooling every member gets (default: dev)",
    )
    parser.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="Also list suppressed findings and modules no distribution provides",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    workspace = Workspace.discover(Path(args.directory))
    lock = Lock.for_workspace(workspace)
    request = AuditRequest(
        extras=tuple(args.extra),
        all_extras=args.all_extras,
        groups=tuple(args.group),
        no_default_groups=args.no_default_groups,
        test_group=args.test_group,
    )
    audit = ImportAudit(workspace, lock, request=request)
    members = [workspace.member(p).name for p in args.package] or None
    result = audit.run(members)
    if args.as_json:
        print(json.dumps(json_document(result, str(workspace.root)), indent=2))
    else:
        for line in text_lines(result, verbose=args.verbose):
            print(line)
    return 1 if result.failed else 0


def main(argv: Sequence[str]) -> int:
    """``pytest-wsenv [-C DIR] check-imports ...`` with only this subcommand registered."""
    parser = argparse.ArgumentParser(prog="pytest-wsenv")
    parser.add_argument("--directory", "-C", default=".")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(list(argv))
    try:
        return int(args.func(args))
    except WsenvError as exc:
        print(f"pytest-wsenv: error: {exc}", file=sys.stderr)
        return 2
