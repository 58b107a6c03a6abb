"""The uv workspace model: discovery, members, sources, groups, the member graph.

Semantics follow uv's "Workspaces" documentation: ``[tool.uv.workspace]`` ``members`` /
``exclude`` globs relative to the root, every matched directory holds a
``pyproject.toml``; an explicit root (has ``[project]``) is itself a member, a virtual
root (no ``[project]``) only carries ``tool.uv`` settings and ``dependency-groups``;
root ``[tool.uv.sources]`` apply to every member unless the member overrides the key;
the workspace ``requires-python`` is the intersection of the members'.
A directory that is not inside any workspace is a workspace of one member.

CONTRACT (implemented by the workspace work item; other modules rely on exactly this).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from packaging.specifiers import SpecifierSet

__all__ = ["Member", "Workspace", "WorkspaceKind"]

WorkspaceKind = Literal["explicit", "virtual", "single"]


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
        raise NotImplementedError

    def member(self, name: str) -> Member:
        """The member called ``name`` (any spelling); SelectionError listing members if none."""
        raise NotImplementedError

    def member_for(self, path: Path) -> Member | None:
        """Deepest member whose directory contains ``path``; the root member for other files
        under an explicit root; ``None`` outside members of a virtual root or outside the root."""
        raise NotImplementedError

    def dependencies(self, name: str) -> frozenset[str]:
        """Members that ``name`` reaches through workspace deps, transitively (not itself)."""
        raise NotImplementedError

    def dependents(self, name: str) -> frozenset[str]:
        """Members that reach ``name`` through workspace deps, transitively (not itself)."""
        raise NotImplementedError
