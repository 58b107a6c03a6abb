"""Files and directories of the cache are never writable by the group or others.

Whatever the umask: code in an environment, and the records that decide which
environment and interpreter a run uses, must not be changeable by another user. New
directories and files get their mode set explicitly; installers run with the group and
other write bits added to their umask (see :mod:`._groups`); a tree built while the
umask was permissive is fixed before it is published (:func:`restrict_tree`).
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from pathlib import Path

__all__ = ["OTHERS_WRITE", "make_dirs", "permissive_umask", "restrict_tree", "write_file"]

#: The bits that must stay clear: write by group, write by others.
OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH
_POSIX = os.name == "posix"


def make_dirs(path: Path) -> None:
    """``mkdir -p path``; every directory it creates is ``rwxr-xr-x`` at most."""
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir(0o755)
            if _POSIX:
                os.chmod(directory, os.stat(directory).st_mode & 0o7777 & ~OTHERS_WRITE)


def write_file(path: Path, data: str | bytes, mode: int = 0o644, *, sync: bool = False) -> None:
    """Write ``data`` to ``path`` whole (scratch file renamed over it), with ``mode``;
    with ``sync``, flushed to disk before the rename."""
    scratch = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    raw = data.encode() if isinstance(data, str) else data
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(scratch, flags, mode)
    try:
        try:
            if _POSIX:
                os.fchmod(fd, mode)
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view) :]
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(scratch, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(scratch)
        raise


def permissive_umask() -> bool:
    """Does the process umask let new files be written by the group or others?"""
    if not _POSIX:
        return False
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return bool(int(line.split()[1], 8) & OTHERS_WRITE != OTHERS_WRITE)
    except (OSError, ValueError):
        pass
    current = os.umask(0o022)  # no /proc: read it by setting it (restored at once)
    os.umask(current)
    return current & OTHERS_WRITE != OTHERS_WRITE


def restrict_tree(root: Path) -> int:
    """Clear the group and other write bits of ``root`` and everything below it
    (symbolic links are not followed). Returns how many entries changed."""
    if not _POSIX:
        return 0
    changed = 0
    for folder, dirs, files in os.walk(root):
        for name in (".", *dirs, *files):
            path = os.path.join(folder, name)
            with contextlib.suppress(OSError):
                mode = os.lstat(path).st_mode
                if not stat.S_ISLNK(mode) and mode & OTHERS_WRITE:
                    os.chmod(path, stat.S_IMODE(mode) & ~OTHERS_WRITE)
                    changed += 1
    return changed
