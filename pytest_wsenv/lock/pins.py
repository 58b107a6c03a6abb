"""What a target installs: pins of locked packages and their artifacts, as ``uv export``
writes them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, urlsplit, urlunsplit

from ..errors import LockError

__all__ = ["Artifact", "Closure", "Pin", "SourceKind", "file_url_path", "git_requirement_url"]

SourceKind = Literal["registry", "editable", "virtual", "directory", "path", "git", "url"]


def file_url_path(url: str) -> Path:
    """The local path a ``file:`` URL names."""
    from urllib.request import url2pathname  # imports http.client: only when needed

    return Path(url2pathname(urlsplit(url).path))


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
