"""The uv workspace model: members, sources, groups, the member graph.

Semantics follow uv's "Workspaces" documentation: ``[tool.uv.workspace]`` ``members`` /
``exclude`` globs relative to the root, every matched directory holds a
``pyproject.toml``; an explicit root (has ``[project]``) is itself a member, a virtual
root (no ``[project]``) only carries ``tool.uv`` settings and ``dependency-groups``;
root ``[tool.uv.sources]`` apply to every member unless the member overrides the key;
the workspace ``requires-python`` is the intersection of the members'.
A directory that is not inside any workspace is a workspace of one member.
Finding the files is :mod:`.discovery`'s job; this module assembles the model from them.

Checks made as uv makes them when it locks: a requirement that uses a
``workspace = true`` source must name a member, a requirement on another member needs
such a source, ``default-groups`` must name defined groups.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from ..errors import SelectionError, WorkspaceError
from .discovery import Layout, WorkspaceKind, find_layout
from .pyproject import ProjectFile, is_workspace_source

__all__ = ["Member", "Workspace", "WorkspaceKind"]


@dataclass(frozen=True, slots=True)
class Member:
    """One workspace member, read from its ``pyproject.toml``.

    Names are PEP 503 normalized (``packaging.utils.canonicalize_name``).
    Requirement strings are kept as written (PEP 508), to be parsed with
    ``packaging.requirements.Requirement`` by whoever needs them.
    """

    name: str
    path: Path  # absolute, resolved member directory
    pyproject: Path  # path / "pyproject.toml"
    project: Mapping[str, Any]  # the raw [project] table
    dependencies: tuple[str, ...]  # [project].dependencies (empty when dynamic)
    dynamic_dependencies: bool  # "dependencies" in [project].dynamic
    extras: Mapping[str, tuple[str, ...]]  # [project.optional-dependencies], names normalized
    # PEP 735 groups with include-group expanded, plus legacy tool.uv.dev-dependencies
    # merged into "dev" (as uv does); group names normalized.
    groups: Mapping[str, tuple[str, ...]]
    # tool.uv.default-groups: a tuple of names, or "all"; uv's default is ("dev",)
    default_groups: tuple[str, ...] | Literal["all"]
    # effective [tool.uv.sources]: root's entries, overridden key by key by the member's
    sources: Mapping[str, Any]
    requires_python: SpecifierSet | None
    is_root: bool  # the explicit root project
    # False for tool.uv.package = false, or no [build-system] and tool.uv.package unset
    # (uv's "virtual" members: not installed themselves, their dependencies are)
    package: bool
    # normalized names of workspace members this member requires anywhere
    # (dependencies, extras or groups) through a ``workspace = true`` source
    workspace_deps: frozenset[str]


@dataclass(frozen=True, slots=True)
class Workspace:
    """A discovered workspace. Build it with :meth:`discover`."""

    root: Path  # absolute, resolved
    kind: WorkspaceKind
    members: Mapping[str, Member]  # normalized name -> member, sorted by name
    # the root pyproject's [dependency-groups] (include-group expanded) + legacy dev-deps;
    # for an explicit root these are also the root member's groups
    root_groups: Mapping[str, tuple[str, ...]]
    root_sources: Mapping[str, Any]
    requires_python: SpecifierSet  # intersection of members' (and root's)
    # [tool.uv] conflicts as a list of sets of {"package"?, "extra"|"group"} dicts, raw
    conflicts: tuple[tuple[Mapping[str, str], ...], ...]
    # raw [tool.uv] table of the root (index, find-links, environments, ...)
    uv_settings: Mapping[str, Any]

    @property
    def lock_path(self) -> Path:
        return self.root / "uv.lock"

    @property
    def root_pyproject(self) -> Path:
        return self.root / "pyproject.toml"

    @classmethod
    def discover(cls, start: Path) -> Workspace:
        """Find and load the workspace containing ``start`` (a file or directory).

        Raises :class:`~pytest_wsenv.errors.ConfigError`/``WorkspaceError`` for malformed
        TOML (file + line), a member glob matching a directory without ``pyproject.toml``
        (names the directory and the glob), duplicate member names, no ``pyproject.toml``
        anywhere above ``start``.
        """
        return _assemble(find_layout(Path(start)))

    def member(self, name: str) -> Member:
        """The member called ``name`` (any spelling); SelectionError listing members if none."""
        found = self.members.get(canonicalize_name(name))
        if found is None:
            known = ", ".join(self.members) or "(none)"
            raise SelectionError(
                f"no workspace member called {name!r} in {self.root}; members: {known}"
            )
        return found

    def member_for(self, path: Path) -> Member | None:
        """Deepest member whose directory contains ``path``; the root member for other files
        under an explicit root; ``None`` outside members of a virtual root or outside the root."""
        target = Path(path).resolve()
        owners = [
            member
            for member in self.members.values()
            if target == member.path or member.path in target.parents
        ]
        return max(owners, key=lambda member: len(member.path.parts), default=None)

    def dependencies(self, name: str) -> frozenset[str]:
        """Members that ``name`` reaches through workspace deps, transitively (not itself)."""
        start = self.member(name).name
        return _reach(start, {n: m.workspace_deps for n, m in self.members.items()})

    def dependents(self, name: str) -> frozenset[str]:
        """Members that reach ``name`` through workspace deps, transitively (not itself)."""
        start = self.member(name).name
        reverse: dict[str, set[str]] = {n: set() for n in self.members}
        for member in self.members.values():
            for dep in member.workspace_deps:
                reverse.setdefault(dep, set()).add(member.name)
        return _reach(start, reverse)


def _reach(start: str, edges: Mapping[str, Iterable[str]]) -> frozenset[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    seen.discard(start)
    return frozenset(seen)


def _assemble(layout: Layout) -> Workspace:
    """The workspace model of a discovered layout: members, sources, the member graph."""
    root, kind, root_file, files = layout.root, layout.kind, layout.root_file, layout.files
    names = frozenset(f.name for f in files.values() if f.name is not None)
    members: dict[str, Member] = {}
    for directory, project_file in files.items():
        assert project_file.name is not None
        is_root = directory == root
        sources = (
            dict(root_file.sources) if is_root else {**root_file.sources, **project_file.sources}
        )
        members[project_file.name] = Member(
            name=project_file.name,
            path=directory,
            pyproject=project_file.path,
            project=project_file.project or MappingProxyType({}),
            dependencies=project_file.dependencies,
            dynamic_dependencies=project_file.dynamic_dependencies,
            extras=project_file.extras,
            groups=project_file.groups,
            default_groups=project_file.default_groups,
            sources=MappingProxyType(sources),
            requires_python=project_file.requires_python,
            is_root=is_root,
            package=project_file.package,
            workspace_deps=_workspace_deps(project_file, root_file, names),
        )
    if kind == "virtual":  # the root's own groups must lower like a member's
        _workspace_deps(root_file, root_file, names)
    requires_python = SpecifierSet()
    for member in members.values():
        if member.requires_python is not None:
            requires_python &= member.requires_python
    conflicts = list(root_file.conflicts)
    for member in members.values():
        if not member.is_root:
            conflicts.extend(_member_conflicts(files[member.path], member.name))
    return Workspace(
        root=root,
        kind=kind,
        members=MappingProxyType(dict(sorted(members.items()))),
        root_groups=root_file.groups,
        root_sources=root_file.sources,
        requires_python=requires_python,
        conflicts=tuple(conflicts),
        uv_settings=root_file.uv_settings,
    )


def _workspace_deps(
    project_file: ProjectFile, root_file: ProjectFile, members: frozenset[str]
) -> frozenset[str]:
    """Members ``project_file`` requires through ``workspace = true`` sources.

    Like uv's lowering: a ``workspace = true`` source used by a requirement must name a
    member, and a requirement on another member must have such a source.
    """
    deps: set[str] = set()
    for name, location in project_file.requirements.items():
        if name == project_file.name:
            continue  # self-reference (e.g. "pkg[extra]" in a group)
        own = project_file.sources.get(name)
        source = own if own is not None else root_file.sources.get(name)
        where = project_file.path if own is not None else root_file.path
        if source is not None and is_workspace_source(source):
            if name not in members:
                known = ", ".join(sorted(members)) or "(none)"
                raise WorkspaceError(
                    f"tool.uv.sources.{name} says `workspace = true`, but {name!r} is not a "
                    f"workspace member (required by {location} in {project_file.path}); "
                    f"members: {known}",
                    path=where,
                )
            deps.add(name)
        elif name in members and source is None:
            raise WorkspaceError(
                f"{location} requires workspace member {name!r}, which needs an entry in "
                f"tool.uv.sources: {name} = {{ workspace = true }}",
                path=project_file.path,
            )
    return frozenset(deps)


def _member_conflicts(project_file: ProjectFile, name: str) -> list[tuple[Mapping[str, str], ...]]:
    """A member's own ``[tool.uv] conflicts``; entries without ``package`` mean the member."""
    return [
        tuple(
            item if "package" in item else MappingProxyType({"package": name, **item})
            for item in group
        )
        for group in project_file.conflicts
    ]
