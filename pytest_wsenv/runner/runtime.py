"""What a fork server serves, and starting one.

A :class:`Runtime` is pytest and its requirements as one environment holds them, for one
base interpreter; two environments with the same :attr:`Runtime.key` have byte-identical
copies of them (compared through their ``RECORD`` files), so one fork server (``zygote.py``)
can serve both. :func:`launch_server` starts that server process; ``forkserver.py`` talks
to it, and ``prestart.py`` starts one before the session has planned.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import signal
import socket
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

from pytest_wsenv.runner.protocol import BOOTSTRAP

__all__ = ["ZYGOTE_SCRIPT", "Launched", "Runtime", "launch_server", "runtime_key", "runtime_of"]

ZYGOTE_SCRIPT = Path(__file__).with_name("zygote.py")

#: Variables that may differ between the children of one server: set after the fork.
_SET_AFTER_FORK = frozenset({"PYTHONPYCACHEPREFIX", "PYTHONDONTWRITEBYTECODE"})


@dataclasses.dataclass(frozen=True, slots=True)
class Runtime:
    """pytest and its requirements as one environment holds them.

    ``python`` is the base interpreter; ``entries`` the distributions (pytest, then its
    requirements), each with its ``RECORD`` file (``None`` where the environment does not
    have it); ``key`` hashes the interpreter, the start-time ``PYTHON*`` variables and every
    ``RECORD``'s rows for files inside site-packages (each with its hash), so two
    environments with the same key have the same importable files (:func:`runtime_key`).
    """

    python: str
    key: str
    entries: tuple[tuple[str, str | None], ...] = ()

    @property
    def records(self) -> tuple[str, ...]:
        """The ``RECORD`` files of the distributions the environment has."""
        return tuple(record for _, record in self.entries if record is not None)

    @property
    def paths(self) -> tuple[str, ...]:
        """The directories holding them (site-packages, attached layers), in the order
        their distributions come."""
        return tuple(dict.fromkeys(os.path.dirname(os.path.dirname(r)) for r in self.records))


def _dist_infos(directory: Path) -> dict[str, Path]:
    from pytest_wsenv.envs._checks import distributions  # the isolation planning's import

    try:
        found = distributions(directory)
    except OSError:
        return {}
    return {name: directory / entry for name, entry in found.items()}


def _requirement_names(info: Path) -> list[str]:
    """Names in the ``Requires-Dist`` of the distribution at ``info`` that are not behind
    an extra."""
    import importlib.metadata

    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    names: list[str] = []
    for line in importlib.metadata.PathDistribution(info).requires or ():
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if requirement.marker is None or "extra" not in str(requirement.marker):
            names.append(canonicalize_name(requirement.name))
    return names


def _importable_rows(record: bytes) -> bytes:
    """The rows of a ``RECORD`` for files inside site-packages: console scripts and other
    files outside it (``../../../bin/pytest``) name the environment's own python in their
    first line, so their hashes differ between otherwise identical installations."""
    rows = [row for row in record.splitlines() if not row.startswith((b"..", b"/"))]
    return b"\n".join(rows)


def runtime_key(
    python: str | Path, env: Mapping[str, str], entries: Iterable[tuple[str, str | None]]
) -> str | None:
    """The :attr:`Runtime.key` of ``entries`` (distribution names, each with its
    ``RECORD`` or ``None``) for ``python`` started with ``env``, from the ``RECORD`` files
    as they are now; ``None`` when one cannot be read."""
    digest = hashlib.sha256()
    digest.update(os.fsencode(os.path.realpath(python)))
    for name, value in sorted(env.items()):
        if name.startswith("PYTHON") and name not in _SET_AFTER_FORK:
            digest.update(f"\0{name}={value}".encode())
    for name, record in entries:
        digest.update(f"\0{name}\0".encode())
        if record is None:
            continue  # not installed (a marker excludes it here): the same for every env
        try:
            digest.update(_importable_rows(Path(record).read_bytes()))
        except OSError:
            return None
    return digest.hexdigest()


def runtime_of(python: Path, site_dirs: list[Path], env: Mapping[str, str]) -> Runtime | None:
    """The :class:`Runtime` of an environment whose import directories are ``site_dirs``
    (in ``sys.path`` order); ``None`` when pytest or a ``RECORD`` is not found."""
    infos = [_dist_infos(d) for d in site_dirs]

    def find(name: str) -> Path | None:
        for found in infos:
            if name in found:
                return found[name]
        return None

    pytest_info = find("pytest")
    if pytest_info is None:
        return None
    entries: list[tuple[str, str | None]] = []
    for name in dict.fromkeys(["pytest", *_requirement_names(pytest_info)]):
        info = find(name)
        entries.append((name, None if info is None else str(info / "RECORD")))
    key = runtime_key(python, env, entries)
    return None if key is None else Runtime(str(python), key, tuple(entries))


@dataclasses.dataclass(slots=True)
class Launched:
    """A fork server process just started, and the parent's end of its control socket."""

    runtime: Runtime
    proc: subprocess.Popen[bytes]
    sock: socket.socket

    def close(self) -> None:
        """End a server nobody took over: close its socket (it exits), kill it if it does
        not."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


def launch_server(runtime: Runtime, env: Mapping[str, str]) -> Launched:
    """Start ``zygote.py`` for ``runtime`` with ``env`` (it starts importing pytest at
    once); OSError when it cannot be started."""
    ours, theirs = socket.socketpair()
    options = {
        "control_fd": theirs.fileno(),
        "paths": [*runtime.paths],
        "records": [*runtime.records],
    }
    try:
        proc = subprocess.Popen(
            [runtime.python, "-S", "-c", BOOTSTRAP, str(ZYGOTE_SCRIPT), json.dumps(options)],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            pass_fds=(theirs.fileno(),),
            start_new_session=True,
            cwd="/",
        )
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
    return Launched(runtime, proc, ours)
