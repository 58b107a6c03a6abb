"""``pytest-wsenv members``: the workspace members as pytest-wsenv sees them.

The answer is the same from any directory inside the workspace (``-C`` picks the start).
Extras and workspace dependencies a member declares dynamically (``[project] dynamic``)
are read from ``uv.lock`` when there is one.

Text output, one line per member sorted by name, columns aligned with spaces::

    NAME  PATH  extras=E1,E2  groups=G1,G2  deps=M1,M2

``PATH`` is POSIX and relative to the workspace root (``.`` for the root member); an
empty list prints as nothing after ``=``.

``--json`` prints one object (schema version 1)::

    {
      "schema": 1,
      "root": "/abs/path/of/the/workspace/root",
      "kind": "explicit" | "virtual" | "single",
      "requires_python": ">=3.10",          # intersection of the members', simplified
                                            # ("" if none)
      "members": [                          # sorted by name
        {
          "name": "bird-feeder",            # normalized
          "path": "packages/bird-feeder",   # POSIX, relative to root, "." for the root
          "is_root": false,
          "package": true,                  # false: uv installs only its dependencies
          "extras": ["torch"],              # sorted, normalized
          "groups": ["dev"],                # sorted, normalized
          "default_groups": ["dev"],        # or the string "all"
          "workspace_deps": ["seeds"],      # direct, sorted
          "requires_python": ">=3.12"       # or null
        }
      ]
    }
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from packaging.specifiers import Specifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from ..errors import LockError
from ..lock import Lock
from ..workspace import Member, Workspace

__all__ = [
    "SCHEMA_VERSION",
    "member_record",
    "register",
    "simplified",
    "with_lock_metadata",
    "workspace_record",
]

SCHEMA_VERSION = 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "members",
        help="List the workspace members",
        description="List the members of the workspace containing the start directory.",
    )
    parser.add_argument(
        "--json", action="store_true", dest="as_json", help="Print JSON instead of text"
    )
    parser.set_defaults(func=_run)


def with_lock_metadata(workspace: Workspace) -> Workspace:
    """``workspace`` with dynamically declared extras and workspace dependencies read from
    its ``uv.lock`` (:meth:`~pytest_wsenv.lock.Lock.fill_dynamic`); unchanged without a
    readable lock."""
    if not workspace.lock_path.is_file():
        return workspace
    try:
        return Lock.load(workspace.lock_path).fill_dynamic(workspace)
    except LockError:
        return workspace


def simplified(spec: SpecifierSet | None) -> str | None:
    """``spec`` with redundant bounds dropped: ``>=3.9,>=3.11,<4`` -> ``>=3.11,<4``."""
    if spec is None:
        return None
    lower: Specifier | None = None
    upper: Specifier | None = None
    rest: list[str] = []
    for item in spec:
        try:
            version = Version(item.version)
        except InvalidVersion:
            rest.append(str(item))
            continue
        if item.operator in (">=", ">"):
            if lower is None or (version, item.operator == ">") > (
                Version(lower.version),
                lower.operator == ">",
            ):
                lower = item
        elif item.operator in ("<=", "<"):
            if upper is None or (version, item.operator == "<=") < (
                Version(upper.version),
                upper.operator == "<=",
            ):
                upper = item
        else:
            rest.append(str(item))
    kept = [str(s) for s in (lower, upper) if s is not None] + sorted(set(rest))
    return ",".join(kept)


def _relative(member: Member, workspace: Workspace) -> str:
    return Path(os.path.relpath(member.path, workspace.root)).as_posix()


def member_record(member: Member, workspace: Workspace) -> dict[str, Any]:
    """The JSON object for one member (see the module docstring)."""
    return {
        "name": member.name,
        "path": _relative(member, workspace),
        "is_root": member.is_root,
        "package": member.package,
        "extras": sorted(member.extras),
        "groups": sorted(member.groups),
        "default_groups": (
            member.default_groups
            if isinstance(member.default_groups, str)
            else list(member.default_groups)
        ),
        "workspace_deps": sorted(member.workspace_deps),
        "requires_python": simplified(member.requires_python),
    }


def workspace_record(workspace: Workspace) -> dict[str, Any]:
    """The whole ``--json`` document (see the module docstring)."""
    return {
        "schema": SCHEMA_VERSION,
        "root": str(workspace.root),
        "kind": workspace.kind,
        "requires_python": simplified(workspace.requires_python) or "",
        "members": [member_record(m, workspace) for m in workspace.members.values()],
    }


def _text_lines(workspace: Workspace) -> list[str]:
    rows = [
        (
            member.name,
            _relative(member, workspace),
            "extras=" + ",".join(sorted(member.extras)),
            "groups=" + ",".join(sorted(member.groups)),
            "deps=" + ",".join(sorted(member.workspace_deps)),
        )
        for member in sorted(workspace.members.values(), key=lambda m: m.name)
    ]
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    ]


def _run(args: argparse.Namespace) -> int:
    workspace = with_lock_metadata(Workspace.discover(Path(args.directory)))
    if args.as_json:
        print(json.dumps(workspace_record(workspace), indent=2))
    else:
        for line in _text_lines(workspace):
            print(line)
    return 0
