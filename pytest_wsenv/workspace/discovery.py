"""Find a workspace on disk: its root, its kind and its members' ``pyproject.toml`` files.

Discovery walks up from the start directory to the first ``pyproject.toml`` with a
``[tool.uv.workspace]`` table. Projects passed on the way (``pyproject.toml`` with
``[project]``) are candidates: when the workspace claims one of them as a member (matched by
``members``, not ``exclude``) the start is inside that workspace; otherwise the nearest
candidate is a project of its own (kind ``single``). ``pyproject.toml`` files with neither
table (tool configuration only) are passed over. (uv 0.13 itself stops at the first
``[project]`` above a nested member, such as a member inside another member's directory, and
then sees a lone project; walking on gives every directory inside the workspace the same
answer.) Each ``pyproject.toml`` is parsed once and each glob expanded once.

Directories matched by ``members`` that are hidden, hold no files or (in a git work tree)
only ignored files are skipped, as uv skips them; members may not define a workspace of
their own; two members may not share a name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import WorkspaceError
from .globs import Pattern, holds_only_ignored_files
from .pyproject import ProjectFile, Table, read_pyproject, workspace_table
from .toml import load_toml

__all__ = ["Layout", "WorkspaceKind", "find_layout"]

WorkspaceKind = Literal["explicit", "virtual", "single"]

_PYPROJECT = "pyproject.toml"


@dataclass(frozen=True, slots=True)
class Layout:
    """What discovery found: the root, its kind, and every managed project file.

    ``files`` maps each member directory (resolved) to its parsed ``pyproject.toml``;
    for an explicit root it includes the root itself.
    """

    root: Path
    kind: WorkspaceKind
    root_file: ProjectFile
    files: Mapping[Path, ProjectFile]


def find_layout(start: Path) -> Layout:
    """The layout of the workspace containing ``start`` (a file or directory)."""
    return _Finder().find(start)


def _relative(path: Path, root: Path) -> str:
    """POSIX path of ``path`` relative to ``root`` (``.`` for the root itself)."""
    return Path(os.path.relpath(path, root)).as_posix()


class _Finder:
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

    def find(self, start: Path) -> Layout:
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

    def _workspace(self, root: Path, found: Mapping[Path, str]) -> Layout:
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
        return Layout(root, kind, root_file, files)

    def _single(self, directory: Path) -> Layout:
        project_file = self._project_file(directory)
        return Layout(directory, "single", project_file, {directory: project_file})
