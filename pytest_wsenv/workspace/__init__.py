"""The workspace stage: find a uv workspace on disk and read it into a model.

:meth:`Workspace.discover` walks up from a path to the workspace root (:mod:`.discovery`),
reads every member's ``pyproject.toml`` (:mod:`.pyproject`, member globs in :mod:`.globs`)
and assembles the :class:`Workspace` (:mod:`.model`). TOML files are read with file and line
in every error (:mod:`.toml`, typed access by dotted path in :mod:`.tomlpath`).
"""

from __future__ import annotations

from .discovery import WorkspaceKind
from .model import Member, Workspace
from .toml import load_toml, loads_toml
from .tomlpath import TableReader

__all__ = ["Member", "TableReader", "Workspace", "WorkspaceKind", "load_toml", "loads_toml"]
