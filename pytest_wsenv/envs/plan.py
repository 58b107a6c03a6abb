"""Turn a lock closure and the workspace's ``[tool.uv]`` index settings into an InstallPlan.

What each pin becomes (the lines ``uv export`` would write, ready for ``--no-deps``):

- registry pins: ``name==version`` plus ``--hash=<h>`` for every hash the lock records
  (all wheels and the sdist, so the installer may pick any compatible file). Pins from a
  local find-links directory (the lock records ``{ registry = "<dir>" }`` and
  ``{ path = ... }`` artifacts, usually without hashes) are ``name==version`` too, with
  the directory added to ``find_links``: the installer picks the wheel that fits the
  interpreter exactly as ``uv sync`` would, without us re-implementing tag matching.
- git / url / path / non-editable directory sources: ``name @ <url>`` (from
  :meth:`~pytest_wsenv.lock.Pin.requirement`), with hashes when the lock records them.
- workspace members and other editable sources: ``editables`` (absolute directories).
- ``source = { virtual }`` members are not in closures; should one appear it is skipped.

``require_hashes`` is set only when there is at least one third-party requirement and
every one carries a hash. Packages named in ``no_install`` (``--ws-no-install-package``,
like uv's ``--no-install-package``) are left out.

Index settings come from the root's ``[tool.uv]``: ``index-url``, ``extra-index-url``,
``find-links``, ``no-index`` and ``[[tool.uv.index]]`` (``default = true`` replaces the
default index, ``format = "flat"`` is a find-links location, the others are extra
indexes), plus every registry the closure's pins were locked from. Relative paths are
made absolute against the workspace root.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from ..errors import ConfigError
from ..lock import Closure, Pin
from ..target import Target
from ..workspace import Workspace
from .backends.base import IndexSettings, InstallPlan

__all__ = ["PYPI_SIMPLE", "index_settings", "plan_for", "sync_flags"]

#: The default package index (what "no index configured" means for uv and pip).
PYPI_SIMPLE = "https://pypi.org/simple"


def plan_for(
    closure: Closure, workspace: Workspace, *, offline: bool, no_install: frozenset[str]
) -> InstallPlan:
    """The exact install plan of ``closure`` (see the module docstring)."""
    root = workspace.root
    skipped = {canonicalize_name(name) for name in no_install}
    pins = [
        pin
        for pin in closure.pins
        if canonicalize_name(pin.name) not in skipped and pin.source_kind != "virtual"
    ]
    requirements: list[str] = []
    editables: list[Path] = []
    all_hashed = True
    for pin in pins:
        if pin.editable:
            editables.append(_absolute(root, pin.source))
            continue
        hashes = pin.hashes
        all_hashed = all_hashed and bool(hashes)
        requirements.append(" ".join([pin.requirement(root), *(f"--hash={h}" for h in hashes)]))
    return InstallPlan(
        requirements=tuple(requirements),
        editables=tuple(editables),
        index=index_settings(workspace, pins, offline=offline),
        require_hashes=bool(requirements) and all_hashed,
        origin="uv.lock",
    )


def sync_flags(target: Target, no_install: frozenset[str]) -> tuple[str, ...]:
    """``target`` as the selection flags of ``uv sync`` (the same as ``uv export``'s)."""
    flags: list[str] = []
    for package in target.packages:
        flags += ["--package", package]
    if target.all_packages:
        flags.append("--all-packages")
    for extra in target.extras:
        flags += ["--extra", extra]
    if target.all_extras:
        flags.append("--all-extras")
    for group in target.groups:
        flags += ["--group", group]
    for group in target.only_groups:
        flags += ["--only-group", group]
    if target.all_groups:
        flags.append("--all-groups")
    if target.no_dev:
        flags.append("--no-dev")
    if target.no_default_groups:
        flags.append("--no-default-groups")
    for name in sorted(no_install):
        flags += ["--no-install-package", name]
    return tuple(flags)


def index_settings(
    workspace: Workspace, pins: Iterable[Pin] = (), *, offline: bool = False
) -> IndexSettings:
    """Index settings of ``workspace`` plus the registries ``pins`` were locked from."""
    root = workspace.root
    where = workspace.root_pyproject
    settings = workspace.uv_settings
    index_url = _string(settings, "index-url", where)
    extras: list[str] = list(_strings(settings, "extra-index-url", where))
    links: list[str] = [_location(root, s) for s in _strings(settings, "find-links", where)]
    no_index = _boolean(settings, "no-index", where)
    raw_indexes = settings.get("index", [])
    if not isinstance(raw_indexes, list):
        raise ConfigError("tool.uv.index must be an array of tables", path=where)
    for position, entry in enumerate(raw_indexes):
        key = f"tool.uv.index[{position}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{key} must be a table", path=where)
        url = _string(entry, "url", where, prefix=key)
        if url is None:
            raise ConfigError(f"{key}.url is required", path=where)
        url = _location(root, url)
        if entry.get("format", "simple") == "flat":
            links.append(url)
        elif _boolean(entry, "default", where, prefix=key):
            index_url = url
        elif not _boolean(entry, "explicit", where, prefix=key):
            extras.append(url)
        # an explicit index serves only the packages pinned to it: added below when used
    known = {_norm(u) for u in (index_url or PYPI_SIMPLE, *extras, *links)}
    for pin in pins:
        if pin.source_kind != "registry":
            continue
        location = _location(root, pin.source)
        if _norm(location) in known:
            continue
        known.add(_norm(location))
        # a remote registry is an index; a local directory is a find-links location
        (extras if "://" in location else links).append(location)
    return IndexSettings(
        index_url=index_url,
        extra_index_urls=_unique(extras),
        find_links=_unique(links),
        no_index=no_index,
        offline=offline,
    )


def _absolute(root: Path, relative: str) -> Path:
    return Path(os.path.normpath(root / relative))


def _location(root: Path, value: str) -> str:
    """A URL as written; a local path made absolute against ``root``."""
    if "://" in value:
        return value
    return str(_absolute(root, os.path.expanduser(value)))


def _norm(url: str) -> str:
    return url.rstrip("/")


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for value in values:
        seen.setdefault(_norm(value), value)
    return tuple(seen.values())


def _string(
    table: Mapping[str, Any], key: str, where: Path, *, prefix: str = "tool.uv"
) -> str | None:
    value = table.get(key)
    if value is None or isinstance(value, str):
        return value
    raise ConfigError(f"{prefix}.{key} must be a string, not {type(value).__name__}", path=where)


def _strings(table: Mapping[str, Any], key: str, where: Path) -> tuple[str, ...]:
    value = table.get(key, [])
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"tool.uv.{key} must be a list of strings", path=where)


def _boolean(table: Mapping[str, Any], key: str, where: Path, *, prefix: str = "tool.uv") -> bool:
    value = table.get(key, False)
    if isinstance(value, bool):
        return value
    raise ConfigError(f"{prefix}.{key} must be true or false", path=where)
