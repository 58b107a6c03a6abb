"""A parsed ``uv.lock``: the closure of a target, and whether the lock is fresh.

The result for a :class:`~pytest_wsenv.target.Target` and a
:class:`~pytest_wsenv.target.MarkerEnv` must equal ``uv export --frozen`` with the same
flags once uv's universal markers are evaluated for that interpreter.

Parsing lives in :mod:`.lockfile`, the walk in :mod:`.walk`, the comparison with
``pyproject.toml`` in :mod:`.freshness`.
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import LockError
from ..target import MarkerEnv, Target
from ..workspace import Workspace
from .freshness import check_fresh
from .index import LockIndex
from .lockfile import LockedArtifact, LockedPackage, parse_lock
from .picked import walk_picked
from .pins import Artifact, Closure, Pin
from .plan import check_conflicts, plan_target
from .walk import walk

__all__ = ["Lock"]


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

    def picked_closure(
        self,
        workspace: Workspace,
        group: str,
        env: MarkerEnv,
        *,
        pick: Callable[[str], bool],
        stop: Collection[str] = (),
    ) -> Closure:
        """The requirements of the workspace root's ``group`` that ``pick`` accepts, with
        their locked dependencies, for ``env``; packages in ``stop`` are neither taken nor
        followed (see :mod:`.picked`). Empty when the root has no such group."""
        found = walk_picked(self._index, workspace, group, env, pick=pick, stop=stop)
        return Closure(tuple(sorted((_pin(p, self._index) for p in found), key=lambda p: p.name)))

    def fill_dynamic(self, workspace: Workspace) -> Workspace:
        """``workspace`` with what members declare dynamically taken from the lock.

        A member whose ``[project]`` lists ``optional-dependencies`` or ``dependencies``
        in ``dynamic`` (hatch, setuptools-scm plugins) has no extras, or no workspace
        dependencies, in its pyproject; uv records them in the lock. Its extras become the
        lock's (each with the names of its locked requirements), its workspace dependencies
        gain the members it reaches in the lock. Other members are unchanged.
        """
        index = self._index
        members = dict(workspace.members)
        for name, member in workspace.members.items():
            dynamic = member.project.get("dynamic", ())
            if not isinstance(dynamic, list | tuple) or not (
                {"optional-dependencies", "dependencies"} & set(dynamic)
            ):
                continue
            found = index.by_name.get(name)
            if not found or len(found) != 1:
                continue
            pkg = found[0]
            extras = dict(member.extras)
            if "optional-dependencies" in dynamic:
                for extra in sorted(index.declared_extras(pkg, workspace)):
                    deps = pkg.optional.get(extra, ())
                    extras.setdefault(extra, tuple(d.name for d in deps))
            edges = [*pkg.dependencies, *(d for ds in pkg.optional.values() for d in ds)]
            edges += [d for ds in pkg.groups.values() for d in ds]
            reached = {d.name for d in edges if d.name in index.member_set and d.name != name}
            members[name] = dataclasses.replace(
                member, extras=extras, workspace_deps=member.workspace_deps | reached
            )
        return dataclasses.replace(workspace, members=members)

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
