"""The on-disk environment cache: layout, manifests, locking, atomic publish, list/prune.

Layout of a cache directory (default ``<workspace root>/.wsenv/``)::

    CACHEDIR.TAG  .gitignore            marks the directory as a cache, ignored by git
    <name>/                             a ready env; ``wsenv-manifest.json`` inside, written last
    <name>.lock                         the file lock of one env name (one key)
    .<name>.tmp-<random>/               an env being built (or left by a killed builder)
    .<name>.del-<random>/               an env being removed
    interpreters/                       interpreter facts (see ``interpreters.py``)

A directory without a valid manifest is never used. A manifest is valid when it parses,
names this key and this directory, its interpreter still exists and the env's
site-packages listing still has the fingerprint recorded at build time.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from ..errors import EnvBuildError
from .manifest import (
    LAST_USED,
    MANIFEST,
    MANIFEST_FORMAT,
    InvalidManifest,
    Manifest,
    check,
    fingerprint,
    listing,
    read_manifest,
    site_packages_of,
)

__all__ = [
    "CACHEDIR_TAG",
    "LAST_USED",
    "MANIFEST",
    "MANIFEST_FORMAT",
    "NOT_ENVS",
    "CachedEnv",
    "InvalidManifest",
    "Manifest",
    "build_lock",
    "check",
    "checkpoint",
    "ensure_cache_dir",
    "fingerprint",
    "list_envs",
    "new_temp_dir",
    "prune",
    "publish",
    "read_manifest",
    "resolve_cache_dir",
    "site_packages_of",
]

CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by pytest-wsenv.\n"
    "# For information about cache directory tags, see https://bford.info/cachedir/\n"
)
_ENV_VAR = "PYTEST_WSENV_CACHE_DIR"
_TMP = ".tmp-"
_DEL = ".del-"

#: Test hook: called with a stage name ("created", "installed", "manifest", "rename") while
#: an env is built, so reliability tests can kill a builder at a known point. Never set by
#: pytest-wsenv itself.
_checkpoint: Callable[[str], None] | None = None


def checkpoint(stage: str) -> None:
    if _checkpoint is not None:
        _checkpoint(stage)


# -- location -----------------------------------------------------------------------------


def resolve_cache_dir(
    workspace_root: Path,
    option: str | os.PathLike[str] | None = None,
    ini: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Path:
    """The cache directory: ``--ws-cache-dir``, else ``$PYTEST_WSENV_CACHE_DIR``, else the
    ``wsenv_cache_dir`` ini value, else ``<workspace root>/.wsenv``. Relative command-line and
    environment values are taken from the current directory; ini paths arrive resolved."""
    env = os.environ if environ is None else environ
    chosen: str | os.PathLike[str] | None = option or env.get(_ENV_VAR) or None
    if chosen is None and ini:
        if isinstance(ini, str | os.PathLike):
            chosen = ini
        elif len(ini) > 0:
            chosen = ini[0]
    if chosen is None:
        return workspace_root / ".wsenv"
    return Path(os.path.abspath(os.path.expanduser(os.fspath(chosen))))


def ensure_cache_dir(cache_dir: Path) -> Path:
    """Create ``cache_dir`` with ``CACHEDIR.TAG`` and a ``.gitignore`` of ``*``."""
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        for name, text in ((".gitignore", "*\n"), ("CACHEDIR.TAG", CACHEDIR_TAG)):
            target = cache_dir / name
            if not target.exists():
                tmp = cache_dir / f".{name}.{os.getpid()}.{secrets.token_hex(4)}"
                tmp.write_text(text, encoding="utf-8")
                os.replace(tmp, target)
    except OSError as exc:
        raise EnvBuildError(
            f"cannot create the environment cache: {exc}; pass --ws-cache-dir to use another "
            "directory",
            path=cache_dir,
        ) from exc
    return cache_dir


# -- building and publishing -------------------------------------------------------------


@contextlib.contextmanager
def build_lock(cache_dir: Path, name: str, log: Callable[[str], None]) -> Iterator[None]:
    """Hold the file lock of env ``name``; say once that we wait when another holds it."""
    lock = FileLock(str(cache_dir / f"{name}.lock"), thread_local=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log(f"waiting for another process building {name}")
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _lock_is_free(cache_dir: Path, name: str) -> bool:
    lock = FileLock(str(cache_dir / f"{name}.lock"), thread_local=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return False
    lock.release()
    return True


def new_temp_dir(cache_dir: Path, name: str) -> Path:
    """A fresh path beside the final env to build into (not created). The caller holds the
    lock of ``name``, so temp dirs left by killed builders of ``name`` are removed first."""
    for leftover in cache_dir.glob(f".{name}{_TMP}*"):
        _remove_tree(leftover)
    return cache_dir / f".{name}{_TMP}{secrets.token_hex(6)}"


def publish(
    cache_dir: Path,
    name: str,
    tmp: Path,
    record: Mapping[str, Any],
    *,
    python: Path,
    bin_dir: Path,
    attached: Sequence[str] = (),
) -> Manifest:
    """Make the env built in ``tmp`` the env ``name``, atomically.

    Rewrites the temp path in ``bin/`` scripts and ``pyvenv.cfg`` to the final path,
    fingerprints site-packages, writes the manifest last, renames into place (an unusable
    env of the same name is moved aside first), then checks the final ``bin/python``
    starts and reports the final prefix. ``record`` holds ``key``, ``kind``, ``label``,
    ``inputs``, ``interpreter`` and ``build`` (backend, backend_version, seconds,
    packages, layers).
    """
    final = cache_dir / name
    _relocate(tmp, final, bin_dir)
    site = site_packages_of(tmp)
    entries = listing(site)
    manifest = {
        "format": MANIFEST_FORMAT,
        "name": name,
        "path": str(final),
        "key": record["key"],
        "kind": record["kind"],
        "label": record["label"],
        "inputs": record["inputs"],
        "interpreter": str(record["interpreter"]),
        "python": python.relative_to(tmp).as_posix(),
        "bin_dir": bin_dir.relative_to(tmp).as_posix(),
        "site_packages": {
            "path": site.relative_to(tmp).as_posix(),
            "fingerprint": fingerprint(entries),
            "entries": entries,
        },
        "build": {
            **record["build"],
            "created": time.time(),
            "attached": [*attached],
        },
    }
    checkpoint("manifest")
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
    (tmp / LAST_USED).touch()
    checkpoint("rename")
    if final.exists() or final.is_symlink():
        aside = cache_dir / f".{name}{_DEL}{secrets.token_hex(6)}"
        os.rename(final, aside)
        _remove_tree(aside)
    os.rename(tmp, final)
    _verify(final, final / python.relative_to(tmp))
    return read_manifest(final)


def _relocate(tmp: Path, final: Path, bin_dir: Path) -> None:
    """Point scripts, activators and symlinks built in ``tmp`` at ``final``."""
    olds = {str(tmp).encode(), os.path.realpath(tmp).encode()}
    new = str(final).encode()
    # the random temp name also shows up alone, e.g. in activate scripts' prompts
    old_name, new_name = tmp.name.encode(), final.name.encode()
    files = [tmp / "pyvenv.cfg", *(sorted(bin_dir.iterdir()) if bin_dir.is_dir() else [])]
    for path in files:
        if path.is_symlink():
            target = os.readlink(path)
            for old in olds:
                if target.encode().startswith(old):
                    path.unlink()
                    path.symlink_to(os.fsdecode(new + target.encode()[len(old) :]))
                    break
            continue
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192] or old_name not in data:
            continue
        for old in sorted(olds, key=len, reverse=True):
            data = data.replace(old, new)
        data = data.replace(old_name, new_name)
        mode = path.stat().st_mode
        path.write_bytes(data)
        path.chmod(mode)


def _verify(final: Path, python: Path) -> None:
    """The moved environment still has what makes its python start as this env.

    A virtual environment's interpreter finds its prefix through ``pyvenv.cfg`` beside
    its ``bin`` directory, and ``bin/python`` links to (or is) the base interpreter;
    both are checked on disk, without starting the interpreter (a cold build is short
    enough that 15 ms of interpreter start matters).
    """
    problem = None
    if not (final / "pyvenv.cfg").is_file():
        problem = "it has no pyvenv.cfg"
    elif not python.exists():  # follows the symlink to the base interpreter
        problem = f"{python} is missing or points nowhere"
    if problem is not None:
        _remove_tree(final)
        raise EnvBuildError(
            f"the new environment does not work after moving it into place: {problem}",
            path=final,
        )


def _remove_tree(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        with contextlib.suppress(OSError):
            path.unlink()
        return
    shutil.rmtree(path, ignore_errors=True)


# -- listing and pruning ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CachedEnv:
    """One directory in the cache, usable or not."""

    name: str
    path: Path
    manifest: Manifest | None  # None when the manifest is missing or invalid
    problem: str | None  # why the manifest is unusable

    def size(self) -> int:
        """Bytes on disk (files only, symlinks not followed)."""
        total = 0
        for root, _dirs, files in os.walk(self.path):
            for name in files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(root, name)).st_size
        return total


#: Directories of the cache that hold records, not environments: interpreter facts
#: (:mod:`.._facts`) and installer versions (:mod:`.backends._versions`).
NOT_ENVS = frozenset({"interpreters", "tools"})


def list_envs(cache_dir: Path) -> list[CachedEnv]:
    """Every env directory in ``cache_dir`` (not temp dirs), sorted by name."""
    found: list[CachedEnv] = []
    try:
        entries = sorted(os.scandir(cache_dir), key=lambda e: e.name)
    except OSError:
        return found
    for entry in entries:
        if entry.name.startswith(".") or entry.name in NOT_ENVS:
            continue
        if not entry.is_dir(follow_symlinks=False):
            continue
        path = Path(entry.path)
        try:
            found.append(CachedEnv(entry.name, path, read_manifest(path), None))
        except InvalidManifest as exc:
            found.append(CachedEnv(entry.name, path, None, str(exc)))
    return found


def prune(
    cache_dir: Path,
    keep_keys: frozenset[str] | set[str],
    *,
    all: bool = False,
    dry_run: bool = False,
) -> list[Path]:
    """Remove envs whose key is not in ``keep_keys`` (every env with ``all``), envs without
    a valid manifest, and half-built leftovers whose builder is gone. Layer envs that a kept
    env reads from are kept. Envs being built right now are left alone. Returns what was
    (or, with ``dry_run``, would be) removed."""
    envs = list_envs(cache_dir)
    keep: set[str] = set()
    if not all:
        for env in envs:
            if env.manifest is not None and env.manifest.key in keep_keys:
                keep.add(env.name)
                keep.update(env.manifest.attached)
    removed: list[Path] = []
    for env in envs:
        if env.name in keep:
            continue
        if dry_run:
            if _lock_is_free(cache_dir, env.name):
                removed.append(env.path)
            continue
        lock = FileLock(str(cache_dir / f"{env.name}.lock"), thread_local=False)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            continue  # being built or rebuilt by another process right now
        try:
            aside = cache_dir / f".{env.name}{_DEL}{secrets.token_hex(6)}"
            try:
                os.rename(env.path, aside)
            except OSError:
                continue
            _remove_tree(aside)
            removed.append(env.path)
            with contextlib.suppress(OSError):
                (cache_dir / f"{env.name}.lock").unlink()
        finally:
            lock.release()
    with contextlib.suppress(OSError):
        for entry in sorted(os.scandir(cache_dir), key=lambda e: e.name):
            leftover = Path(entry.path)
            if entry.name.startswith(".") and _DEL in entry.name:
                removed.append(leftover)
            elif entry.name.startswith(".") and _TMP in entry.name:
                owner = entry.name[1 : entry.name.index(_TMP)]
                if not _lock_is_free(cache_dir, owner):
                    continue
                removed.append(leftover)
            else:
                continue
            if not dry_run:
                _remove_tree(leftover)
    return removed
