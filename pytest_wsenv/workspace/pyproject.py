"""Read one ``pyproject.toml`` the way uv reads it for a workspace, with typed getters.

Every getter checks the type of what it reads and reports a wrong one as a
:class:`~pytest_wsenv.errors.ConfigError` naming the file and the dotted key, e.g.
``packages/seeds/pyproject.toml: project.optional-dependencies.torch must be a list of
strings``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from ..errors import ConfigError

__all__ = ["ProjectFile", "Table", "is_workspace_source", "read_pyproject", "workspace_table"]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+\Z")
# PEP 508 names, which is also what PEP 735 and uv require of extras and group names
_NAME = re.compile(r"([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])\Z", re.IGNORECASE)

DefaultGroups = tuple[str, ...] | Literal["all"]


def _join(where: str, key: str) -> str:
    part = key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)
    return f"{where}.{part}" if where else part


class Table:
    """A TOML table read from ``file`` at the dotted key ``where``."""

    __slots__ = ("data", "file", "where")

    def __init__(self, data: Mapping[str, Any], file: Path, where: str = "") -> None:
        self.data = data
        self.file = file
        self.where = where

    def key(self, key: str) -> str:
        """The dotted path of ``key`` in this table, quoted where TOML would quote it."""
        return _join(self.where, key)

    def at(self, key: str, index: int) -> str:
        """The dotted path of item ``index`` of the array ``key``."""
        return f"{self.key(key)}[{index}]"

    def error(self, key: str, message: str) -> ConfigError:
        return self.fail(self.key(key), message)

    def fail(self, location: str, message: str) -> ConfigError:
        return ConfigError(f"{location} {message}", path=self.file)

    def items(self) -> Iterator[tuple[str, Any]]:
        return iter(self.data.items())

    def table(self, key: str) -> Table | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.error(key, "must be a table")
        return Table(value, self.file, self.key(key))

    def string(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, str):
            raise self.error(key, "must be a string")
        return value

    def boolean(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, bool):
            raise self.error(key, "must be true or false")
        return value

    def strings(self, key: str) -> tuple[str, ...] | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self.error(key, "must be a list of strings")
        return tuple(value)

    def name(self, key: str, value: str, what: str) -> str:
        """``value`` (found at ``key``) checked as a PEP 508 name and normalized."""
        if not _NAME.match(value):
            raise self.error(key, f"is not a valid {what} name: {value!r}")
        return canonicalize_name(value)


def workspace_table(doc: Table) -> Table | None:
    """``[tool.uv.workspace]`` of ``doc``, if any."""
    tool = doc.table("tool")
    uv = tool.table("uv") if tool is not None else None
    return uv.table("workspace") if uv is not None else None


def is_workspace_source(source: Any) -> bool:
    """True for ``{ workspace = true }`` (or a list of sources with one such entry)."""
    entries = source if isinstance(source, list) else [source]
    return any(isinstance(entry, dict) and entry.get("workspace") is True for entry in entries)


@dataclass(frozen=True, slots=True)
class ProjectFile:
    """What uv reads from one ``pyproject.toml``; names normalized, types checked."""

    path: Path
    project: Mapping[str, Any] | None  # the raw [project] table
    name: str | None
    dependencies: tuple[str, ...]
    dynamic_dependencies: bool
    extras: Mapping[str, tuple[str, ...]]
    groups: Mapping[str, tuple[str, ...]]  # include-group expanded, legacy dev merged
    default_groups: DefaultGroups
    sources: Mapping[str, Any]  # this file's own [tool.uv.sources]
    requires_python: SpecifierSet | None
    package: bool
    managed: bool
    # ([tool.uv.workspace].members, .exclude) or None without a workspace table
    workspace: tuple[tuple[str, ...], tuple[str, ...]] | None
    conflicts: tuple[tuple[Mapping[str, str], ...], ...]
    uv_settings: Mapping[str, Any]
    # normalized name of every requirement -> dotted key of its first use
    requirements: Mapping[str, str]


def _requirement(location: str, table: Table, text: str, found: dict[str, str]) -> None:
    try:
        name = canonicalize_name(Requirement(text).name)
    except InvalidRequirement as exc:
        raise table.fail(location, f"is not a valid requirement: {text!r} ({exc})") from exc
    found.setdefault(name, location)


def _requirement_list(table: Table, key: str, found: dict[str, str]) -> tuple[str, ...]:
    items = table.strings(key) or ()
    for index, text in enumerate(items):
        _requirement(table.at(key, index), table, text, found)
    return items


def _extras(project: Table | None, found: dict[str, str]) -> dict[str, tuple[str, ...]]:
    table = project.table("optional-dependencies") if project is not None else None
    if table is None:
        return {}
    extras: dict[str, tuple[str, ...]] = {}
    for key in table.data:
        name = table.name(key, key, "extra")
        if name in extras:
            raise table.error(key, f"repeats extra {name!r} (extra names are compared normalized)")
        extras[name] = _requirement_list(table, key, found)
    return extras


def _groups(
    doc: Table, legacy_dev: tuple[str, ...], found: dict[str, str]
) -> dict[str, tuple[str, ...]]:
    """PEP 735 ``[dependency-groups]`` with ``include-group`` expanded."""
    table = doc.table("dependency-groups")
    if table is None:
        return {"dev": legacy_dev} if legacy_dev else {}
    declared: dict[str, tuple[str, list[Any]]] = {}
    for key, value in table.items():
        name = table.name(key, key, "dependency group")
        if name in declared:
            raise table.error(key, f"repeats group {name!r} (group names are compared normalized)")
        if not isinstance(value, list):
            raise table.error(
                key, "must be a list of requirement strings and {include-group = ...} tables"
            )
        declared[name] = (key, value)

    expanded: dict[str, tuple[str, ...]] = {}

    def expand(name: str, chain: tuple[str, ...]) -> tuple[str, ...]:
        if name in expanded:
            return expanded[name]
        assert table is not None  # for mypy: checked above, captured here
        key, items = declared[name]
        out: list[str] = []
        for index, item in enumerate(items):
            where = table.at(key, index)
            if isinstance(item, str):
                _requirement(where, table, item, found)
                out.append(item)
                continue
            include = item.get("include-group") if isinstance(item, dict) else None
            if not isinstance(item, dict) or len(item) != 1 or not isinstance(include, str):
                raise table.fail(
                    where, "must be a requirement string or a table {include-group = NAME}"
                )
            if not _NAME.match(include):
                raise table.fail(where, f"includes {include!r}, which is not a valid group name")
            included = canonicalize_name(include)
            if included in chain:
                cycle = " -> ".join([*chain[chain.index(included) :], included])
                raise table.error(key, f"includes itself through include-group: {cycle}")
            if included not in declared:
                raise table.error(key, f"includes unknown group {include!r} (include-group)")
            out.extend(expand(included, (*chain, included)))
        expanded[name] = tuple(out)
        return expanded[name]

    for name in declared:
        expand(name, (name,))
    if legacy_dev:
        expanded["dev"] = (*expanded.get("dev", ()), *legacy_dev)
    return expanded


def _default_groups(uv: Table | None, groups: Mapping[str, tuple[str, ...]]) -> DefaultGroups:
    raw = uv.data.get("default-groups") if uv is not None else None
    if raw is None:
        return ("dev",)
    assert uv is not None
    if raw == "all":
        return "all"
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise uv.error("default-groups", 'must be a list of group names or "all"')
    names = tuple(uv.name("default-groups", item, "dependency group") for item in raw)
    for name in names:
        if name not in groups:
            raise uv.error(
                "default-groups",
                f"names group {name!r}, which is not defined in [dependency-groups]",
            )
    return names


def _sources(uv: Table | None) -> dict[str, Any]:
    table = uv.table("sources") if uv is not None else None
    if table is None:
        return {}
    sources: dict[str, Any] = {}
    for key, value in table.items():
        name = table.name(key, key, "package")
        if name in sources:
            raise table.error(
                key, f"repeats the source of {name!r} (names are compared normalized)"
            )
        entries = value if isinstance(value, list) else [value]
        if not isinstance(value, dict | list) or not all(isinstance(e, dict) for e in entries):
            raise table.error(key, "must be a table or a list of tables")
        for index, entry in enumerate(entries):
            flag = entry.get("workspace")
            if flag is not None and not isinstance(flag, bool):
                where = table.at(key, index) if isinstance(value, list) else table.key(key)
                raise table.fail(f"{where}.workspace", "must be true or false")
        sources[name] = value
    return sources


def _conflicts(uv: Table | None) -> tuple[tuple[Mapping[str, str], ...], ...]:
    raw = uv.data.get("conflicts") if uv is not None else None
    if raw is None:
        return ()
    assert uv is not None
    shape_ok = isinstance(raw, list) and all(
        isinstance(group, list)
        and all(
            isinstance(item, dict) and all(isinstance(v, str) for v in item.values())
            for item in group
        )
        for group in raw
    )
    if not shape_ok:
        raise uv.error(
            "conflicts", 'must be a list of lists of tables like {extra = "a"} or {group = "b"}'
        )
    return tuple(tuple(MappingProxyType(dict(item)) for item in group) for group in raw)


def _workspace(doc: Table) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    table = workspace_table(doc)
    if table is None:
        return None
    return table.strings("members") or (), table.strings("exclude") or ()


def read_pyproject(data: Mapping[str, Any], path: Path) -> ProjectFile:
    """Check and extract everything the workspace model needs from one parsed file."""
    doc = Table(data, path)
    project = doc.table("project")
    tool = doc.table("tool")
    uv = tool.table("uv") if tool is not None else None
    found: dict[str, str] = {}

    name: str | None = None
    dependencies: tuple[str, ...] = ()
    dynamic: tuple[str, ...] = ()
    requires_python: SpecifierSet | None = None
    if project is not None:
        raw_name = project.string("name")
        if raw_name is None:
            raise project.error("name", "is missing; every project needs a name")
        name = project.name("name", raw_name, "project")
        dynamic = project.strings("dynamic") or ()
        if "dependencies" not in dynamic:
            dependencies = _requirement_list(project, "dependencies", found)
        spec = project.string("requires-python")
        if spec is not None:
            try:
                requires_python = SpecifierSet(spec)
            except InvalidSpecifier as exc:
                raise project.error(
                    "requires-python", f"is not a valid version specifier: {spec!r}"
                ) from exc

    extras = _extras(project, found) if "optional-dependencies" not in dynamic else {}
    legacy = _requirement_list(uv, "dev-dependencies", found) if uv is not None else ()
    groups = _groups(doc, legacy, found)
    build_system = doc.table("build-system")
    package = uv.boolean("package") if uv is not None else None
    managed = uv.boolean("managed") if uv is not None else None
    return ProjectFile(
        path=path,
        project=MappingProxyType(project.data) if project is not None else None,
        name=name,
        dependencies=dependencies,
        dynamic_dependencies="dependencies" in dynamic,
        extras=MappingProxyType(extras),
        groups=MappingProxyType(groups),
        default_groups=_default_groups(uv, groups),
        sources=MappingProxyType(_sources(uv)),
        requires_python=requires_python,
        package=package if package is not None else build_system is not None,
        managed=managed is not False,
        workspace=_workspace(doc),
        conflicts=_conflicts(uv),
        uv_settings=MappingProxyType(uv.data if uv is not None else {}),
        requirements=MappingProxyType(found),
    )
