"""Parse ``uv.lock`` text into frozen data, reporting a dotted key path on bad structure.

Only what the closure walk and the freshness check need is kept: packages with their
source, artifacts, dependency edges and ``[package.metadata]``, the ``[manifest]``, the
top-level ``resolution-markers`` and ``conflicts``. Marker strings are kept as text and
parsed lazily by :mod:`pytest_wsenv.lock.markers`, so loading stays fast.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from packaging.utils import canonicalize_name as _canonicalize_name

from ..errors import LockError
from ..workspace import TableReader, loads_toml

__all__ = [
    "SUPPORTED_VERSION",
    "ConflictItem",
    "DefaultGroups",
    "LockFile",
    "LockedArtifact",
    "LockedDep",
    "LockedPackage",
    "LockedSource",
    "MetaRequirement",
    "PackageMetadata",
    "parse_artifacts",
    "parse_lock",
]

SUPPORTED_VERSION = 1


@functools.lru_cache(maxsize=8192)
def canonicalize_name(name: str) -> str:
    return _canonicalize_name(name)


DefaultGroups = tuple[str, ...] | Literal["all"]
SourceKindName = Literal["registry", "editable", "virtual", "directory", "path", "git", "url"]
_SOURCE_KINDS: tuple[SourceKindName, ...] = (
    "registry",
    "editable",
    "virtual",
    "directory",
    "path",
    "git",
    "url",
)
# keys of a ``requires-dist`` entry that name where the requirement comes from
_META_SOURCE_KEYS = ("editable", "virtual", "directory", "path", "git", "url", "index")


@dataclass(frozen=True, slots=True)
class LockedSource:
    kind: SourceKindName
    value: str  # URL, path relative to the workspace root, or registry URL/dir
    subdirectory: str | None = None

    @property
    def key(self) -> str:
        sub = f"#{self.subdirectory}" if self.subdirectory else ""
        return f"{self.kind}={self.value}{sub}"


@dataclass(frozen=True, slots=True)
class LockedArtifact:
    url: str | None
    path: str | None
    hash: str | None
    filename: str


@dataclass(frozen=True, slots=True)
class LockedDep:
    """One dependency edge: which package (by name, and version/source when forked)."""

    name: str
    version: str | None
    source: str | None  # LockedSource.key, when given
    extras: tuple[str, ...]
    marker: str | None
    where: str  # dotted path of this entry, for error messages


@dataclass(frozen=True, slots=True)
class MetaRequirement:
    """A requirement as uv records it in ``[package.metadata]`` / ``[manifest]``."""

    name: str
    specifier: str
    marker: str | None
    extras: tuple[str, ...]
    source_kind: str | None  # editable/virtual/directory/path/git/url/index, or None
    source: str | None
    where: str


@dataclass(frozen=True, slots=True)
class PackageMetadata:
    requires_dist: tuple[MetaRequirement, ...] | None
    requires_dev: Mapping[str, tuple[MetaRequirement, ...]] | None
    provides_extras: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class LockedPackage:
    index: int
    name: str
    version: str | None
    source: LockedSource
    dependencies: tuple[LockedDep, ...]
    optional: Mapping[str, tuple[LockedDep, ...]]
    groups: Mapping[str, tuple[LockedDep, ...]]
    wheels: tuple[LockedArtifact, ...]
    sdist: LockedArtifact | None
    resolution_markers: tuple[str, ...]
    metadata: PackageMetadata | None
    where: str
    # uv.lock lines of ``wheels``/``sdist`` not parsed yet (see parse_artifacts); None
    # when ``wheels``/``sdist`` above were parsed with the rest
    artifact_text: str | None = None
    # tool.uv.default-groups as uv records it (revision 5+, only when not the default)
    default_groups: DefaultGroups | None = None

    @property
    def is_workspace_root(self) -> bool:
        return self.source.kind in ("editable", "virtual") and self.source.value in ("", ".")


@dataclass(frozen=True, slots=True)
class ConflictItem:
    package: str
    extra: str | None
    group: str | None

    def describe(self) -> str:
        if self.extra is not None:
            return f"{self.package}[{self.extra}]"
        if self.group is not None:
            return f"{self.package}:{self.group}"
        return self.package


@dataclass(frozen=True, slots=True)
class LockFile:
    version: int
    revision: int
    requires_python: str | None
    resolution_markers: tuple[str, ...]
    supported_markers: tuple[str, ...]
    conflicts: tuple[tuple[ConflictItem, ...], ...]
    members: tuple[str, ...]
    manifest_requirements: tuple[MetaRequirement, ...]
    manifest_groups: Mapping[str, tuple[MetaRequirement, ...]]
    default_groups: DefaultGroups | None  # the (virtual) root's, from [manifest]
    packages: tuple[LockedPackage, ...]


def _source(reader: TableReader) -> LockedSource:
    found = [kind for kind in _SOURCE_KINDS if reader.has(kind)]
    if len(found) != 1:
        expected = ", ".join(_SOURCE_KINDS)
        reader.fail(
            f"expected exactly one of {expected}" if found else f"missing one of {expected}"
        )
    kind = found[0]
    value = reader.data[kind]
    if kind == "registry" and isinstance(value, dict):  # ``{ registry = { url = ... } }``
        sub = reader.table("registry")
        assert sub is not None
        value = sub.opt_string("url") or sub.opt_string("path") or sub.fail("missing 'url'")
    if not isinstance(value, str):
        reader.fail(f"expected a string, got {type(value).__name__}", kind)
    return LockedSource(kind, value, reader.opt_string("subdirectory"))


def _dep(reader: TableReader) -> LockedDep:
    src = reader.table("source")
    return LockedDep(
        name=canonicalize_name(reader.string("name")),
        version=reader.opt_string("version"),
        source=_source(src).key if src is not None else None,
        extras=tuple(canonicalize_name(e) for e in reader.strings("extra")),
        marker=reader.opt_string("marker"),
        where=reader.where,
    )


def _meta_req(reader: TableReader) -> MetaRequirement:
    kind = next((k for k in _META_SOURCE_KEYS if reader.has(k)), None)
    source = None
    if kind is not None:
        raw = reader.data[kind]
        source = raw if isinstance(raw, str) else str(raw)
    return MetaRequirement(
        name=canonicalize_name(reader.string("name")),
        specifier=reader.opt_string("specifier") or "",
        marker=reader.opt_string("marker"),
        extras=tuple(canonicalize_name(e) for e in reader.strings("extras")),
        source_kind=kind,
        source=source,
        where=reader.where,
    )


def _basename(location: str) -> str:
    return location.split("#", 1)[0].split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def _artifact(reader: TableReader, source: LockedSource) -> LockedArtifact:
    url = reader.opt_string("url")
    path = reader.opt_string("path")
    filename = reader.opt_string("filename")
    if filename is None:
        # a url/path source's sdist records only its hash: the file is the source itself
        located = url or path or (source.value if source.kind in ("url", "path") else None)
        if located is None:
            reader.fail("missing 'url', 'path' or 'filename'")
        filename = _basename(located)
    return LockedArtifact(url=url, path=path, hash=reader.opt_string("hash"), filename=filename)


def _artifacts(
    reader: TableReader, source: LockedSource
) -> tuple[tuple[LockedArtifact, ...], LockedArtifact | None]:
    sdist = reader.table("sdist")
    wheels = tuple(_artifact(r, source) for r in reader.tables("wheels"))
    return wheels, (_artifact(sdist, source) if sdist is not None and sdist.data else None)


def _metadata(reader: TableReader | None) -> PackageMetadata | None:
    if reader is None:
        return None
    requires_dist = None
    if reader.has("requires-dist"):
        requires_dist = tuple(_meta_req(r) for r in reader.tables("requires-dist"))
    requires_dev: dict[str, tuple[MetaRequirement, ...]] | None = None
    dev_key = "requires-dev" if reader.has("requires-dev") else "dependency-groups"
    if reader.has(dev_key):
        requires_dev = {
            canonicalize_name(group): tuple(_meta_req(r) for r in reqs)
            for group, reqs in reader.table_of_tables(dev_key).items()
        }
    provides = None
    if reader.has("provides-extras"):
        provides = tuple(canonicalize_name(e) for e in reader.strings("provides-extras"))
    return PackageMetadata(requires_dist, requires_dev, provides)


def _default_groups(reader: TableReader) -> DefaultGroups | None:
    if not reader.has("default-groups"):
        return None
    if reader.data["default-groups"] == "all":
        return "all"
    return tuple(canonicalize_name(g) for g in reader.strings("default-groups"))


def _package(index: int, reader: TableReader, artifact_text: str | None) -> LockedPackage:
    name = canonicalize_name(reader.string("name"))
    src = reader.table("source")
    if src is None:
        reader.fail("missing 'source'")
    source = _source(src)
    wheels, sdist = _artifacts(reader, source)
    groups_key = "dev-dependencies" if reader.has("dev-dependencies") else "dependency-groups"
    return LockedPackage(
        index=index,
        name=name,
        version=reader.opt_string("version"),
        source=source,
        dependencies=tuple(_dep(r) for r in reader.tables("dependencies")),
        optional={
            canonicalize_name(extra): tuple(_dep(r) for r in deps)
            for extra, deps in reader.table_of_tables("optional-dependencies").items()
        },
        groups={
            canonicalize_name(group): tuple(_dep(r) for r in deps)
            for group, deps in reader.table_of_tables(groups_key).items()
        },
        wheels=wheels,
        sdist=sdist,
        resolution_markers=reader.strings("resolution-markers"),
        metadata=_metadata(reader.table("metadata")),
        where=reader.where,
        artifact_text=artifact_text,
        default_groups=_default_groups(reader),
    )


def _conflicts(top: TableReader) -> tuple[tuple[ConflictItem, ...], ...]:
    raw = top.data.get("conflicts", [])
    if not isinstance(raw, list):
        top.fail(f"expected an array of arrays, got {type(raw).__name__}", "conflicts")
    holder = TableReader({f"conflicts[{i}]": v for i, v in enumerate(raw)}, "", top.file)
    sets = []
    for i, item_list in enumerate(raw):
        if not isinstance(item_list, list):
            top.fail(f"expected an array, got {type(item_list).__name__}", f"conflicts[{i}]")
        items = []
        for item in holder.tables(f"conflicts[{i}]"):
            extra, group = item.opt_string("extra"), item.opt_string("group")
            items.append(
                ConflictItem(
                    package=canonicalize_name(item.string("package")),
                    extra=canonicalize_name(extra) if extra is not None else None,
                    group=canonicalize_name(group) if group is not None else None,
                )
            )
        sets.append(tuple(items))
    return tuple(sets)


# patterns start with a literal newline (searched in "\n" + text): much faster than ^/re.M
_ARTIFACTS = re.compile(
    r"\n(?:wheels = \[(?:[^\n]*\]|\n(?: [^\n]*\n)*\])|sdist = \{[^\n]*\})[ \t]*(?=\n|$)"
)
_ARTIFACT_KEYS = re.compile(r"\n(?:wheels|sdist)\s*=")
_HEADERS = re.compile(r"\n\[[^\n]*")


def _split_artifacts(text: str) -> tuple[str, dict[int, str]] | None:
    """Cut each package's ``wheels``/``sdist`` lines out of uv's canonical layout.

    They are most of a real lock's bytes (and of its parse time) but only needed for the
    pins a closure returns, so :func:`parse_artifacts` parses them on demand, with the
    same TOML parser. Only the line layout uv writes is recognised (``sdist = {...}`` on
    one line, ``wheels = [`` ... ``]`` with indented entries, under ``[[package]]``);
    anything else returns None and the whole file is parsed at once.
    """
    if '"""' in text or "'''" in text:
        return None
    text = "\n" + text
    found = list(_ARTIFACTS.finditer(text))
    if len(found) != len(_ARTIFACT_KEYS.findall(text)):
        return None
    starts: list[int] = []
    ordinals: list[int] = []  # package ordinal of each header, -1 if not [[package]]
    count = -1
    for header in _HEADERS.finditer(text):
        starts.append(header.start())
        is_package = header.group().rstrip() == "\n[[package]]"
        count += is_package
        ordinals.append(count if is_package else -1)
    core: list[str] = []
    cut: dict[int, list[str]] = {}
    pos = 1
    for match in found:
        at = bisect.bisect_right(starts, match.start()) - 1
        if at < 0 or ordinals[at] < 0:
            continue  # not directly under [[package]]: leave it to the full parse
        core.append(text[pos : match.start() + 1])
        cut.setdefault(ordinals[at], []).append(match.group()[1:])
        pos = match.end()
    core.append(text[pos:])
    return "".join(core), {k: "\n".join(v) for k, v in cut.items()}


def parse_artifacts(
    package: LockedPackage, path: Path, full_text: str
) -> tuple[tuple[LockedArtifact, ...], LockedArtifact | None]:
    """The wheels and sdist of ``package`` (parsing its deferred lines if need be)."""
    if package.artifact_text is None:
        return package.wheels, package.sdist
    try:
        data = loads_toml(package.artifact_text, path=path, error=LockError)
    except LockError:
        loads_toml(full_text, path=path, error=LockError)  # raises with the file's line
        raise
    return _artifacts(TableReader(data, package.where, path), package.source)


def parse_lock(text: str, path: Path) -> LockFile:
    """Parse ``uv.lock`` text read from ``path``; every problem is a :class:`LockError`."""
    split = _split_artifacts(text)
    data = loads_toml(split[0] if split else text, path=path, error=LockError)
    if split is not None:
        packages = data.get("package")
        headers = ("\n" + text).count("\n[[package]]\n")
        if not isinstance(packages, list) or len(packages) != headers:
            split, data = None, loads_toml(text, path=path, error=LockError)
    deferred = split[1] if split is not None else {}
    top = TableReader(data, "", path)
    if "version" not in top.data:
        top.fail("missing 'version'; this does not look like a uv.lock")
    version = top.opt_int("version")
    if version != SUPPORTED_VERSION:
        raise LockError(
            f"unsupported lock version {version}; pytest-wsenv reads uv.lock version "
            f"{SUPPORTED_VERSION} (any revision). Re-create it with a current uv (`uv lock`)",
            path=path,
        )
    manifest = top.table("manifest") or TableReader({}, "manifest", path)
    return LockFile(
        version=version,
        revision=top.opt_int("revision") or 0,
        requires_python=top.opt_string("requires-python"),
        resolution_markers=top.strings("resolution-markers"),
        supported_markers=top.strings("supported-markers"),
        conflicts=_conflicts(top),
        members=tuple(canonicalize_name(m) for m in manifest.strings("members")),
        manifest_requirements=tuple(_meta_req(r) for r in manifest.tables("requirements")),
        default_groups=_default_groups(manifest),
        manifest_groups={
            canonicalize_name(group): tuple(_meta_req(r) for r in reqs)
            for group, reqs in manifest.table_of_tables("dependency-groups").items()
        },
        packages=tuple(
            _package(i, r, deferred.get(i))
            for i, r in enumerate(top.tables("package" if top.has("package") else "distribution"))
        ),
    )
