"""``pytest-wsenv members``: the workspace members as pytest-wsenv sees them.

The answer is the same from any directory inside the workspace (``-C`` picks the start).

Text output, one line per member sorted by name, columns aligned with spaces::

    NAME  PATH  extras=E1,E2  groups=G1,G2  deps=M1,M2

``PATH`` is POSIX and relative to the workspace root (``.`` for the root member); an
empty list prints as nothing after ``=``.

``--json`` prints one object (schema version 1)::

    {
      "schema": 1,
      "root": "/abs/path/of/the/workspace/root",
      "kind": "explicit" | "virtual" | "single",
      "requires_python": ">=3.10",          # intersection of the members' ("" if none)
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

from ..workspace import Member, Workspace

__all__ = ["SCHEMA_VERSION", "member_record", "register", "workspace_record"]

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
        "requires_python": (
            str(member.requires_python) if member.requires_python is not None else None
        ),
    }


def workspace_record(workspace: Workspace) -> dict[str, Any]:
    """The whole ``--json`` document (see the module docstring)."""
    return {
        "schema": SCHEMA_VERSION,
        "root": str(workspace.root),
        "kind": workspace.kind,
        "requires_python": str(workspace.requires_python),
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
    workspace = Workspace.discover(Path(args.directory))
    if args.as_json:
        print(json.dumps(workspace_record(workspace), indent=2))
    else:
        for line in _text_lines(workspace):
            print(line)
    return 0
