"""Where the environment cache lives and who may write it: ``--ws-cache-dir`` and its
fallbacks, the cache directory's markers (``CACHEDIR.TAG``, ``.gitignore``), and the
refusal of a cache that another user owns or that others may write."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..errors import EnvBuildError
from .backends._faults import fault_error
from .backends._private import OTHERS_WRITE, make_dirs, write_file

__all__ = ["CACHEDIR_TAG", "check_cache_dir", "ensure_cache_dir", "resolve_cache_dir"]

CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by pytest-wsenv.\n"
    "# For information about cache directory tags, see https://bford.info/cachedir/\n"
)
_ENV_VAR = "PYTEST_WSENV_CACHE_DIR"


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
