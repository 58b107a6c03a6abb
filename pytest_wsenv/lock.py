"""Read ``uv.lock`` and compute a target's exact install set, in-process, without uv.

The result for a :class:`~pytest_wsenv.target.Target` and a
:class:`~pytest_wsenv.target.MarkerEnv` must equal ``uv export --frozen`` with the same
flags once uv's universal markers are evaluated for that interpreter.

CONTRACT (implemented by the lock work item; other modules rely on exactly this).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .target import MarkerEnv, Target
from .workspace import Workspace

__all__ = ["Artifact", "Closure", "Lock", "Pin", "SourceKind"]

SourceKind = Literal["registry", "editable", "virtual", "directory", "path", "git", "url"]


@dataclass(frozen=True, slots=True)
class Artifact:
    """One downloadable file of a locked package (a wheel or the sdist)."""

    url: str | None  # None for a local path artifact
    path: str | None  # relative to the workspace root, for local files
    hash: str | None  # "sha256:<hex>"
    filename: str


@dataclass(frozen=True, slots=True)
class Pin:
    """One package to install, exactly as locked."""

    name: str  # normalized
    version: str | None  # None for sources without a version (virtual, some dirs)
    source_kind: SourceKind
    # registry: index URL or local find-links dir; editable/directory/path/virtual: path
    # relative to the workspace root as written in the lock; git/url: the URL
    source: str
    wheels: tuple[Artifact, ...]
    sdist: Artifact | None
    editable: bool  # workspace members (and `editable` sources) are installed editable
    member: bool  # a workspace member

    @property
    def hashes(self) -> tuple[str, ...]:
        """Every artifact hash the lock records for this pin (sorted, deduplicated)."""
        found = {a.hash for a in (*self.wheels, *([self.sdist] if self.sdist else [])) if a.hash}
        return tuple(sorted(found))

    def requirement(self, root: Path) -> str:
        """The pip/uv requirement line, like ``uv export`` writes it.

        ``name==version`` for registry pins, ``-e <abs path>`` for editables, ``name @ url``
        for git/url/path/directory sources (paths made absolute against ``root``).
        """
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Closure:
    """The packages one target installs, sorted by name. Virtual members are not in it."""

    pins: tuple[Pin, ...]

    def names(self) -> frozenset[str]:
        return frozenset(p.name for p in self.pins)

    def get(self, name: str) -> Pin | None:
        for pin in self.pins:
            if pin.name == name:
                return pin
        return None


@dataclass(frozen=True, slots=True)
class Lock:
    """A parsed ``uv.lock``. Build it with :meth:`load`."""

    path: Path
    version: int
    revision: int
    requires_python: str | None

    @classmethod
    def load(cls, path: Path) -> Lock:
        """Parse ``path``. LockError (file + line / dotted key) on bad TOML, bad structure,
        unsupported ``version``; a missing file is a LockError that says there is no lock."""
        raise NotImplementedError

    def closure(self, workspace: Workspace, target: Target, env: MarkerEnv) -> Closure:
        """The exact install set of ``target`` for the interpreter ``env``.

        SelectionError for an unknown package, extra or group and for combinations that
        ``[tool.uv] conflicts`` forbid, naming the member and what exists.
        """
        raise NotImplementedError

    def check_fresh(self, workspace: Workspace) -> None:
        """StaleLockError naming the member and requirement when a member's pyproject
        ``dependencies``/extras/groups differ from the lock's ``[package.metadata]``."""
        raise NotImplementedError
