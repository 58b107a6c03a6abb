"""Installer processes never outlive the build that started them.

Every installer (``uv sync``, ``uv pip``, pip) starts in a process group of its own and,
on Linux, with the kernel's parent-death signal (``PR_SET_PDEATHSIG``: SIGKILL when the
thread that started it ends, which includes the whole process being killed). The
group is recorded in a small file while it runs (:func:`recording`, set by the
environment engine to a path beside the build's temporary directory), and whatever the
installer left in its group is killed when it returns. A builder that dies anyway
(``kill -9`` on a platform without the parent-death signal, or an installer's own
children, which do not inherit it) leaves the record behind; the next run that holds
the same env's lock ends that group with :func:`end_recorded` and waits until it is
gone before it touches the env, so an orphaned installer can never write into an env
published after it. Groups still running when the interpreter exits (Ctrl-C, SIGTERM
handled as a clean stop) are killed by an ``atexit`` handler.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path

from ._private import OTHERS_WRITE, write_file

__all__ = ["end_group", "end_recorded", "preexec", "recording", "started", "stopped"]

_RECORD: ContextVar[Path | None] = ContextVar("wsenv_installer_record", default=None)
_LIVE: set[int] = set()
_LIVE_LOCK = threading.Lock()
_POSIX = os.name == "posix"
_PROC = Path("/proc")

#: How long :func:`end_group` waits for a killed group to disappear.
WAIT_SECONDS = 10.0


def _pdeathsig() -> Callable[[], None] | None:
    """A function setting SIGKILL as the parent-death signal, made before any fork (the
    child of a multi-threaded parent must not import or look anything up)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    set_pdeathsig, sigkill = 1, int(signal.SIGKILL)  # PR_SET_PDEATHSIG

    def apply() -> None:
        prctl(set_pdeathsig, sigkill, 0, 0, 0)

    return apply


_SET_PDEATHSIG = _pdeathsig()


def preexec() -> Callable[[], None] | None:
    """The ``preexec_fn`` for an installer: own process group, parent-death signal,
    group and other write bits in the umask."""
    if not _POSIX:
        return None
    parent = os.getpid()
    pdeathsig = _SET_PDEATHSIG

    def setup() -> None:
        os.setpgid(0, 0)
        os.umask(os.umask(0o022) | OTHERS_WRITE)  # nothing it writes is writable by others
        if pdeathsig is not None:
            pdeathsig()
            if os.getppid() != parent:  # the parent died before the signal was armed
                os._exit(1)

    return setup


@contextlib.contextmanager
def recording(record: Path) -> Iterator[None]:
    """Installers started by this thread (and context) record their group in ``record``."""
    token = _RECORD.set(record)
    try:
        yield
    finally:
        _RECORD.reset(token)


def started(pid: int) -> None:
    """An installer with process group ``pid`` started: remember and record it."""
    if not _POSIX:
        return
    with _LIVE_LOCK:
        _LIVE.add(pid)
    record = _RECORD.get()
    if record is not None:
        with contextlib.suppress(OSError):
            write_file(record, f"{pid} {_start_time(pid) or ''}\n")


def stopped(pid: int) -> None:
    """The installer ``pid`` returned (or is abandoned): end its group, drop its record."""
    if not _POSIX:
        return
    end_group(pid)
    with _LIVE_LOCK:
        _LIVE.discard(pid)
    record = _RECORD.get()
    if record is not None:
        with contextlib.suppress(OSError):
            record.unlink()


def end_recorded(record: Path) -> None:
    """End the installer group named in ``record`` (left by a killed builder), wait until
    it is gone, then remove the record. The caller holds the env's lock."""
    try:
        words = record.read_text(encoding="ascii").split()
        pgid = int(words[0])
    except (OSError, ValueError, IndexError):
        words, pgid = [], 0
    if pgid > 1 and _POSIX and _ours(pgid, words[1] if len(words) > 1 else ""):
        end_group(pgid)
    with contextlib.suppress(OSError):
        record.unlink()


def _ours(pgid: int, recorded_start: str) -> bool:
    """Is group ``pgid`` still the recorded installer's? Its leader alive with another
    start time means the id was reused: not ours. A leader that is gone while its group
    lives is ours (an id is not reused while a group of that id exists)."""
    now = _start_time(pgid)
    return now is None or not recorded_start or now == recorded_start


def end_group(pgid: int) -> None:
    """SIGKILL process group ``pgid`` and wait (bounded) until no live member is left."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + WAIT_SECONDS
    while _alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.01)


def _alive(pgid: int) -> bool:
    """Does group ``pgid`` have a member that is not a zombie (a zombie writes nothing)?"""
    if _PROC.is_dir():
        return any(state != "Z" for state in _members(pgid))
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _members(pgid: int) -> list[str]:
    """The states of the processes in group ``pgid`` (Linux ``/proc``)."""
    states = []
    for name in os.listdir(_PROC):
        fields = _stat_fields(int(name)) if name.isdigit() else None
        if fields is not None and fields[2] == str(pgid):
            states.append(fields[0])
    return states


def _stat_fields(pid: int) -> list[str] | None:
    """``/proc/<pid>/stat`` after the command name: state, ppid, pgrp, ... (Linux)."""
    try:
        text = (_PROC / str(pid) / "stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return text.rpartition(")")[2].split()


def _start_time(pid: int) -> str | None:
    """When ``pid`` started, in clock ticks since boot (Linux), else None."""
    fields = _stat_fields(pid)
    return fields[19] if fields is not None and len(fields) > 19 else None


@atexit.register
def _end_live_groups() -> None:
    with _LIVE_LOCK:
        live = sorted(_LIVE)
    for pgid in live:
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)
