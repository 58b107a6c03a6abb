"""Which lock packages a :class:`~pytest_wsenv.target.Target` starts from, as uv decides.

The rules mirror ``uv export``/``uv sync`` (uv 0.13):

* ``--package M``: M's production dependencies, the extras asked for, and M's groups
  that are selected (M's own ``default-groups``, default ``["dev"]``). A group named
  explicitly (``--group``/``--only-group``/``--all-groups``) that M does not declare is
  taken from the workspace root project instead (its groups only, not its
  dependencies); the root's default groups are never inherited.
* no ``--package``: the root project for an explicit root; every member for a virtual
  root (no ``[project]``), whose own ``dependency-groups`` live in ``[manifest]``.
* ``--all-packages``: every member; every selected group of every member.
* ``--only-group``: no production dependencies, only the groups.
* ``[tool.uv] conflicts``: asking for two items of one conflict set is an error, and
  conflict markers on edges are decided by what is activated.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from packaging.utils import canonicalize_name

from ..errors import SelectionError
from ..target import Target
from ..workspace import Workspace
from .index import LockIndex
from .lockfile import DefaultGroups, LockedPackage

__all__ = [
    "Plan",
    "check_conflicts",
    "default_groups_setting",
    "member_defaults",
    "plan_target",
]

TargetKind = Literal["project", "projects", "workspace", "non-project"]


@dataclass(frozen=True, slots=True)
class _Groups:
    """uv's ``DependencyGroupsWithDefaults`` for one target."""

    include_all: bool
    include: frozenset[str]
    exclude: frozenset[str]
    prod: bool
    explicit_all: bool
    explicit: frozenset[str]

    def contains(self, group: str) -> bool:
        return group not in self.exclude and (self.include_all or group in self.include)

    def because_default(self, group: str) -> bool:
        return self.contains(group) and not (self.explicit_all or group in self.explicit)


@dataclass(frozen=True, slots=True)
class Plan:
    """Where a walk starts: root packages, the group-only root, the group and extra rules.

    ``kind`` is uv's install target: ``project`` (one ``--package``, or the explicit
    root), ``projects`` (several), ``workspace`` (``--all-packages``), ``non-project``
    (a virtual root: every member). ``declared(name)`` is the groups a member declares.
    """

    kind: TargetKind
    name: str | None  # the member of a "project" target
    roots: tuple[LockedPackage, ...]
    group_root: LockedPackage | None
    groups: _Groups
    all_extras: bool
    extras: frozenset[str]
    declared: Callable[[str], frozenset[str]]

    def extra_names(self, available: Iterable[str]) -> list[str]:
        return [e for e in available if self.all_extras or e in self.extras]

    def includes_group(self, package: str | None, group: str) -> bool:
        if not self.groups.contains(group):
            return False
        if self.kind != "project" or package == self.name:
            return True
        if self.groups.because_default(group):
            return False
        assert self.name is not None
        return group not in self.declared(self.name)


def default_groups_setting(raw: object) -> DefaultGroups:
    """``tool.uv.default-groups`` as written (a list or ``"all"``), normalized."""
    if raw == "all":
        return "all"
    if isinstance(raw, list | tuple):
        return tuple(canonicalize_name(str(g)) for g in raw)
    return ("dev",)


def member_defaults(pkg: LockedPackage, workspace: Workspace) -> DefaultGroups:
    """A member's ``default-groups``: as the lock records it, else from its pyproject."""
    if pkg.default_groups is not None:
        return pkg.default_groups
    member = workspace.members.get(pkg.name)
    return member.default_groups if member is not None else ("dev",)


def _root_defaults(index: LockIndex, workspace: Workspace) -> DefaultGroups:
    if workspace.kind == "virtual" or index.root is None:
        if index.file.default_groups is not None:
            return index.file.default_groups
        return default_groups_setting(workspace.uv_settings.get("default-groups", ["dev"]))
    return member_defaults(index.root, workspace)


def _groups(target: Target, defaults: DefaultGroups) -> _Groups:
    explicit = {canonicalize_name(g) for g in (*target.groups, *target.only_groups)}
    only = bool(target.only_groups)
    use_defaults = not target.no_default_groups and not only
    include_all = target.all_groups or (use_defaults and defaults == "all")
    include: set[str] = set(explicit)
    if use_defaults and defaults != "all":
        include |= set(defaults)
    return _Groups(
        include_all=include_all,
        include=frozenset(include),
        exclude=frozenset({"dev"} if target.no_dev else ()),
        prod=not only,
        explicit_all=target.all_groups,
        explicit=frozenset(explicit),
    )


def _listing(names: Iterable[str]) -> str:
    found = sorted(names)
    return ", ".join(found) if found else "none"


def plan_target(index: LockIndex, workspace: Workspace, target: Target) -> Plan:
    """Decide roots and group rules for ``target``; SelectionError for what does not exist."""
    members = index.members
    names = [canonicalize_name(p) for p in target.packages]
    for name in names:
        if name not in members:
            raise SelectionError(
                f"no workspace member named '{name}' in uv.lock; members: {_listing(members)}"
            )
    kind: TargetKind
    if target.all_packages:
        kind = "non-project" if workspace.kind == "virtual" else "workspace"
        roots = tuple(index.package(m) for m in members)
    elif len(names) == 1:
        kind, roots = "project", (index.package(names[0]),)
    elif names:
        kind, roots = "projects", tuple(index.package(n) for n in dict.fromkeys(names))
    elif workspace.kind == "virtual" or index.root is None:
        kind, roots = "non-project", tuple(index.package(m) for m in members)
    else:
        kind, roots = "project", (index.root,)
    if kind == "project" and names:
        defaults = member_defaults(roots[0], workspace)
    else:
        defaults = _root_defaults(index, workspace)

    def declared(name: str) -> frozenset[str]:
        return index.declared_groups(index.package(name), workspace)

    plan = Plan(
        kind=kind,
        name=roots[0].name if kind == "project" else None,
        roots=roots,
        group_root=None,
        groups=_groups(target, defaults),
        all_extras=target.all_extras,
        extras=frozenset(canonicalize_name(e) for e in target.extras),
        declared=declared,
    )
    root = index.root
    if (
        kind == "project"
        and root is not None
        and root.name != plan.name
        and root.name in members
        and any(plan.includes_group(root.name, g) for g in declared(root.name))
    ):
        plan = dataclasses.replace(plan, group_root=root)
    _validate(index, workspace, plan, target)
    return plan


def _validate(index: LockIndex, workspace: Workspace, plan: Plan, target: Target) -> None:
    who = f"member '{plan.name}'" if plan.kind == "project" else "the selected members"
    if target.extras:
        known: set[str] = set()
        for pkg in plan.roots:
            known |= index.declared_extras(pkg, workspace)
        for extra in sorted(plan.extras):
            if extra not in known:
                raise SelectionError(
                    f"extra '{extra}' is not defined by {who}; extras: {_listing(known)}"
                )
    if plan.groups.explicit:
        known = set()
        for pkg in plan.roots:
            known |= plan.declared(pkg.name)
        if plan.kind == "project" and index.root is not None and index.root.name in index.members:
            known |= plan.declared(index.root.name)
        if workspace.kind == "virtual":
            known |= set(index.file.manifest_groups) | set(workspace.root_groups)
        for group in sorted(plan.groups.explicit):
            if group not in known:
                raise SelectionError(
                    f"dependency group '{group}' is not defined by {who} or the workspace root; "
                    f"groups: {_listing(known)}"
                )


def _reachable_members(index: LockIndex, plan: Plan) -> frozenset[str]:
    """Members the target reaches by name, ignoring markers (uv's conflict pre-check)."""
    if plan.kind in ("workspace", "non-project"):
        return frozenset(index.members)
    found = {p.name for p in plan.roots}
    queue: deque[tuple[str, str | None]] = deque()
    seen: set[tuple[str, str | None]] = set()

    def push(name: str, extra: str | None) -> None:
        if (name, extra) not in seen:
            seen.add((name, extra))
            queue.append((name, extra))

    for pkg in plan.roots:
        if plan.groups.prod:
            push(pkg.name, None)
            for extra in plan.extra_names(pkg.optional):
                push(pkg.name, extra)
    for pkg in (*plan.roots, *((plan.group_root,) if plan.group_root else ())):
        for group, deps in pkg.groups.items():
            if plan.includes_group(pkg.name, group):
                for dep in deps:
                    push(dep.name, None)
                    for extra in dep.extras:
                        push(dep.name, extra)
    member_set = set(index.members)
    while queue:
        name, wanted = queue.popleft()
        if name in member_set:
            found.add(name)
        candidates = index.by_name.get(name)
        if not candidates:
            continue
        pkg = candidates[-1]
        deps = pkg.dependencies if wanted is None else pkg.optional.get(wanted, ())
        for dep in deps:
            push(dep.name, None)
            for sub in dep.extras:
                push(dep.name, sub)
    return frozenset(found)


def check_conflicts(index: LockIndex, plan: Plan) -> None:
    """SelectionError when the target asks for two items of one ``conflicts`` set."""
    if not index.file.conflicts:
        return
    packages = _reachable_members(index, plan)
    for conflict in index.file.conflicts:
        hits = []
        for item in conflict:
            if item.package not in packages:
                continue
            if item.extra is not None:
                on = plan.all_extras or item.extra in plan.extras
            elif item.group is not None:
                on = plan.groups.contains(item.group)
            else:
                on = plan.groups.prod
            if on:
                hits.append(item)
        if len(hits) >= 2:
            asked = ", ".join(i.describe() for i in hits)
            declared = ", ".join(i.describe() for i in conflict)
            raise SelectionError(
                f"{asked} cannot be installed together: [tool.uv] conflicts declares "
                f"{{{declared}}} mutually exclusive; select at most one of them"
            )
