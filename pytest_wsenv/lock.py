"""Read ``uv.lock`` and compute a target's exact install set, in-process, without uv.

The result for a :class:`~pytest_wsenv.target.Target` and a
:class:`~pytest_wsenv.target.MarkerEnv` must equal ``uv export --frozen`` with the same
flags once uv's universal markers are evaluated for that interpreter.

Parsing lives in :mod:`pytest_wsenv._lockfile`, the walk in :mod:`pytest_wsenv._closure`,
the comparison with ``pyproject.toml`` in :mod:`pytest_wsenv._freshness`.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, urlsplit, urlunsplit

from ._closure import walk
from ._freshness import check_fresh
from ._lock_target import check_conflicts, plan_target
from ._lockfile import LockedArtifact, LockedPackage, parse_lock
from ._lockindex import LockIndex
from .errors import LockError
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
    subdirectory: str | None = None  # for url sources locked with a subdirectory

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
        kind = self.source_kind
        if kind == "registry":
            if self.version is None:
                raise LockError(f"registry package '{self.name}' has no version in uv.lock")
            return f"{self.name}=={self.version}"
        if kind == "editable":
            return f"-e {_absolute(root, self.source)}"
        if kind in ("directory", "path"):
            return f"{self.name} @ {Path(_absolute(root, self.source)).as_uri()}"
        if kind == "git":
            return f"{self.name} @ {git_requirement_url(self.source)}"
        if kind == "url":
            fragment = f"#subdirectory={self.subdirectory}" if self.subdirectory else ""
            return f"{self.name} @ {self.source}{fragment}"
        raise LockError(f"'{self.name}' is a virtual workspace member; it is never installed")


def _absolute(root: Path, relative: str) -> str:
    return os.path.normpath(os.path.join(root, relative))


def git_requirement_url(locked: str) -> str:
    """``git+<repo>@<commit>[#subdirectory=...]`` from a lock's ``git = "<repo>?...#<commit>"``."""
    parts = urlsplit(locked)
    commit = parts.fragment
    query = parse_qs(parts.query)
    base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    if not commit:  # no precise commit recorded: fall back to the requested reference
        for key in ("rev", "tag", "branch"):
            if key in query:
                commit = query[key][0]
                break
    out = f"git+{base}" + (f"@{commit}" if commit else "")
    if "subdirectory" in query:
        out += f"#subdirectory={query['subdirectory'][0]}"
    return out


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


def _artifact(pkg: LockedPackage, art: LockedArtifact) -> Artifact:
    path = art.path
    src = pkg.source
    if path is not None and src.kind == "registry" and "://" not in src.value:
        path = posixpath.normpath(posixpath.join(src.value, path))
    elif path is None and art.url is None and src.kind == "path":
        path = src.value
    return Artifact(url=art.url, path=path, hash=art.hash, filename=art.filename)


def _pin(pkg: LockedPackage, index: LockIndex) -> Pin:
    wheels, sdist = index.artifacts(pkg)
    return Pin(
        name=pkg.name,
        version=pkg.version,
        source_kind=pkg.source.kind,
        source=pkg.source.value,
        wheels=tuple(_artifact(pkg, a) for a in wheels),
        sdist=_artifact(pkg, sdist) if sdist is not None else None,
        editable=pkg.source.kind == "editable",
        member=pkg.name in index.member_set,
        subdirectory=pkg.source.subdirectory,
    )


@dataclass(frozen=True, slots=True)
class Lock:
    """A parsed ``uv.lock``. Build it with :meth:`load`."""

    path: Path
    version: int
    revision: int
    requires_python: str | None
    _index: LockIndex = field(repr=False, compare=False)

    @classmethod
    def load(cls, path: Path) -> Lock:
        """Parse ``path``. LockError (file + line / dotted key) on bad TOML, bad structure,
        unsupported ``version``; a missing file is a LockError that says there is no lock."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise LockError(
                "there is no uv.lock; without it the environment engine resolves each member "
                "from its declared requirements instead of exact pins (run `uv lock` to pin them)",
                path=path,
            ) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise LockError(f"cannot read uv.lock: {exc}", path=path) from exc
        return cls.loads(text, path=path)

    @classmethod
    def loads(cls, text: str, *, path: Path) -> Lock:
        """Parse lock ``text`` as if read from ``path`` (used by :meth:`load` and tests)."""
        file = parse_lock(text, path)
        return cls(
            path=path,
            version=file.version,
            revision=file.revision,
            requires_python=file.requires_python,
            _index=LockIndex(file, path, text),
        )

    @property
    def members(self) -> tuple[str, ...]:
        """Workspace member names recorded in the lock (normalized, sorted)."""
        return self._index.members

    def closure(self, workspace: Workspace, target: Target, env: MarkerEnv) -> Closure:
        """The exact install set of ``target`` for the interpreter ``env``.

        SelectionError for an unknown package, extra or group and for combinations that
        ``[tool.uv] conflicts`` forbid, naming the member and what exists.
        """
        plan = plan_target(self._index, workspace, target)
        check_conflicts(self._index, plan)
        pins = (
            _pin(pkg, self._index)
            for pkg in walk(self._index, plan, env)
            if pkg.source.kind != "virtual"
        )
        return Closure(tuple(sorted(pins, key=lambda p: p.name)))

    @classmethod
    def for_workspace(cls, workspace: Workspace) -> Lock | None:
        """The workspace's ``uv.lock``, checked against its members; None when absent."""
        if not workspace.lock_path.is_file():
            return None
        lock = cls.load(workspace.lock_path)
        lock.check_fresh(workspace)
        return lock

    def check_fresh(self, workspace: Workspace) -> None:
        """StaleLockError naming the member and requirement when a member's pyproject
        ``dependencies``/extras/groups differ from the lock's ``[package.metadata]``."""
        check_fresh(self._index, workspace)
