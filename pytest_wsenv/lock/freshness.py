"""Is ``uv.lock`` still the lock of these ``pyproject.toml`` files?

uv records each member's declared requirements in ``[package.metadata]``
(``requires-dist`` with extras as ``extra == '...'`` markers, ``requires-dev`` per
group, ``provides-extras``). They are compared with the pyproject semantically: names
and extras normalized, specifier sets as sets, markers by meaning (uv writes
``python_version < '3.11'`` as ``python_full_version < '3.11'``), and the source kind
(``workspace = true`` is recorded as ``editable``/``virtual``, with the version
specifier dropped, as uv does for local sources).

Beyond the requirements, as ``uv lock --check`` does: the lock's ``requires-python``
must mean the intersection of the members' (compared by meaning, not spelling), each
member's ``version`` must equal its locked version as a PEP 440 version, and a
``version`` that is not one is refused. Like uv, a comparison of ``python_version``
(or ``python_full_version``, ``implementation_version``) with something that is not
a version is ignored in a declared marker: uv warns and drops it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, Specifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..errors import ConfigError, StaleLockError
from .lockfile import DefaultGroups, MetaRequirement
from .markers import equivalent
from .plan import default_groups_setting

if TYPE_CHECKING:
    from pathlib import Path

    from ..workspace import Workspace
    from .index import LockIndex

__all__ = ["check_fresh"]

_LOCAL = frozenset({"editable", "virtual", "directory", "path", "workspace"})
_EXTRA_TEST = re.compile(r"\bextra\s*==")


@dataclass(frozen=True, slots=True)
class _Req:
    name: str
    extras: frozenset[str]
    specifiers: frozenset[Specifier] | None  # None when the source makes it irrelevant
    source: str | None  # "local", "git", "url", "index" or None (default index)
    marker: str | None
    text: str


def _category(kind: str | None) -> str | None:
    if kind is None:
        return None
    return "local" if kind in _LOCAL else kind


def _source_category(sources: Mapping[str, Any], name: str) -> str | None:
    entry = sources.get(name)
    if entry is None:
        entry = next((v for k, v in sources.items() if canonicalize_name(k) == name), None)
    if isinstance(entry, list):
        return "*"  # several sources split by marker: only the name is compared
    if not isinstance(entry, dict):
        return None
    kind = next((k for k in ("workspace", "path", "git", "url", "index") if k in entry), None)
    return _category(kind)


def _specifiers(text: str, source: str | None) -> frozenset[Specifier] | None:
    if source not in (None, "index"):
        return None
    return frozenset(SpecifierSet(text))


def _from_pyproject(
    text: str, *, extra: str | None, sources: Mapping[str, Any], where: Path
) -> _Req:
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        raise ConfigError(f"invalid requirement {text!r}: {exc}", path=where) from exc
    name = canonicalize_name(req.name)
    source = _source_category(sources, name)
    if req.url is not None:
        source = "git" if req.url.startswith("git+") else "url"
    marker = _as_uv_reads(req.marker) if req.marker is not None else None
    if extra is not None:
        marker = f"({marker}) and extra == '{extra}'" if marker else f"extra == '{extra}'"
    return _Req(
        name=name,
        extras=frozenset(canonicalize_name(e) for e in req.extras),
        specifiers=None if source == "*" else _specifiers(str(req.specifier), source),
        source=source,
        marker=marker,
        text=text.strip(),
    )


_VERSION_VARIABLES = frozenset({"python_version", "python_full_version", "implementation_version"})


def _as_uv_reads(marker: Marker) -> str | None:
    """``marker`` without the version comparisons uv ignores (None: no marker left)."""
    return _render(marker._markers)  # packaging's parsed form: (lhs, op, rhs), "and", "or", [...]


def _render(items: Sequence[Any]) -> str | None:
    """``items`` as marker text, each ignored comparison left out as if it were not
    written (in an ``and`` and in an ``or`` alike, as uv does); None when nothing is left."""
    groups: list[list[str]] = [[]]  # alternatives of conjunctions
    for item in items:
        if item == "or":
            groups.append([])
        elif isinstance(item, list):
            text = _render(item)
            if text is not None:
                groups[-1].append(f"({text})")
        elif item != "and":
            text = _atom(item)
            if text is not None:
                groups[-1].append(text)
    alternatives = [" and ".join(group) for group in groups if group]
    return " or ".join(alternatives) if alternatives else None


def _atom(item: Any) -> str | None:
    lhs, op, rhs = item
    for variable, value in ((lhs, rhs), (rhs, lhs)):
        if (
            type(variable).__name__ == "Variable"
            and str(variable.value) in _VERSION_VARIABLES
            and op.value not in ("in", "not in")
        ):
            try:
                Specifier(f"{op.value}{value.value}")
            except InvalidSpecifier:
                return None
    return " ".join(part.serialize() for part in (lhs, op, rhs))


def _same_requires_python(a: SpecifierSet, b: SpecifierSet) -> bool:
    """Do ``a`` and ``b`` admit the same Python versions? Compared on every version they
    name and its neighbours."""
    samples = {"0", "99"}
    for spec in (*a, *b):
        text = spec.version.rstrip(".*")
        try:
            release = Version(text).release
        except InvalidVersion:
            return str(a) == str(b)
        for i in range(len(release) + 1):
            for delta in (-1, 0, 1):
                parts = list(release[:i] or (0,))
                parts[-1] = max(parts[-1] + delta, 0)
                samples.add(".".join(map(str, parts)))
                samples.add(".".join(map(str, [*parts, 0, 0])))
    return all(a.contains(v, prereleases=True) == b.contains(v, prereleases=True) for v in samples)


def _check_versions(index: LockIndex, workspace: Workspace, path: Path) -> None:
    """``requires-python`` and each member's ``version`` against the lock."""
    recorded = index.file.requires_python
    try:
        locked = SpecifierSet(recorded or "")
    except InvalidSpecifier as exc:
        raise StaleLockError(f"invalid requires-python {recorded!r}", path=path) from exc
    # with none declared uv locks for the interpreter it finds (`>=X.Y`): whatever the lock
    # says is what uv would say on the machine that locked it
    declared_any = bool(str(workspace.requires_python))
    if declared_any and not _same_requires_python(locked, workspace.requires_python):
        declared = str(workspace.requires_python)
        raise StaleLockError(
            f"uv.lock is out of date: the members' requires-python is {declared!r}, the "
            f"lock's {recorded or '(none)'!r}; run `uv lock`",
            path=path,
        )
    for name, member in sorted(workspace.members.items()):
        dynamic = {str(d) for d in member.project.get("dynamic", ()) or ()}
        declared_version = member.project.get("version")
        locked_version = index.package(name).version
        if "version" in dynamic:
            if locked_version is not None:  # uv records no version for a dynamic one
                _stale(name, "its version is dynamic but the lock records one", path)
            continue
        if declared_version is None:
            continue
        try:
            version = Version(str(declared_version))
        except InvalidVersion:
            raise ConfigError(
                f"project.version is not a valid version: {declared_version!r}",
                path=member.pyproject,
            ) from None
        if locked_version is None:
            _stale(name, f"version {declared_version!r} is not in the lock", path)
        try:
            same = Version(locked_version) == version
        except InvalidVersion:
            same = False
        if not same:
            _stale(
                name,
                f"version {declared_version!r} differs from the lock's {locked_version!r}",
                path,
            )


def _from_lock(req: MetaRequirement, where: Path) -> _Req:
    source = _category(req.source_kind)
    try:
        specifiers = _specifiers(req.specifier, source)
    except InvalidSpecifier as exc:
        raise StaleLockError(
            f"{req.where}: invalid specifier {req.specifier!r}", path=where
        ) from exc
    extras = f"[{','.join(req.extras)}]" if req.extras else ""
    marker = f"; {req.marker}" if req.marker else ""
    return _Req(
        name=req.name,
        extras=frozenset(req.extras),
        specifiers=specifiers,
        source=source,
        marker=req.marker,
        text=f"{req.name}{extras}{req.specifier}{marker}",
    )


def _same(a: _Req, b: _Req, requires_python: str | None) -> bool:
    if a.name != b.name:
        return False
    if a.source == "*" or b.source == "*":
        return True
    return (
        a.extras == b.extras
        and a.source == b.source
        and a.specifiers == b.specifiers
        and equivalent(a.marker, b.marker, requires_python=requires_python)
    )


def _as_member(req: _Req, members: frozenset[str]) -> _Req:
    """A workspace member resolves to itself whatever uv recorded as its source (uv drops
    root sources for members nested in another member), so compare it by name only."""
    if req.name in members and req.source in (None, "local"):
        return dataclasses.replace(req, source="member", specifiers=None)
    return req


def _compare(
    declared: Sequence[_Req],
    locked: Sequence[_Req],
    *,
    members: frozenset[str],
    member: str,
    context: str,
    requires_python: str | None,
    path: Path,
) -> None:
    declared = [_as_member(r, members) for r in declared]
    locked = [_as_member(r, members) for r in locked]
    unique: list[_Req] = []
    for want in declared:  # a requirement listed twice in pyproject.toml is recorded once
        if not any(_same(want, seen, requires_python) for seen in unique):
            unique.append(want)
    remaining = list(locked)
    for want in unique:
        hit = next(
            (i for i, got in enumerate(remaining) if _same(want, got, requires_python)), None
        )
        if hit is None:
            _stale(member, f"'{want.text}'{context} is in pyproject.toml but not in the lock", path)
        del remaining[hit]
    if remaining:
        _stale(
            member, f"'{remaining[0].text}'{context} is in the lock but not in pyproject.toml", path
        )


def _stale(member: str, detail: str, path: Path) -> NoReturn:
    raise StaleLockError(
        f"uv.lock is out of date for member '{member}': {detail}; run `uv lock`", path=path
    )


def _declared(
    reqs: Iterable[str], *, extra: str | None, sources: Mapping[str, Any], where: Path
) -> list[_Req]:
    return [_from_pyproject(r, extra=extra, sources=sources, where=where) for r in reqs]


def check_fresh(index: LockIndex, workspace: Workspace) -> None:
    """Raise :class:`StaleLockError` at the first difference between the lock and pyprojects."""
    path = index.path
    rp = index.file.requires_python
    lock_members = set(index.members)
    for name in sorted(set(workspace.members) - lock_members):
        _stale(name, "the member is not in the lock", path)
    for name in sorted(lock_members - set(workspace.members)):
        _stale(name, "the lock lists it but it is no longer a workspace member", path)
    _check_versions(index, workspace, path)
    for name, member in sorted(workspace.members.items()):
        pkg = index.package(name)
        meta = pkg.metadata
        if meta is None and index.file.revision >= 4 and (pkg.dependencies or pkg.groups):
            continue  # a metadata-free lock: nothing recorded to compare against
        where = member.pyproject
        dynamic = {str(d) for d in member.project.get("dynamic", ()) or ()}
        recorded = meta.requires_dist if meta is not None else None
        locked_dist = [_from_lock(r, path) for r in recorded or ()]
        declared: list[_Req] = []
        if "optional-dependencies" not in dynamic:
            for extra, reqs in sorted(member.extras.items()):
                declared += _declared(
                    reqs, extra=canonicalize_name(extra), sources=member.sources, where=where
                )
        if member.dynamic_dependencies:
            locked_dist = [r for r in locked_dist if r.marker and _EXTRA_TEST.search(r.marker)]
        else:
            declared = (
                _declared(member.dependencies, extra=None, sources=member.sources, where=where)
                + declared
            )
        if "optional-dependencies" in dynamic:
            locked_dist = [
                r for r in locked_dist if not (r.marker and _EXTRA_TEST.search(r.marker))
            ]
        _compare(
            declared,
            locked_dist,
            members=index.member_set,
            member=name,
            context="",
            requires_python=rp,
            path=path,
        )
        # provides-extras is written since lock revision 1 (absent: no extras)
        if "optional-dependencies" not in dynamic and meta is not None and index.file.revision:
            want = {canonicalize_name(e) for e in member.extras}
            got = set(meta.provides_extras or ())
            for extra in sorted(want ^ got):
                side = "pyproject.toml" if extra in want else "the lock"
                _stale(name, f"extra '{extra}' is only in {side}", path)
        _compare_defaults(name, pkg.default_groups, member.default_groups, index, path)
        locked_groups = dict(meta.requires_dev or {}) if meta is not None else {}
        _compare_groups(
            name,
            members=index.member_set,
            declared=member.groups,
            locked=locked_groups,
            sources=member.sources,
            requires_python=rp,
            where=where,
            path=path,
        )
    if workspace.kind == "virtual":
        declared_defaults = default_groups_setting(
            workspace.uv_settings.get("default-groups", ["dev"])
        )
        _compare_defaults(
            "(workspace root)", index.file.default_groups, declared_defaults, index, path
        )
        _compare_groups(
            "(workspace root)",
            members=index.member_set,
            declared=workspace.root_groups,
            locked=dict(index.file.manifest_groups),
            sources=workspace.root_sources,
            requires_python=rp,
            where=workspace.root_pyproject,
            path=path,
        )


def _compare_defaults(
    member: str,
    recorded: DefaultGroups | None,
    declared: DefaultGroups,
    index: LockIndex,
    path: Path,
) -> None:
    """uv 0.13 (lock revision 5) records non-default ``default-groups``."""
    if recorded is None:
        if index.file.revision < 5 or declared == ("dev",):
            return
        recorded = ("dev",)
    same = recorded == declared if "all" in (recorded, declared) else set(recorded) == set(declared)
    if not same:
        shown = declared if declared == "all" else list(declared)
        _stale(member, f"default-groups {shown!r} differs from the lock's", path)


def _compare_groups(
    member: str,
    *,
    members: frozenset[str],
    declared: Mapping[str, Sequence[str]],
    locked: Mapping[str, Sequence[MetaRequirement]],
    sources: Mapping[str, Any],
    requires_python: str | None,
    where: Path,
    path: Path,
) -> None:
    want = {canonicalize_name(g): reqs for g, reqs in declared.items()}
    for group in sorted(set(want) ^ set(locked)):
        side = "pyproject.toml" if group in want else "the lock"
        _stale(member, f"dependency group '{group}' is only in {side}", path)
    for group in sorted(want):
        _compare(
            _declared(want[group], extra=None, sources=sources, where=where),
            [_from_lock(r, path) for r in locked[group]],
            members=members,
            member=member,
            context=f" (group '{group}')",
            requires_python=requires_python,
            path=path,
        )
