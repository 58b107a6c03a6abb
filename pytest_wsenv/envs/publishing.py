"""Building an env beside the cache and publishing it atomically: the temp directory of
a build (and the link at the final path that uv builds through), removing a failed build,
and :func:`publish`, which relocates, fingerprints, writes the manifest last and renames
the env into place. The caller holds the file lock of the env name (:data:`build_lock`)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import EnvBuildError
from ._locks import DEL, TMP, clear_leftovers, key_lock, remove_tree
from .backends._private import make_dirs
from .manifest import (
    MANIFEST_FORMAT,
    Manifest,
    fingerprint,
    listing,
    manifest_from,
    site_packages_of,
    write_manifest,
)

__all__ = ["abandon", "build_lock", "build_path", "checkpoint", "new_temp_dir", "publish"]

#: Test hook: called with a stage name ("created", "installed", "manifest", "rename") while
#: an env is built, so reliability tests can kill a builder at a known point. Never set by
#: pytest-wsenv itself.
_checkpoint: Callable[[str], None] | None = None


def checkpoint(stage: str) -> None:
    if _checkpoint is not None:
        _checkpoint(stage)


#: Hold the file lock of one env name (see :mod:`._locks`).
build_lock = key_lock


def new_temp_dir(cache_dir: Path, name: str) -> Path:
    """A fresh path beside the final env to build into (not created). The caller holds the
    lock of ``name``, so what killed builders of ``name`` left (their installers, temp
    dirs, and a link at the final path) is ended and removed first."""
    clear_leftovers(cache_dir, name)
    return cache_dir / f".{name}{TMP}{secrets.token_hex(6)}"


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
    remove_tree(tmp)


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
        aside = cache_dir / f".{name}{DEL}{secrets.token_hex(6)}"
        os.rename(final, aside)
        remove_tree(aside)
    os.rename(tmp, final)
    _verify(final, final / python_rel)
    return manifest_from(final, json.loads(text))  # exactly what a later read will see


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
        remove_tree(final)
        raise EnvBuildError(
            f"the new environment does not work after moving it into place: {problem}",
            path=final,
        )
