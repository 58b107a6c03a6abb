"""``pytest-wsenv closure``: what one target installs, read from ``uv.lock`` without uv.

Takes the target flags of ``uv export`` (``--package``, ``--all-packages``, ``--extra``,
``--all-extras``, ``--group``, ``--only-group``, ``--all-groups``, ``--no-dev``,
``--no-default-groups``) and ``--python`` (a version such as ``3.12`` or an interpreter
path; default: the running interpreter), whose marker environment decides the markers.
The lock must be fresh (match every member's ``pyproject.toml``).

``--tooling`` adds what an isolated run adds to a member's closure: pytest and the
``pytest-*`` plugins of the workspace root's ``dev`` group (``--test-group``) with their
locked dependencies, each marked ``# test tooling: ...`` (``"tooling": true`` in JSON).
Without it the output equals ``uv export --frozen``.

``--format requirements`` (default) prints one line per package, sorted by name:
``name==version`` for registry packages, ``name @ url`` for git/url/path sources, and
``-e ./path`` (relative to the workspace root, as ``uv export`` writes it) for
editables. ``--format json`` prints::

    {
      "python": "3.12.1",                    # python_full_version of the marker env
      "packages": [                          # sorted by name
        {
          "name": "anyio",
          "version": "4.10.0",               # or null
          "source_kind": "registry",         # registry|editable|virtual|directory|path|git|url
          "source": "https://pypi.org/simple",
          "editable": false,
          "hashes": ["sha256:..."]
        }
      ]
    }
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path, PurePosixPath
from typing import Any

from ..envs.interpreters import marker_env_for
from ..envs.layers import is_tooling
from ..errors import LockError, SelectionError
from ..lock import Closure, Lock, Pin
from ..target import Target
from ..workspace import Workspace

__all__ = ["register", "requirement_line", "target_from_args"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "closure",
        help="Print the exact install set of a target, read from uv.lock",
        description=(
            "Print what a target (members, extras, groups) installs for one interpreter, "
            "computed from uv.lock like `uv export --frozen`."
        ),
    )
    add = parser.add_argument
    add("--package", action="append", default=[], metavar="NAME", help="Export this member")
    add("--all-packages", action="store_true", help="Export every workspace member")
    add("--extra", action="append", default=[], metavar="EXTRA", help="Include this extra")
    add("--all-extras", action="store_true", help="Include every extra")
    add("--group", action="append", default=[], metavar="GROUP", help="Include this group")
    add(
        "--only-group",
        action="append",
        default=[],
        metavar="GROUP",
        help="Only this group, without the project's dependencies",
    )
    add("--all-groups", action="store_true", help="Include every dependency group")
    add("--no-dev", action="store_true", help="Leave out the dev group")
    add("--no-default-groups", action="store_true", help="Leave out the default groups")
    add(
        "--python",
        metavar="VERSION_OR_PATH",
        help="Evaluate markers for this interpreter (default: the running one)",
    )
    add(
        "--tooling",
        action="store_true",
        help="Add the test tooling an isolated run adds: pytest and the pytest-* plugins of "
        "the workspace root's dev group with their locked dependencies (marked "
        "`# test tooling`)",
    )
    add(
        "--test-group",
        default="dev",
        metavar="GROUP",
        help="With --tooling: the root's group holding the tooling, as the wsenv_test_group "
        "ini key (default: dev)",
    )
    add(
        "--format",
        choices=("requirements", "json"),
        default="requirements",
        help="Output format (default: requirements)",
    )
    parser.set_defaults(func=_run)


#: Flags ``uv export`` refuses to combine, with the same wording.
_CONFLICTS = (
    ("package", "all_packages"),
    ("extra", "all_extras"),
    ("group", "only_group"),
    ("all_groups", "only_group"),
)


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def target_from_args(args: argparse.Namespace) -> Target:
    """The :class:`Target` the flags describe; SelectionError for combinations uv refuses."""
    for left, right in _CONFLICTS:
        if getattr(args, left) and getattr(args, right):
            raise SelectionError(f"{_flag(left)} cannot be used with {_flag(right)}")
    return Target(
        packages=tuple(args.package),
        all_packages=args.all_packages,
        extras=tuple(args.extra),
        all_extras=args.all_extras,
        groups=tuple(args.group),
        only_groups=tuple(args.only_group),
        all_groups=args.all_groups,
        no_dev=args.no_dev,
        no_default_groups=args.no_default_groups,
    )


def requirement_line(pin: Pin, root: Path) -> str:
    """One requirements line: ``-e ./relative`` for editables, else ``Pin.requirement``."""
    if pin.editable:
        path = PurePosixPath(pin.source.replace("\\", "/"))
        if path.is_absolute() or path.parts[:1] == ("..",):
            return f"-e {path}"
        return "-e ." if str(path) == "." else f"-e ./{path}"
    return pin.requirement(root)


def _json(closure: Closure, python: str) -> dict[str, Any]:
    return {
        "python": python,
        "packages": [
            {
                "name": pin.name,
                "version": pin.version,
                "source_kind": pin.source_kind,
                "source": pin.source,
                "editable": pin.editable,
                "hashes": list(pin.hashes),
            }
            for pin in closure.pins
        ],
    }


def _run(args: argparse.Namespace) -> int:
    target = target_from_args(args)
    workspace = Workspace.discover(Path(args.directory))
    lock = Lock.for_workspace(workspace)
    if lock is None:
        raise LockError(
            f"there is no uv.lock in {workspace.root} to read the closure from; "
            "run `uv lock` in the workspace root first"
        )
    env = marker_env_for(args.python)
    closure = lock.closure(workspace, target, env)
    tooling = Closure(())
    if args.tooling:
        tooling = lock.picked_closure(
            workspace, args.test_group, env, pick=is_tooling, stop=closure.names()
        )
    pins = sorted((*closure.pins, *tooling.pins), key=lambda pin: pin.name)
    added = tooling.names()
    if args.format == "json":
        document = _json(Closure(tuple(pins)), env.python_full_version)
        if args.tooling:
            for record in document["packages"]:
                record["tooling"] = record["name"] in added
        print(json.dumps(document, indent=2))
    else:
        for pin in pins:
            line = requirement_line(pin, workspace.root)
            if pin.name in added:
                line += f"  # test tooling: the workspace root's group {args.test_group!r}"
            print(line)
    return 0
