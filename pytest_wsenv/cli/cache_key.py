"""``pytest-wsenv cache-key``: one key for the environments a test run will use.

The key is a digest of the env keys (see :mod:`pytest_wsenv.envs.spec`) of every selected
member run, so it changes exactly when one of those environments would be rebuilt: a
pin of its closure, its interpreter, a member pyproject it installs, the installer or
the env format. The selection flags are pytest's (``--ws-package``, ``--ws-extra``,
``--ws-python`` ...), also spelled without ``ws-``, so a CI job can pass the same
``args`` the matrix gives to pytest.

The ``wsenv_*`` ini settings apply as in the run: pytest itself reads its configuration
(``pytest.ini``, ``pyproject.toml``, ``tox.ini``, ``setup.cfg``, ``addopts``,
``PYTEST_ADDOPTS``) for the directory, with the flags given here on its command line,
and is stopped before its session starts; no ``conftest.py`` is imported. The lock must
be fresh, as for ``pytest --ws-isolated``.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version

from ..config import WsConfig
from ..envs.cache import resolve_cache_dir
from ..envs.interpreters import find_interpreter
from ..envs.manager import EnvManager
from ..errors import ConfigError, WsenvError
from ..lock import Lock
from ..selection import Request, select_runs
from ..workspace import Workspace

__all__ = ["derive_key", "read_settings", "register"]


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
        default=None,
        help="Installer, as --ws-backend (default: the wsenv_backend ini key, else auto)",
    )
    many("with", "REQ", "As --ws-with (repeatable)")
    many("no-install-package", "NAME", "As --ws-no-install-package (repeatable)")
    parser.add_argument(
        "--with-requirements",
        action="append",
        default=[],
        metavar="FILE",
        help="As a line of the wsenv_with_requirements ini key, which it replaces (repeatable)",
    )
    parser.add_argument(
        "--test-group",
        default=None,
        help="As the wsenv_test_group ini key, which it replaces (default: the ini key, else dev)",
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


class _SettingsReader:
    """A pytest plugin: keeps the settings pytest reads and ends pytest before its session."""

    def __init__(self) -> None:
        self.settings: WsConfig | None = None
        self.error: WsenvError | None = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_cmdline_main(self, config: pytest.Config) -> int:
        try:
            self.settings = WsConfig.from_pytest(config)
        except WsenvError as exc:
            self.error = exc
        return 0


def _pytest_args(args: argparse.Namespace) -> list[str]:
    """The flags given to cache-key, as pytest's own options."""
    argv: list[str] = []
    for dest, option in (
        ("packages", "--ws-package"),
        ("extras", "--ws-extra"),
        ("groups", "--ws-group"),
        ("pythons", "--ws-python"),
        ("withs", "--ws-with"),
        ("no_install_packages", "--ws-no-install-package"),
    ):
        for value in getattr(args, dest):
            argv.append(f"{option}={value}")
    if args.all_extras:
        argv.append("--ws-all-extras")
    if args.no_default_groups:
        argv.append("--ws-no-default-groups")
    if args.backend:
        argv.append(f"--ws-backend={args.backend}")
    return argv


def read_settings(directory: Path, argv: list[str]) -> WsConfig:
    """What ``pytest <argv>`` run in ``directory`` reads of pytest-wsenv's settings.

    pytest finds and reads its configuration file as for a run in ``directory`` (given as
    its only path) and stops before collecting; ``conftest.py`` files are not imported.
    """
    reader = _SettingsReader()
    code = pytest.main([*argv, "--noconftest", str(directory)], [reader])
    if reader.error is not None:
        raise reader.error
    if reader.settings is None:
        raise ConfigError(
            f"pytest could not read its configuration for {directory} (exit code {int(code)}, "
            "see above)"
        )
    return reader.settings


def _run(args: argparse.Namespace) -> int:
    directory = Path(args.directory).resolve()
    workspace = Workspace.discover(directory)
    lock = Lock.for_workspace(workspace)  # a stale lock is an error here, as in the run
    settings = read_settings(directory, _pytest_args(args))
    manager = EnvManager(
        workspace,
        lock,
        cache_dir=resolve_cache_dir(workspace.root, args.cache_dir, settings.cache_dir_ini),
        backend=settings.backend,
        with_reqs=settings.with_reqs,
        with_requirement_files=args.with_requirements or settings.with_requirement_files,
        test_group=args.test_group or settings.test_group,
        strict_runner=settings.strict_runner,
        no_install=frozenset(settings.no_install),
        log=lambda line: print(line, file=sys.stderr),
    )
    request = Request(
        packages=settings.packages or tuple(workspace.members),
        extras=settings.extras,
        all_extras=settings.all_extras,
        groups=settings.groups,
        no_default_groups=settings.no_default_groups,
        pythons=settings.pythons or (None,),
    )
    runs = select_runs(workspace, [], workspace.root, request, explicit_args=False)
    keys: list[str] = []
    platform = ""
    for run in runs:
        # interpreter facts are not cached under cache_dir: it may not be restored yet
        interpreter = find_interpreter(run.python)
        platform = platform or interpreter.platform
        member = workspace.members.get(run.member)
        version = Version(interpreter.version)
        if any(
            spec is not None and not spec.contains(version, prereleases=True)
            for spec in (member.requires_python if member else None, workspace.requires_python)
        ):
            continue  # the run skips it: requires-python excludes this interpreter
        spec = manager.spec_for(run.target, interpreter)
        keys.append(spec.key)
        if args.verbose:
            print(f"pytest-wsenv: {spec.name} {spec.key}", file=sys.stderr)
    print(derive_key(keys, prefix=args.prefix, platform=platform or "none"))
    return 0
