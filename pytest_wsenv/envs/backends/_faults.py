"""Faults of the machine, not of the workspace, as one line: what happened, where, and
what to do.

A full disk, a read-only cache, a permission problem or too many open files can
surface as an ``OSError`` in our own code or as a line of an installer's output; both
become the same :class:`~pytest_wsenv.errors.EnvBuildError`, without the installer's
log (the line says everything there is to know).
"""

from __future__ import annotations

import errno
from collections.abc import Iterable
from pathlib import Path

from ...errors import EnvBuildError

__all__ = ["fault_error", "fault_in_output"]

_SPACE = (
    "free some space (`pytest-wsenv prune` removes environments no current target uses) "
    "or pass --ws-cache-dir naming a cache on another device"
)
_WRITABLE = "pass --ws-cache-dir (or set PYTEST_WSENV_CACHE_DIR) naming a writable directory"

#: errno -> (what happened, what to do)
_FAULTS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("no space left on the device", _SPACE),
    errno.EDQUOT: ("the disk quota is exceeded", _SPACE),
    errno.EROFS: (
        "the environment cache is on a read-only file system and an environment must be built",
        _WRITABLE,
    ),
    errno.EACCES: (
        "permission denied",
        f"check the permissions of the environment cache or {_WRITABLE}",
    ),
    errno.EPERM: (
        "operation not permitted",
        f"check the permissions of the environment cache or {_WRITABLE}",
    ),
    errno.EMFILE: (
        "too many open files",
        "raise the limit (`ulimit -n`) or run fewer members at once (-n)",
    ),
    errno.ENFILE: (
        "the system has too many open files",
        "close other programs or run fewer members at once (-n)",
    ),
}

#: Faults about one file (the others are about the whole device or process).
_ABOUT_A_FILE = frozenset({errno.EACCES, errno.EPERM})

#: How installers (uv, pip) word those faults in their output.
_WORDINGS = {
    "No space left on device": errno.ENOSPC,
    "Disk quota exceeded": errno.EDQUOT,
    "Read-only file system": errno.EROFS,
    "Too many open files": errno.EMFILE,
}


def fault_error(exc: OSError, where: Path, doing: str) -> EnvBuildError | None:
    """The one-line error for ``exc`` met while ``doing`` (e.g. "building <name>"); the
    path is ``where`` (the cache), or for a permission problem the file it names. None
    when ``exc`` is not a fault of the machine."""
    if exc.errno not in _FAULTS:
        return None
    what, todo = _FAULTS[exc.errno]
    named = isinstance(exc.filename, str) and exc.filename and exc.errno in _ABOUT_A_FILE
    path = Path(exc.filename) if named else where
    return EnvBuildError(f"{what} while {doing}; {todo}", path=path)


def fault_in_output(lines: Iterable[str], where: Path, doing: str) -> EnvBuildError | None:
    """The one-line error for the first fault an installer's output reports, if any."""
    for line in lines:
        for wording, number in _WORDINGS.items():
            if wording in line:
                return fault_error(OSError(number, wording), where, doing)
    return None
