"""The on-disk environment cache: layout, manifests, locking, atomic publish, list/prune.

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
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import EnvBuildError
from ._locks import (
    DEL,
    TMP,
    clear_leftovers,
    installer_record,
    key_lock,
    owner_of,
    remove_tree,
    sweep_killed_builds,
    try_key_lock,
)
from .backends._faults import fault_error
from .backends._private import OTHERS_WRITE, make_dirs, write_file
from .manifest import (
    LAST_USED,
    MANIFEST,
    MANIFEST_FORMAT,
    InvalidManifest,
    Manifest,
    broken_reason,
    check,
    fingerprint,
    listing,
    manifest_from,
    read_manifest,
    site_packages_of,
    write_manifest,
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

CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by pytest-wsenv.\n"
    "# For information about cache directory tags, see https://bford.info/cachedir/\n"
)
_ENV_VAR = "PYTEST_WSENV_CACHE_DIR"
_TMP = TMP
_UNFINISHED = "a build that did not finish (a link to its temporary directory)"
_DEL = DEL
_remove_tree = remove_tree

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
    """Create ``cache_dir`` with ``CACHEDIR.TAG`` and a ``.gitignore`` of ``*``; see
    :func:`check_cache_dir` for what an existing one must be."""
    try:
        make_dirs(cache_dir)
        check_cache_dir(cache_dir)
        for name, text in ((".gitignore", "*\n"), ("CACHEDIR.TAG", CACHEDIR_TAG)):
            target = cache_dir / name
            if not target.exists():
                write_file(target, text)
    except OSError as exc:
        found = fault_error(exc, cache_dir, "creating the environment cache")
        raise found or EnvBuildError(
            f"cannot create the environment cache: {exc.strerror or exc}; pass --ws-cache-dir "
            "to use another directory",
            path=cache_dir,
        ) from exc
    return cache_dir


def check_cache_dir(cache_dir: Path) -> None:
    """The cache directory (when it exists) must be ours and writable by nobody else:
    EnvBuildError when another user owns it; group and other write bits are cleared.

    Another user's cache holds code that the next run would import as ours, and a
    directory others may write is one where anyone could plant it.
    """
    try:
        info = os.stat(cache_dir)
    except FileNotFoundError:
        return
    uid = getattr(os, "geteuid", None)
    if uid is not None and info.st_uid != uid():
        owner = _user_name(info.st_uid)
        raise EnvBuildError(
            f"the environment cache belongs to another user ({owner}) and pytest-wsenv "
            "does not run code from it; use a cache of your own with --ws-cache-dir or "
            "PYTEST_WSENV_CACHE_DIR (see docs/reliability.md, sharing a cache)",
            path=cache_dir,
        )
    if os.name == "posix" and info.st_mode & OTHERS_WRITE:
        with contextlib.suppress(OSError):  # read-only: nobody can plant anything either
            os.chmod(cache_dir, info.st_mode & 0o7777 & ~OTHERS_WRITE)


def _user_name(uid: int) -> str:
    try:
        import pwd

        return f"{pwd.getpwuid(uid).pw_name}, uid {uid}"
    except (ImportError, KeyError):
        return f"uid {uid}"


# -- building and publishing -------------------------------------------------------------


#: Hold the file lock of one env name (see :mod:`._locks`).
build_lock = key_lock


def new_temp_dir(cache_dir: Path, name: str) -> Path:
    """A fresh path beside the final env to build into (not created). The caller holds the
    lock of ``name``, so what killed builders of ``name`` left (their installers, temp
    dirs, and a link at the final path) is ended and removed first."""
    clear_leftovers(cache_dir, name)
    return cache_dir / f".{name}{_TMP}{secrets.token_hex(6)}"


def build_path(cache_dir: Path, name: str, tmp: Path) -> Path:
    """Where an installer that writes absolute paths into the env should build ``tmp``.

    That is the final path ``<cache_dir>/<name>``, made a symbolic link to ``tmp`` (created
    empty) for the time of the build, when nothing is there: every script and activator
    then names the final location, and :func:`publish` has nothing to rewrite (uv keeps
    the path it is given; it does not resolve the link). The link is never taken for a
    ready env (:func:`~.manifest.check` refuses links) and is replaced by ``tmp`` itself
    when it is published. Falls back to ``tmp`` when the final path is taken (a rebuild
    keeps the old env in place until the new one is ready) or links cannot be made. The
    caller holds the lock of ``name``.
    """
    make_dirs(tmp)
    final = cache_dir / name
    if os.name == "nt" or os.path.lexists(final):
        return tmp
    try:
        os.symlink(tmp.name, final, target_is_directory=True)
    except OSError:
        return tmp
    return final


def abandon(cache_dir: Path, name: str, tmp: Path) -> None:
    """Remove a failed build of ``name`` in ``tmp`` and the link to it, if any."""
    final = cache_dir / name
    with contextlib.suppress(OSError):
        if final.is_symlink() and os.readlink(final) == tmp.name:
            final.unlink()
    _remove_tree(tmp)


def publish(
    cache_dir: Path,
    name: str,
    tmp: Path,
    record: Mapping[str, Any],
    *,
    python: Path,
    bin_dir: Path,
    attached: Sequence[str] = (),
    built_at: Path | None = None,
    site: Path | None = None,
) -> Manifest:
    """Make the env built in ``tmp`` the env ``name``, atomically.

    Rewrites the temp path in ``bin/`` scripts and ``pyvenv.cfg`` to the final path
    (unless the env was built at the final path, see :func:`build_path`, and its
    ``bin/activate`` does not name the temp directory),
    fingerprints site-packages, writes the manifest last, renames into place (an unusable
    env of the same name is moved aside first), then checks the final ``bin/python``
    exists and ``pyvenv.cfg`` is in place. ``record`` holds ``key``, ``kind``, ``label``,
    ``inputs``, ``interpreter`` and ``build`` (backend, backend_version, seconds,
    packages, layers). ``python`` and ``bin_dir`` lie under ``built_at`` (default
    ``tmp``); ``site`` is ``tmp``'s site-packages when the caller knows it.
    """
    final = cache_dir / name
    built_at = tmp if built_at is None else built_at
    through_link = built_at == final
    python_rel = python.relative_to(built_at)
    bin_rel = bin_dir.relative_to(built_at)
    if not through_link or _mentions(bin_dir / "activate", tmp.name):
        # an installer that resolved the link wrote the temp path after all
        _relocate(tmp, final, bin_dir)
    site = site_packages_of(tmp) if site is None else site
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
        "python": python_rel.as_posix(),
        "bin_dir": bin_rel.as_posix(),
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
    text = write_manifest(tmp, manifest)
    checkpoint("rename")
    if through_link:
        os.unlink(final)  # our own link: nobody takes it for a ready env
    elif final.exists() or final.is_symlink():
        aside = cache_dir / f".{name}{_DEL}{secrets.token_hex(6)}"
        os.rename(final, aside)
        _remove_tree(aside)
    os.rename(tmp, final)
    _verify(final, final / python_rel)
    return manifest_from(final, json.loads(text))  # exactly what a later read will see


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


def _mentions(path: Path, name: str) -> bool:
    """``path`` exists and contains ``name``."""
    try:
        return name.encode() in path.read_bytes()
    except OSError:
        return False


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
