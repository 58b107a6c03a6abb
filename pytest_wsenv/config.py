"""The run's settings, from command-line options merged with ini keys, as plain data.

An option given on the command line wins over the ini key; list options given on the
command line replace the ini list (as pytest's own ``addopts`` users expect).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

import pytest

from .errors import ConfigError

__all__ = ["FOREIGN_OPTIONS", "INI_KEYS", "WsConfig", "take_foreign_options", "workspace_start"]

#: Every ini key pytest-wsenv defines. A child declares them too, so that a workspace's
#: ``wsenv_*`` settings are known keys there (``--strict-config``, ``filterwarnings = error``)
#: even where pytest-wsenv is not installed.
INI_KEYS = (
    "wsenv_isolated",
    "wsenv_packages",
    "wsenv_extras",
    "wsenv_all_extras",
    "wsenv_groups",
    "wsenv_no_default_groups",
    "wsenv_pythons",
    "wsenv_backend",
    "wsenv_cache_dir",
    "wsenv_offline",
    "wsenv_with",
    "wsenv_with_requirements",
    "wsenv_timeout",
    "wsenv_member_timeout",
    "wsenv_strict_runner",
    "wsenv_no_install_packages",
    "wsenv_test_group",
    "wsenv_no_fork",
    "wsenv_stream",
    "wsenv_max_restarts",
    "wsenv_max_idle",
)

#: Options of an isolated session that no plugin of the parent defines, one token group
#: per option (``["--timeout=5"]``, ``["--run-slow"]``, ``["-X", "v"]``), in given order.
FOREIGN_OPTIONS = pytest.StashKey[tuple[tuple[str, ...], ...]]()

BackendChoice = Literal["auto", "uv", "pip"]


@dataclass(frozen=True, slots=True)
class WsConfig:
    """Everything pytest-wsenv reads from pytest's configuration."""

    packages: tuple[str, ...]
    extras: tuple[str, ...]
    all_extras: bool
    groups: tuple[str, ...]
    no_default_groups: bool
    pythons: tuple[str, ...]
    backend: BackendChoice
    cache_dir_option: str | None  # --ws-cache-dir as given (relative to the invocation dir)
    cache_dir_ini: tuple[Path, ...]  # wsenv_cache_dir, resolved against the ini file
    offline: bool
    rebuild: bool
    with_reqs: tuple[str, ...]
    with_requirement_files: tuple[str, ...]
    strict_runner: bool
    no_install: tuple[str, ...]
    test_group: str
    max_restarts: int
    no_fork: bool
    max_idle: int
    stream: bool = False

    @classmethod
    def from_pytest(
        cls, config: pytest.Config, environ: Mapping[str, str] = os.environ
    ) -> WsConfig:
        def many(dest: str, ini: str) -> tuple[str, ...]:
            given = config.getoption(dest) or config.getini(ini) or []
            return tuple(str(v).strip() for v in given if str(v).strip())

        def flag(dest: str, ini: str) -> bool:
            return bool(config.getoption(dest) or config.getini(ini))

        backend = config.getoption("ws_backend") or str(config.getini("wsenv_backend")).strip()
        if backend not in ("auto", "uv", "pip"):
            raise ConfigError(f"wsenv_backend = {backend!r}: choose auto, uv or pip")
        option_dir = config.getoption("ws_cache_dir")
        if option_dir:
            option_dir = str(config.invocation_params.dir / Path(option_dir).expanduser())
        restarts = str(config.getini("wsenv_max_restarts")).strip()
        if not restarts.isdigit():
            raise ConfigError(f"wsenv_max_restarts = {restarts!r}: expected a whole number")
        idle = str(config.getini("wsenv_max_idle")).strip()
        if not idle.isdigit() or int(idle) < 1:
            raise ConfigError(f"wsenv_max_idle = {idle!r}: expected a whole number of at least 1")
        return cls(
            packages=many("ws_package", "wsenv_packages"),
            extras=many("ws_extra", "wsenv_extras"),
            all_extras=flag("ws_all_extras", "wsenv_all_extras"),
            groups=many("ws_group", "wsenv_groups"),
            no_default_groups=flag("ws_no_default_groups", "wsenv_no_default_groups"),
            pythons=many("ws_python", "wsenv_pythons"),
            backend=cast("BackendChoice", backend),
            cache_dir_option=option_dir,
            cache_dir_ini=tuple(cast("list[Path]", config.getini("wsenv_cache_dir") or [])),
            offline=flag("ws_offline", "wsenv_offline") or _truthy(environ.get("UV_OFFLINE")),
            rebuild=bool(config.getoption("ws_rebuild")),
            with_reqs=many("ws_with", "wsenv_with"),
            with_requirement_files=tuple(config.getini("wsenv_with_requirements") or ()),
            strict_runner=flag("ws_strict_runner", "wsenv_strict_runner"),
            no_install=many("ws_no_install_package", "wsenv_no_install_packages"),
            test_group=str(config.getini("wsenv_test_group")).strip() or "dev",
            max_restarts=int(restarts),
            no_fork=flag("ws_no_fork", "wsenv_no_fork"),
            max_idle=int(idle),
            stream=flag("ws_stream", "wsenv_stream"),
        )


def take_foreign_options(
    parser: pytest.Parser, args: list[str], invocation_dir: Path
) -> tuple[tuple[str, ...], ...]:
    """Remove from ``args`` (in place) the options ``parser`` does not define, and return them.

    Such an option may be defined by a plugin or a conftest.py that lives in the member
    environments (``--timeout``, ``--record-mode``, a conftest's ``--run-slow``): the
    children parse it. Without ``=``, the token after it is taken as its value unless it
    starts with ``-`` or names an existing path (which stays a collection argument); write
    ``--option=value`` when a value is an existing path.
    """
    _, unknown = parser.parse_known_and_unknown_args(args)
    if not unknown:
        return ()
    pending = list(unknown)
    kept: list[str] = []
    found: list[tuple[str, ...]] = []
    i = 0
    while i < len(args):
        token = args[i]
        i += 1
        if token == "--":
            kept += args[i - 1 :]
            break
        if not (pending and token == pending[0]):
            kept.append(token)
            continue
        pending.pop(0)
        following = args[i] if i < len(args) else None
        takes_value = (
            "=" not in token
            and (token.startswith("--") or len(token) == 2)
            and following is not None
            and not following.startswith("-")
            and not (invocation_dir / following.split("::", 1)[0]).exists()
        )
        if not takes_value:
            found.append((token,))
        elif token.startswith("--"):
            found.append((f"{token}={following}",))
            i += 1
        else:
            found.append((token, str(following)))
            i += 1
    args[:] = kept
    return tuple(found)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def workspace_start(config: pytest.Config) -> Path:
    """Where to look for the workspace: the first existing collection argument, else the
    invocation directory (``pytest --ws-isolated examples/albatross`` from elsewhere)."""
    invocation = config.invocation_params.dir
    for arg in config.args:
        path = invocation / arg.split("::", 1)[0]
        if path.exists():
            return path
    return invocation
