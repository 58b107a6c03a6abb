"""The uv workspace model: discovery, members, sources, groups, the member graph.

Semantics follow uv's "Workspaces" documentation: ``[tool.uv.workspace]`` ``members`` /
``exclude`` globs relative to the root, every matched directory holds a
``pyproject.toml``; an explicit root (has ``[project]``) is itself a member, a virtual
root (no ``[project]``) only carries ``tool.uv`` settings and ``dependency-groups``;
root ``[tool.uv.sources]`` apply to every member unless the member overrides the key;
the workspace ``requires-python`` is the intersection of the members'.
A directory that is not inside any workspace is a workspace of one member.

Discovery (:meth:`Workspace.discover`) walks up from the start directory to the first
``pyproject.toml`` with a ``[tool.uv.workspace]`` table. Projects passed on the way
(``pyproject.toml`` with ``[project]``) are candidates: when the workspace claims one
of them as a member (matched by ``members``, not ``exclude``) the start is inside that
workspace; otherwise the nearest candidate is a project of its own (kind ``single``).
``pyproject.toml`` files with neither table (tool configuration only) are passed over.
(uv 0.13 itself stops at the first ``[project]`` above a nested member, such as a member
inside another member's directory, and then sees a lone project; walking on gives every
directory inside the workspace the same answer.) Each ``pyproject.toml`` is parsed once
and each glob expanded once.

Checks made as uv makes them when it locks: a requirement that uses a
``workspace = true`` source must name a member, a requirement on another member needs
such a source, members may not define a workspace of their own, ``default-groups`` must
name defined groups. Directories matched by ``members`` that are hidden, hold no files
or (in a git work tree) only ignored files are skipped, as uv skips them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from ._toml import load_toml
from ._workspace_glob import Pattern, holds_only_ignored_files
from ._workspace_toml import (
    ProjectFile,
    Table,
    is_workspace_source,
    read_pyproject,
    workspace_table,
)
from .errors import SelectionError, WorkspaceError

__all__ = ["Member", "Workspace", "WorkspaceKind"]

WorkspaceKind = Literal["explicit", "virtual", "single"]

_PYPROJECT = "pyproject.toml"


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
        return _Loader().discover(Path(start))

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


def _relative(path: Path, root: Path) -> str:
    """POSIX path of ``path`` relative to ``root`` (``.`` for the root itself)."""
    return Path(os.path.relpath(path, root)).as_posix()


class _Loader:
    """One discovery: caches every parsed ``pyproject.toml`` so each is read once."""

    def __init__(self) -> None:
        self._raw: dict[Path, dict[str, Any]] = {}
        self._parsed: dict[Path, ProjectFile] = {}

    def _data(self, file: Path) -> dict[str, Any]:
        if file not in self._raw:
            self._raw[file] = load_toml(file)
        return self._raw[file]

    def _project_file(self, directory: Path) -> ProjectFile:
        file = directory / _PYPROJECT
        if file not in self._parsed:
            self._parsed[file] = read_pyproject(self._data(file), file)
        return self._parsed[file]

    def discover(self, start: Path) -> Workspace:
        try:
            resolved = start.resolve(strict=True)
        except (OSError, RuntimeError) as exc:
            raise WorkspaceError(f"cannot look for a workspace from {start}: {exc}") from exc
        directory = resolved if resolved.is_dir() else resolved.parent
        candidates: list[Path] = []
        for folder in (directory, *directory.parents):
            file = folder / _PYPROJECT
            if not file.is_file():
                continue
            doc = Table(self._data(file), file)
            if workspace_table(doc) is not None:
                members = self._scan(folder)
                if not candidates or any(c in members for c in candidates):
                    return self._workspace(folder, members)
                break  # uv: the first workspace root decides; it does not claim us
            if doc.table("project") is not None:
                candidates.append(folder)
        if not candidates:
            raise WorkspaceError(
                f"no pyproject.toml with a [project] or [tool.uv.workspace] table in "
                f"{directory} or any parent directory; run from inside a uv project"
            )
        return self._single(candidates[0])

    def _scan(self, root: Path) -> dict[Path, str]:
        """Member directories (resolved) -> the ``members`` glob that matched each."""
        root_file = root / _PYPROJECT
        members_globs, exclude_globs = self._project_file(root).workspace or ((), ())
        excludes = [
            Pattern(
                text.removeprefix("./"), where=f"tool.uv.workspace.exclude[{i}]", path=root_file
            )
            for i, text in enumerate(exclude_globs)
        ]
        found: dict[Path, str] = {}
        seen: set[Path] = set()
        for index, text in enumerate(members_globs):
            pattern = Pattern(text, where=f"tool.uv.workspace.members[{index}]", path=root_file)
            for match in pattern.expand(root):
                normal = Path(os.path.normpath(match))
                if normal in seen:
                    continue
                seen.add(normal)
                relative = _relative(normal, root)
                if any(exclude.matches(relative) for exclude in excludes):
                    continue
                if not normal.is_dir():
                    continue  # uv ignores matched files
                if not (normal / _PYPROJECT).is_file():
                    if normal.name.startswith(".") or holds_only_ignored_files(normal):
                        continue  # uv skips hidden and effectively empty directories
                    raise WorkspaceError(
                        f"workspace member directory {relative} has no pyproject.toml "
                        f"(matched by tool.uv.workspace.members glob {text!r}); add a "
                        f"pyproject.toml or list the directory in tool.uv.workspace.exclude",
                        path=root_file,
                    )
                found.setdefault(normal.resolve(), text)
        return found

    def _workspace(self, root: Path, found: Mapping[Path, str]) -> Workspace:
        root_file = self._project_file(root)
        files: dict[Path, ProjectFile] = {}
        if root_file.project is not None:
            files[root] = root_file
        for directory, glob in found.items():
            if directory == root:
                if root_file.project is None:
                    raise WorkspaceError(
                        f"tool.uv.workspace.members glob {glob!r} matches the virtual root "
                        f"itself, which has no [project] table",
                        path=root_file.path,
                    )
                continue
            member_file = self._project_file(directory)
            if member_file.project is None:
                raise WorkspaceError(
                    f"workspace member has no [project] table (matched by "
                    f"tool.uv.workspace.members glob {glob!r} in {root_file.path})",
                    path=member_file.path,
                )
            if member_file.workspace is not None:
                raise WorkspaceError(
                    "nested workspaces are not supported, but this workspace member has a "
                    "[tool.uv.workspace] table; remove it or exclude the member",
                    path=member_file.path,
                )
            if member_file.managed:
                files[directory] = member_file
        owners: dict[str, Path] = {}
        for directory, project_file in files.items():
            assert project_file.name is not None
            other = owners.setdefault(project_file.name, directory)
            if other != directory:
                raise WorkspaceError(
                    f"two workspace members are called {project_file.name!r}: "
                    f"{_relative(other, root)} and {_relative(directory, root)}; "
                    f"rename one or exclude it",
                    path=root_file.path,
                )
        kind: WorkspaceKind = "explicit" if root_file.project is not None else "virtual"
        return self._build(root, kind, root_file, files)

    def _single(self, directory: Path) -> Workspace:
        project_file = self._project_file(directory)
        return self._build(directory, "single", project_file, {directory: project_file})

    def _build(
        self,
        root: Path,
        kind: WorkspaceKind,
        root_file: ProjectFile,
        files: Mapping[Path, ProjectFile],
    ) -> Workspace:
        names = frozenset(f.name for f in files.values() if f.name is not None)
        members: dict[str, Member] = {}
        for directory, project_file in files.items():
            assert project_file.name is not None
            is_root = directory == root
            sources = (
                dict(root_file.sources)
                if is_root
                else {**root_file.sources, **project_file.sources}
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
