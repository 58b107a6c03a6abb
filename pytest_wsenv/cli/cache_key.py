"""``pytest-wsenv cache-key``: one key for the environments a test run will use.

The key is a digest of the env keys (see :mod:`pytest_wsenv.envs.spec`) of every selected
member run, so it changes exactly when one of those environments would be rebuilt: a
pin of its closure, its interpreter, a member pyproject it installs, the installer or
the env format. The selection flags are pytest's (``--ws-package``, ``--ws-extra``,
``--ws-python`` ...), also spelled without ``ws-``, so a CI job can pass the same
``args`` the matrix gives to pytest.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

from ..envs.backends import BackendChoice
from ..envs.cache import resolve_cache_dir
from ..envs.interpreters import find_interpreter
from ..envs.manager import EnvManager
from ..lock import Lock
from ..selection import Request, select_runs
from ..workspace import Workspace

__all__ = ["derive_key", "register"]


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "cache-key",
        help="Print a cache key for the environments of the selected members",
        description=(
            "Print a key derived from the env keys of the selected member runs, for a CI "
            "cache of the environment directory (.wsenv/)."
        ),
    )

    def many(name: str, metavar: str, help: str) -> None:
        parser.add_argument(
            f"--{name}",
            f"--ws-{name}",
            action="append",
            default=[],
            metavar=metavar,
            dest=name.replace("-", "_") + "s",
            help=help,
        )

    def flag(name: str, help: str) -> None:
        parser.add_argument(f"--{name}", f"--ws-{name}", action="store_true", help=help)

    many("package", "NAME", "A member (repeatable; default: every member)")
    many("extra", "NAME", "Install this extra where defined, as --ws-extra (repeatable)")
    flag("all-extras", "Every extra of each member, as --ws-all-extras")
    many("group", "NAME", "A dependency group, as --ws-group (repeatable)")
    flag("no-default-groups", "As --ws-no-default-groups")
    many("python", "VERSION", "Interpreter X.Y or path (repeatable; default: the running one)")
    parser.add_argument(
        "--backend",
        "--ws-backend",
        choices=("auto", "uv", "pip"),
        default="auto",
        help="Installer, as --ws-backend (default: auto)",
    )
    many("with", "REQ", "As --ws-with (repeatable)")
    many("no-install-package", "NAME", "As --ws-no-install-package (repeatable)")
    parser.add_argument(
        "--with-requirements",
        action="append",
        default=[],
        metavar="FILE",
        help="As a line of the wsenv_with_requirements ini key (repeatable)",
    )
    parser.add_argument(
        "--test-group", default="dev", help="As the wsenv_test_group ini key (default: dev)"
    )
    parser.add_argument(
        "--cache-dir",
        "--ws-cache-dir",
        metavar="DIR",
        help="The env cache directory (default: PYTEST_WSENV_CACHE_DIR or <root>/.wsenv)",
    )
    parser.add_argument("--prefix", default="wsenv", help="Start of the key (default: wsenv)")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="List each env and its key on stderr"
    )
    parser.set_defaults(func=_run)


def derive_key(env_keys: Iterable[str], *, prefix: str, platform: str) -> str:
    """``<prefix>-<platform>-<32 hex>``: a digest of the set of ``env_keys``."""
    digest = hashlib.sha256("\n".join(sorted(set(env_keys))).encode()).hexdigest()
    return f"{prefix}-{platform}-{digest[:32]}"


def _run(args: argparse.Namespace) -> int:
    workspace = Workspace.discover(Path(args.directory).resolve())
    lock = Lock.load(workspace.lock_path) if workspace.lock_path.exists() else None
    manager = EnvManager(
        workspace,
        lock,
        cache_dir=resolve_cache_dir(workspace.root, args.cache_dir),
        backend=cast(BackendChoice, args.backend),
        with_reqs=args.withs,
        with_requirement_files=args.with_requirements,
        test_group=args.test_group,
        no_install=frozenset(args.no_install_packages),
        log=lambda line: print(line, file=sys.stderr),
    )
    request = Request(
        packages=tuple(args.packages) or tuple(workspace.members),
        extras=tuple(args.extras),
        all_extras=args.all_extras,
        groups=tuple(args.groups),
        no_default_groups=args.no_default_groups,
        pythons=tuple(args.pythons) or (None,),
    )
    runs = select_runs(workspace, [], workspace.root, request, explicit_args=False)
    keys: list[str] = []
    platform = ""
    for run in runs:
        # interpreter facts are not cached under cache_dir: it may not be restored yet
        interpreter = find_interpreter(run.python)
        platform = platform or interpreter.platform
        spec = manager.spec_for(run.target, interpreter)
        keys.append(spec.key)
        if args.verbose:
            print(f"pytest-wsenv: {spec.name} {spec.key}", file=sys.stderr)
    print(derive_key(keys, prefix=args.prefix, platform=platform or "none"))
    return 0
