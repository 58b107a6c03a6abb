"""Run an installer in a controlled environment and capture what it printed.

The environment every installer runs with is the parent's, minus the variables that
would send an install somewhere else or change *what* gets installed behind the plan's
back (see :data:`_DROPPED`). Variables that say *where packages come from* and how to
reach it (``PIP_INDEX_URL``, ``UV_INDEX``, ``PIP_CERT``, proxies, cache directories,
``UV_OFFLINE``, user and site configuration files) are kept, so an install behaves like
the user's own ``uv``/``pip`` in the same shell; the plan's own index flags are passed
on the command line and take precedence over them.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ...errors import EnvBuildError
from . import _groups
from ._faults import fault_error
from .base import Log

__all__ = ["Output", "installer_env", "requirements_file", "run"]

#: How many lines of installer output an EnvBuildError carries.
TAIL_LINES = 30

_DROPPED = frozenset(
    {
        # which interpreter / prefix: decided by the backend, never inherited
        "VIRTUAL_ENV",
        "CONDA_PREFIX",
        "PYTHONHOME",
        "PYTHONPATH",
        "PYTHONSTARTUP",
        "PYTHONEXECUTABLE",
        "__PYVENV_LAUNCHER__",
        "UV_PYTHON",
        "UV_SYSTEM_PYTHON",
        "UV_BREAK_SYSTEM_PACKAGES",
        "UV_PROJECT_ENVIRONMENT",
        "PIP_USER",
        "PIP_TARGET",
        "PIP_PREFIX",
        "PIP_ROOT",
        "PIP_PYTHON",
        "PIP_REQUIRE_VIRTUALENV",
        "PIP_BREAK_SYSTEM_PACKAGES",
        "PIP_SRC",
        # what gets installed: the plan is exact, nothing may add to or bend it
        "PIP_REQUIREMENT",
        "PIP_CONSTRAINT",
        "PIP_EDITABLE",
        "PIP_UPGRADE",
        "PIP_UPGRADE_STRATEGY",
        "PIP_FORCE_REINSTALL",
        "PIP_IGNORE_INSTALLED",
        "PIP_NO_DEPS",
        "PIP_NO_BUILD_ISOLATION",
        "PIP_REQUIRE_HASHES",
        "PIP_DRY_RUN",
        "PIP_REPORT",
        "UV_CONSTRAINT",
        "UV_OVERRIDE",
        "UV_REQUIRE_HASHES",
        "UV_NO_VERIFY_HASHES",
        "UV_NO_BUILD_ISOLATION",
        # what `uv sync` selects and where it installs: the request's flags say it all
        "UV_FROZEN",
        "UV_LOCKED",
        "UV_NO_SYNC",
        "UV_DEV",
        "UV_NO_DEV",
        "UV_NO_GROUP",
        "UV_NO_DEFAULT_GROUPS",
        "UV_NO_EDITABLE",
        "UV_NO_SOURCES",
        "UV_NO_INSTALL_PROJECT",
        "UV_NO_INSTALL_WORKSPACE",
        "UV_NO_INSTALL_LOCAL",
        "UV_ONLY_INSTALL_PROJECT",
        "UV_ONLY_INSTALL_WORKSPACE",
        "UV_ONLY_INSTALL_LOCAL",
        "UV_PROJECT",
        "UV_WORKING_DIRECTORY",
        "UV_VENV_SEED",
        "UV_VENV_CLEAR",
    }
)

#: Set for every installer run.
_FORCED = {
    "UV_PYTHON_DOWNLOADS": "never",  # the interpreter is given; never fetch another
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    "PIP_NO_INPUT": "1",
    "NO_COLOR": "1",  # plain text, so the first error line can be found
}


def installer_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment installers run with (see the module docstring).

    Every ``VIRTUALENV_*`` variable is dropped too (virtualenv reads one per option, e.g.
    ``VIRTUALENV_SYSTEM_SITE_PACKAGES``) except the app-data location.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in _DROPPED
        and not (key.startswith("VIRTUALENV_") and key != "VIRTUALENV_OVERRIDE_APP_DATA")
    }
    env.update(_FORCED)
    if extra:
        env.update(extra)
    return env


@dataclass(frozen=True, slots=True)
class Output:
    """What one installer run printed (stdout and stderr interleaved) and its exit code."""

    command: tuple[str, ...]
    returncode: int
    lines: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def tail(self, count: int = TAIL_LINES) -> str:
        return "\n".join(self.lines[-count:])


def run(
    command: Sequence[str],
    *,
    log: Log,
    env: Mapping[str, str],
    cwd: Path | None = None,
    where: Path | None = None,
) -> Output:
    """Run ``command``, streaming each output line to ``log``.

    The installer runs in a process group of its own that dies with this process where
    the platform allows and is ended when it returns or this call is interrupted (see
    :mod:`._groups`). A command that cannot be started at all is an EnvBuildError about
    ``where``.
    """
    cmd = tuple(command)
    log(f"$ {shlex.join(cmd)}")
    try:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=dict(env),
            cwd=cwd,
            # only setpgid and prctl, prepared before the fork: no lock of ours is taken
            preexec_fn=_groups.preexec(),  # noqa: PLW1509
        )
    except OSError as exc:
        exc.filename = None  # the fault is the machine's, not the command's
        found = fault_error(exc, where or Path(cmd[0]), f"starting {Path(cmd[0]).name}")
        if found is not None:
            raise found from exc
        raise EnvBuildError(f"cannot run {cmd[0]}: {exc.strerror or exc}", path=where) from exc
    _groups.started(proc.pid)
    lines: list[str] = []
    try:
        with proc:
            assert proc.stdout is not None
            try:
                for raw in proc.stdout:
                    line = raw.rstrip("\r\n")
                    lines.append(line)
                    log(line)
            except BaseException:
                _groups.end_group(proc.pid)  # before Popen's exit waits for it
                raise
    finally:
        _groups.stopped(proc.pid)  # also what it left running, or all of it when interrupted
    return Output(cmd, proc.returncode, tuple(lines))


@contextmanager
def requirements_file(lines: tuple[str, ...]) -> Iterator[Path | None]:
    """A temporary requirements file holding ``lines``; ``None`` when there are none."""
    if not lines:
        yield None
        return
    fd, name = tempfile.mkstemp(prefix="wsenv-", suffix=".txt")
    path = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        yield path
    finally:
        path.unlink(missing_ok=True)
