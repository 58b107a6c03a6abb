"""What a member's isolated environment would hold, and who declares a distribution.

:func:`member_env` models the environment the engine (:mod:`pytest_wsenv.envs.manager`)
builds for ``Target(packages=(member,))`` with the run's extras and groups, with the same
rule for test tooling (:mod:`pytest_wsenv.envs.tooling`):

1. the lock closure with the member's selected groups;
2. the test tooling (pytest, ``pytest-*`` plugins) of the workspace root's ``test_group``
   group with its locked dependencies, where the member's closure does not already have
   them; nothing else of that group;
3. when there is still no pytest: the runner layer (pytest and its dependencies).

Without ``uv.lock`` the closure is the member's declared requirements (and the root's
tooling) followed through the installed distributions' metadata (``Requires-Dist``), as
far as they are installed.

:class:`DeclarationIndex` finds every requirement on a distribution in the workspace's
``pyproject.toml`` files: dependencies, extras and dependency groups of every member, and
the root's groups.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ..envs.tooling import declared_tooling, is_tooling, locked_tooling
from ..lock import Lock
from ..target import MarkerEnv, Target
from ..workspace import Member, Workspace

__all__ = ["Declaration", "DeclarationIndex", "MemberEnv", "member_env", "runner_distributions"]


@dataclass(frozen=True, slots=True)
class MemberEnv:
    """The distributions a member's isolated environment holds (normalized names)."""

    member: str
    target: Target
    closure: frozenset[str]  # everything installed from the lock (members included)
    direct: frozenset[str]  # what the member declares for this target, and the root's tooling
    runner: frozenset[str]  # added by the runner layer (empty when the closure has pytest)
    tooling: frozenset[str]  # what the root's test tooling added to the member's own closure

    def available(self, dist: str) -> bool:
        return dist in self.closure or dist in self.runner


@dataclass(frozen=True, slots=True)
class Declaration:
    """One requirement on a distribution in a ``pyproject.toml``."""

    member: str | None  # None: the virtual workspace root
    requirement: str  # as written
    pyproject: str  # POSIX, relative to the workspace root
    extra: str | None = None
    group: str | None = None

    @property
    def owner(self) -> str:
        """``seeds``, ``seeds[progress]``, ``seeds (group 'dev')``, ``the workspace root``."""
        who = self.member if self.member is not None else "the workspace root"
        if self.extra is not None:
            return f"{who}[{self.extra}]"
        if self.group is not None:
            return f"{who} (group {self.group!r})"
        return who

    def describe(self) -> str:
        """``seeds declares tqdm>=4 (packages/seeds/pyproject.toml)``."""
        who = f"'{self.member}'" if self.member is not None else "the workspace root"
        if self.extra is not None:
            who += f" (extra {self.extra!r})"
        elif self.group is not None:
            who += f" (group {self.group!r})"
        return f"{who} declares {self.requirement} ({self.pyproject})"


def _name(text: str) -> str | None:
    try:
        return canonicalize_name(Requirement(text).name)
    except InvalidRequirement:
        return None


def _requirements(text: str) -> Requirement | None:
    try:
        return Requirement(text)
    except InvalidRequirement:
        return None


class DeclarationIndex:
    """distribution -> every :class:`Declaration` of it in the workspace."""

    def __init__(self, workspace: Workspace) -> None:
        self._by_dist: dict[str, list[Declaration]] = {}
        root = workspace.root
        for member in workspace.members.values():
            where = Path(os.path.relpath(member.pyproject, root)).as_posix()
            for text in member.dependencies:
                self._add(Declaration(member.name, text, where), text)
            for extra, reqs in member.extras.items():
                for text in reqs:
                    self._add(Declaration(member.name, text, where, extra=extra), text)
            for group, reqs in member.groups.items():
                for text in reqs:
                    self._add(Declaration(member.name, text, where, group=group), text)
        if workspace.kind == "virtual":
            for group, reqs in workspace.root_groups.items():
                for text in reqs:
                    self._add(Declaration(None, text, "pyproject.toml", group=group), text)

    def _add(self, declaration: Declaration, text: str) -> None:
        name = _name(text)
        if name is not None:
            found = self._by_dist.setdefault(name, [])
            if declaration not in found:
                found.append(declaration)

    def names(self) -> frozenset[str]:
        """Every distribution some ``pyproject.toml`` of the workspace requires."""
        return frozenset(self._by_dist)

    def of(self, dists: Iterable[str]) -> tuple[Declaration, ...]:
        """Declarations of any of ``dists``: dependencies first, then extras, then groups."""
        found = [d for dist in sorted(set(dists)) for d in self._by_dist.get(dist, ())]
        found.sort(key=lambda d: (d.extra is not None, d.group is not None))
        return tuple(found)


def _default_groups(member: Member, target: Target) -> list[str]:
    wanted: list[str] = [canonicalize_name(g) for g in target.groups]
    if target.all_groups:
        wanted += sorted(member.groups)
    if not (target.no_default_groups or target.no_dev):
        defaults = member.default_groups
        wanted += sorted(member.groups) if defaults == "all" else list(defaults)
    return list(dict.fromkeys(wanted))


def _direct(workspace: Workspace, member: Member, target: Target) -> frozenset[str]:
    """Names the member's own requirements for ``target`` mention (one level of
    self-references such as ``seeds[progress]`` in a group followed).

    As in the lock (:mod:`pytest_wsenv.lock.plan`), a group the member does not declare
    comes from an explicit root project only when it is asked for by name (or by
    ``all_groups``), never as a default group."""
    texts = list(member.dependencies)
    extras = sorted(member.extras) if target.all_extras else list(target.extras)
    from_root = workspace.kind != "virtual"
    named = {canonicalize_name(g) for g in target.groups}
    for group in _default_groups(member, target):
        if group in member.groups:
            texts += member.groups[group]
        elif from_root and group in named:
            texts += workspace.root_groups.get(group, ())
    if from_root and target.all_groups:
        for group, reqs in workspace.root_groups.items():
            if group not in member.groups:
                texts += reqs
    names: set[str] = set()
    for text in texts:
        req = _requirements(text)
        if req is None:
            continue
        name = canonicalize_name(req.name)
        names.add(name)
        if name == member.name:
            extras += list(req.extras)
    for extra in extras:
        for text in member.extras.get(canonicalize_name(extra), ()):
            found = _name(text)
            if found is not None:
                names.add(found)
    return frozenset(names)


@functools.cache
def runner_distributions() -> frozenset[str]:
    """pytest and everything it requires here (the runner layer of a member env)."""
    return frozenset(_installed_closure(["pytest"], MarkerEnv.current()))


def _installed_closure(requirements: Iterable[str], env: MarkerEnv) -> set[str]:
    """Names reached from ``requirements`` through installed ``Requires-Dist`` metadata."""
    values = env.as_dict()
    seen: set[str] = set()
    todo: list[tuple[str, frozenset[str]]] = []
    for text in requirements:
        req = _requirements(text)
        if req is not None and (req.marker is None or req.marker.evaluate({**values, "extra": ""})):
            todo.append((canonicalize_name(req.name), frozenset(req.extras)))
    expanded: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, extras = todo.pop()
        if (name, extras) in expanded:
            continue
        expanded.add((name, extras))
        seen.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for text in requires:
            req = _requirements(text)
            if req is None or not _applies(req.marker, values, extras):
                continue
            todo.append((canonicalize_name(req.name), frozenset(req.extras)))
    return seen


def _applies(marker: Marker | None, values: Mapping[str, str], extras: frozenset[str]) -> bool:
    if marker is None:
        return True
    return any(marker.evaluate({**values, "extra": e}) for e in (*extras, ""))


def member_env(
    workspace: Workspace,
    lock: Lock | None,
    member: Member,
    target: Target,
    *,
    test_group: str = "dev",
    marker_env: MarkerEnv | None = None,
) -> MemberEnv:
    """The isolated environment of ``member`` for ``target`` (see the module docstring)."""
    env = marker_env or MarkerEnv.current()
    if lock is not None:
        own = lock.closure(workspace, target, env).names()
        tooling = locked_tooling(lock, workspace, test_group, env, have=own).names()
    else:
        texts = list(member.dependencies)
        texts += sorted(_direct(workspace, member, target) - {member.name})
        reached = _installed_closure(texts, env)
        reached.add(member.name)
        own = frozenset(reached | workspace.dependencies(member.name))
        wanted = declared_tooling(workspace, test_group, have=own)
        tooling = frozenset(_installed_closure(wanted, env)) - own
    closure = own | tooling
    runner = frozenset() if "pytest" in closure else runner_distributions() | {"pytest"}
    direct = _direct(workspace, member, target) | {n for n in tooling if is_tooling(n)}
    if member.dynamic_dependencies:  # the pyproject does not say; trust the closure
        direct = direct | own
    return MemberEnv(
        member=member.name,
        target=target,
        closure=closure,
        direct=direct | {member.name},
        runner=runner,
        tooling=tooling,
    )
