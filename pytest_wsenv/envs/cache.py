"""The on-disk environment cache and what is in it: listing, pruning, marking an env broken,
and the ``current/`` links; the one place callers import the cache's names from.

The cache's other jobs live beside it and are re-exported here: where it is and who may
write it (:mod:`.cachedir`), building and publishing an env (:mod:`.publishing`), the
manifest (:mod:`.manifest`) and the file locks and leftovers of killed builds
(:mod:`._locks`).

Layout of a cache directory (default ``<workspace root>/.wsenv/``)::

    CACHEDIR.TAG  .gitignore            marks the directory as a cache, ignored by git
    <name>/                             a ready env; ``wsenv-manifest.json`` inside, written last
    <name> -> .<name>.tmp-<random>      while ``uv sync`` builds: a link, never a ready env
    <name>.lock                         the file lock of one env name (one key)
    .<name>.tmp-<random>/               an env being built (or left by a killed builder)
    .<name>.tmp-<random>.installer      the process group of its running installer
    .<name>.del-<random>/               an env being removed
    interpreters/                       interpreter facts (see ``interpreters.py``)

A directory without a valid manifest is never used. A manifest is valid when it parses,
names this key and this directory (a real one, not a link), its interpreter still exists
and the env's site-packages listing still has the fingerprint recorded at build time.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from ._locks import (
    DEL,
    TMP,
    clear_leftovers,
    installer_record,
    owner_of,
    remove_tree,
    sweep_killed_builds,
    try_key_lock,
)
from .backends._private import make_dirs
from .cachedir import CACHEDIR_TAG, check_cache_dir, ensure_cache_dir, resolve_cache_dir
from .manifest import (
    LAST_USED,
    MANIFEST,
    MANIFEST_FORMAT,
    InvalidManifest,
    Manifest,
    broken_reason,
    check,
    fingerprint,
    read_manifest,
    site_packages_of,
    write_manifest,
)
from .publishing import abandon, build_lock, build_path, checkpoint, new_temp_dir, publish

__all__ = [
    "CACHEDIR_TAG",
    "LAST_USED",
    "MANIFEST",
    "MANIFEST_FORMAT",
    "NOT_ENVS",
    "CachedEnv",
    "InvalidManifest",
    "Manifest",
    "abandon",
    "build_lock",
    "build_path",
    "check",
    "check_cache_dir",
    "checkpoint",
    "ensure_cache_dir",
    "fingerprint",
    "installer_record",
    "link_current",
    "list_envs",
    "mark_broken",
    "new_temp_dir",
    "prune",
    "publish",
    "read_manifest",
    "resolve_cache_dir",
    "site_packages_of",
    "sweep_killed_builds",
    "try_key_lock",
]

_TMP = TMP
_UNFINISHED = "a build that did not finish (a link to its temporary directory)"
_DEL = DEL
_remove_tree = remove_tree


def mark_broken(cache_dir: Path, name: str, key: str, reason: str) -> bool:
    """Record in env ``name``'s manifest that it cannot be used (``reason``), so that the
    next :func:`check` refuses it and it is rebuilt. Only when the manifest still names
    ``key`` (a rebuilt env is left alone). The caller holds the lock of ``name``.
    Returns whether the mark was written."""
    where = cache_dir / name
    try:
        raw = json.loads((where / MANIFEST).read_bytes())
    except (OSError, ValueError):
        return False  # no manifest: never reused anyway
    if not isinstance(raw, dict) or raw.get("key") != key or where.is_symlink():
        return False
    raw["broken"] = " ".join(reason.split())
    write_manifest(where, raw)
    return True


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
NOT_ENVS = frozenset({"current", "interpreters", "tools"})


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
        path = Path(entry.path)
        if entry.is_symlink():  # left by a build killed before it published
            found.append(CachedEnv(entry.name, path, None, _UNFINISHED))
            continue
        if not entry.is_dir(follow_symlinks=False):
            continue
        try:
            manifest = read_manifest(path)
            found.append(CachedEnv(entry.name, path, manifest, broken_reason(manifest.raw)))
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
        with try_key_lock(cache_dir, env.name) as held:
            if not held:
                continue  # being built or rebuilt by another process right now
            if dry_run:
                removed.append(env.path)
                continue
            aside = cache_dir / f".{env.name}{_DEL}{secrets.token_hex(6)}"
            try:
                os.rename(env.path, aside)
            except OSError:
                continue
            _remove_tree(aside)
            removed.append(env.path)
    try:
        entries = sorted(os.listdir(cache_dir))
    except OSError:
        entries = []
    for entry in entries:
        if entry.startswith(".") and _DEL in entry:
            removed.append(cache_dir / entry)
            if not dry_run:
                _remove_tree(cache_dir / entry)
    for owner in sorted({o for o in map(owner_of, entries) if o is not None}):
        with try_key_lock(cache_dir, owner) as held:
            if not held:
                continue
            if dry_run:
                removed += sorted(cache_dir.glob(f".{owner}{_TMP}*"))
            else:
                removed += clear_leftovers(cache_dir, owner)
    if not dry_run:
        _prune_lock_files(cache_dir, keep)
    return removed


def _prune_lock_files(cache_dir: Path, keep: set[str]) -> None:
    """Remove ``<name>.lock`` files of names with no env and no build under way (not
    listed: they are bookkeeping).

    Each is removed while held: a process waiting on it notices once it gets the lock
    that the path no longer names the file it locked, and locks the new one (see
    :mod:`._locks`), so removing never lets two builders of one name in.
    """
    try:
        names = sorted(n[: -len(".lock")] for n in os.listdir(cache_dir) if n.endswith(".lock"))
    except OSError:
        return
    for name in names:
        if name in keep or os.path.lexists(cache_dir / name) or name.startswith("."):
            continue
        path = cache_dir / f"{name}.lock"
        with try_key_lock(cache_dir, name) as held:
            if not held or os.path.lexists(cache_dir / name):
                continue
            if not any(cache_dir.glob(f".{name}{_TMP}*")):
                with contextlib.suppress(OSError):
                    path.unlink()


def link_current(cache_dir: Path, short_name: str, env: Path) -> Path:
    """Point ``<cache>/current/<short_name>`` at ``env`` (replaced atomically) and return the
    link: a stable path an editor or a shell can use for a member's current environment."""
    links = cache_dir / "current"
    make_dirs(links)
    link = links / short_name
    scratch = links / f".{short_name}.{os.getpid()}.tmp"
    scratch.unlink(missing_ok=True)
    scratch.symlink_to(os.path.relpath(env, links), target_is_directory=True)
    os.replace(scratch, link)
    return link
