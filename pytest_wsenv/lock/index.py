"""Indexes over a parsed ``uv.lock``, built once per :class:`~pytest_wsenv.lock.Lock`."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from packaging.utils import canonicalize_name

from ..errors import LockError
from ..workspace import Workspace
from .lockfile import LockedArtifact, LockedDep, LockedPackage, LockFile, parse_artifacts

__all__ = ["Edge", "LockIndex"]

Edge = tuple[LockedDep, int]


class LockIndex:
    """Indexes built once per lock: packages by name, resolved dependency edges."""

    __slots__ = (
        "_artifacts",
        "by_name",
        "edges",
        "file",
        "groups",
        "member_set",
        "members",
        "optional",
        "path",
        "root",
        "text",
    )

    def __init__(self, file: LockFile, path: Path, text: str) -> None:
        self.file = file
        self.path = path
        self.text = text
        self._artifacts: dict[int, tuple[tuple[LockedArtifact, ...], LockedArtifact | None]] = {}
        by_name: dict[str, list[LockedPackage]] = {}
        for pkg in file.packages:
            by_name.setdefault(pkg.name, []).append(pkg)
        self.by_name = by_name
        self.root = next((p for p in file.packages if p.is_workspace_root), None)
        members = file.members or ((self.root.name,) if self.root is not None else ())
        self.members: tuple[str, ...] = tuple(sorted(set(members)))
        self.member_set = frozenset(self.members)

        def resolve(dep: LockedDep) -> int:
            found = [
                p.index
                for p in by_name.get(dep.name, ())
                if (dep.version is None or p.version == dep.version)
                and (dep.source is None or p.source.key == dep.source)
            ]
            if len(found) != 1:
                what = "no" if not found else "more than one"
                spec = "".join(
                    f" {k}={v}" for k, v in (("version", dep.version), ("source", dep.source)) if v
                )
                raise LockError(
                    f"{dep.where}: {what} [[package]] matches '{dep.name}'{spec}; "
                    "the lock is corrupt, re-create it with `uv lock`",
                    path=path,
                )
            return found[0]

        def edges(deps: Iterable[LockedDep]) -> tuple[Edge, ...]:
            return tuple((d, resolve(d)) for d in deps)

        self.edges = [edges(p.dependencies) for p in file.packages]
        self.optional = [{k: edges(v) for k, v in p.optional.items()} for p in file.packages]
        self.groups = [{k: edges(v) for k, v in p.groups.items()} for p in file.packages]

    def artifacts(
        self, pkg: LockedPackage
    ) -> tuple[tuple[LockedArtifact, ...], LockedArtifact | None]:
        """Wheels and sdist of ``pkg``, parsed once per lock."""
        found = self._artifacts.get(pkg.index)
        if found is None:
            found = self._artifacts[pkg.index] = parse_artifacts(pkg, self.path, self.text)
        return found

    def package(self, name: str) -> LockedPackage:
        found = self.by_name.get(name, [])
        if len(found) != 1:
            raise LockError(
                f"workspace member '{name}' is {'missing from' if not found else 'ambiguous in'} "
                "uv.lock; run `uv lock`",
                path=self.path,
            )
        return found[0]

    def declared_groups(self, pkg: LockedPackage, workspace: Workspace) -> frozenset[str]:
        """Groups a member declares: the lock's metadata, else its resolved groups and pyproject."""
        names = set(pkg.groups)
        meta = pkg.metadata
        if meta is not None and meta.requires_dev is not None:
            names |= set(meta.requires_dev)
        if meta is None and (member := workspace.members.get(pkg.name)) is not None:
            names |= {canonicalize_name(g) for g in member.groups}
        return frozenset(names)

    def declared_extras(self, pkg: LockedPackage, workspace: Workspace) -> frozenset[str]:
        names = set(pkg.optional)
        meta = pkg.metadata
        if meta is not None and meta.provides_extras is not None:
            names |= set(meta.provides_extras)
        if (meta is None or meta.provides_extras is None) and (
            member := workspace.members.get(pkg.name)
        ) is not None:
            names |= {canonicalize_name(e) for e in member.extras}
        return frozenset(names)
