"""The file lock of one env name, and what killed builders of a name left behind.

``<cache>/<name>.lock`` serializes every build, rebuild and removal of env ``<name>``.
A lock file may be removed (``prune`` removes the lock files of envs it removes) while
someone waits on it: every acquirer checks, once it holds the lock, that the path
still names the file it locked, and starts again on the new file when it does not; so
two holders of one name never coexist. A lock path that is a symbolic link (or any
other non-regular file) is refused, never followed.

A builder killed mid-build leaves ``.<name>.tmp-<random>`` (its temporary directory),
maybe a link ``<name> -> .<name>.tmp-<random>`` (see :func:`.publishing.build_path`) and,
while an installer was running, ``.<name>.tmp-<random>.installer`` naming the
installer's process group. Whoever next holds the name's lock ends that group, waits
until it is gone, then removes the rest (:func:`clear_leftovers`); a build of another
name sweeps leftovers of names nobody holds (:func:`sweep_killed_builds`), so they go
away also when the key, hence the name, changed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import EnvBuildError
from .backends import end_installer_group, fault_error

if TYPE_CHECKING:
    from filelock import FileLock

__all__ = [
    "DEL",
    "INSTALLER",
    "TMP",
    "clear_leftovers",
    "installer_record",
    "key_lock",
    "lock_path",
    "remove_tree",
    "sweep_killed_builds",
    "try_key_lock",
]

TMP = ".tmp-"
DEL = ".del-"
INSTALLER = ".installer"
#: Lock files are never group- or world-writable (see :mod:`.permissions`).
_LOCK_MODE = 0o644


def lock_path(cache_dir: Path, name: str) -> Path:
    return cache_dir / f"{name}.lock"


def installer_record(tmp: Path) -> Path:
    """Where the installer group of the build in ``tmp`` is recorded while it runs."""
    return tmp.with_name(tmp.name + INSTALLER)


def _identity(path: Path) -> tuple[int, int] | None:
    """``(device, inode)`` of the regular file at ``path``; None when it is missing.
    EnvBuildError when it is a link or not a regular file."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _lock_error(path, exc) from exc
    if not stat.S_ISREG(info.st_mode):
        kind = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a regular file"
        raise EnvBuildError(
            f"the lock file is {kind}; remove it (pytest-wsenv never follows it)", path=path
        )
    return info.st_dev, info.st_ino


def _lock_error(path: Path, exc: OSError) -> EnvBuildError:
    found = fault_error(exc, path, f"taking the lock {path.name}")
    if found is not None:
        return found
    return EnvBuildError(
        f"cannot use the lock file: {exc.strerror or exc}; check the permissions of "
        f"{path.parent} or pass --ws-cache-dir to use another cache",
        path=path,
    )


def _acquire(path: Path, timeout: float) -> FileLock | None:
    """The lock at ``path`` held (None: not within ``timeout``), its path still naming
    the locked file."""
    from filelock import FileLock, Timeout  # builds and pruning lock; reusing an env does not

    while True:
        before = _identity(path)
        lock = FileLock(str(path), mode=_LOCK_MODE, thread_local=False)
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            return None
        except OSError as exc:
            _identity(path)  # a link planted meanwhile is named as such
            raise _lock_error(path, exc) from exc
        try:
            after = _identity(path)
        except BaseException:
            lock.release()
            raise
        if before is not None and before == after:
            return lock
        lock.release()  # created just now, or removed and made again: lock the file there


@contextlib.contextmanager
def key_lock(cache_dir: Path, name: str, log: Callable[[str], None]) -> Iterator[None]:
    """Hold the lock of env ``name``; say once that we wait when another holds it."""
    path = lock_path(cache_dir, name)
    lock = _acquire(path, 0)
    if lock is None:
        log(f"waiting for another process building {name}")
        lock = _acquire(path, -1)
        assert lock is not None
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def try_key_lock(cache_dir: Path, name: str) -> Iterator[bool]:
    """Hold the lock of ``name`` if nobody else does (yields False when busy)."""
    try:
        lock = _acquire(lock_path(cache_dir, name), 0)
    except EnvBuildError:
        yield False
        return
    if lock is None:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


def remove_tree(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        with contextlib.suppress(OSError):
            path.unlink()
        return
    shutil.rmtree(path, ignore_errors=True)


def clear_leftovers(cache_dir: Path, name: str) -> list[Path]:
    """Remove what killed builders of ``name`` left, after ending their installers. The
    caller holds the lock of ``name``. Returns what was removed."""
    removed: list[Path] = []
    leftovers = sorted(cache_dir.glob(f".{name}{TMP}*"))
    for record in leftovers:
        if record.name.endswith(INSTALLER):
            end_installer_group(record)
    final = cache_dir / name
    if final.is_symlink():
        remove_tree(final)
        removed.append(final)
    for leftover in leftovers:
        if os.path.lexists(leftover):
            remove_tree(leftover)
        removed.append(leftover)
    return removed


def owner_of(entry: str) -> str | None:
    """The env name a ``.<name>.tmp-...`` entry belongs to."""
    if entry.startswith(".") and TMP in entry:
        return entry[1 : entry.index(TMP)]
    return None


def sweep_killed_builds(cache_dir: Path, skip: str | None = None) -> list[Path]:
    """Clear the leftovers of every name nobody holds the lock of (``skip`` aside)."""
    try:
        owners = {owner_of(entry) for entry in os.listdir(cache_dir)}
    except OSError:
        return []
    removed: list[Path] = []
    for owner in sorted(o for o in owners if o and o != skip):
        with try_key_lock(cache_dir, owner) as held:
            if held:
                removed += clear_leftovers(cache_dir, owner)
    return removed
