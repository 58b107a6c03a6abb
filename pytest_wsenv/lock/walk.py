"""Walk a parsed ``uv.lock`` from a :class:`~pytest_wsenv.lock.plan.Plan` for one
interpreter, the way ``uv sync`` materializes a lock: follow dependency, extra and group
edges whose markers hold, with uv's conflict markers decided by what the walk activates.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from ..errors import LockError, SelectionError
from ..target import MarkerEnv
from .index import Edge, LockIndex
from .lockfile import LockedDep, LockedPackage, MetaRequirement
from .markers import MarkerEvaluator, MarkerFailure, encode_extra, encode_group, encode_project
from .plan import Plan

__all__ = ["walk"]


def _find_by_markers(
    index: LockIndex, req: MetaRequirement, ev: MarkerEvaluator
) -> LockedPackage | None:
    found = [
        p
        for p in index.by_name.get(req.name, ())
        if not p.resolution_markers or any(ev(m) for m in p.resolution_markers)
    ]
    if len(found) > 1:
        raise LockError(
            f"{req.where}: more than one locked '{req.name}' applies to this interpreter",
            path=index.path,
        )
    return found[0] if found else None


def _check_interpreter(index: LockIndex, env: MarkerEnv, ev: MarkerEvaluator) -> None:
    file = index.file
    values = env.as_dict()
    if file.requires_python and "python_full_version" in values:
        try:
            spec = SpecifierSet(file.requires_python)
        except InvalidSpecifier as exc:
            raise LockError(
                f"requires-python: invalid specifier {file.requires_python!r}", path=index.path
            ) from exc
        if not spec.contains(values["python_full_version"], prereleases=True):
            raise SelectionError(
                f"Python {values['python_full_version']} is outside the lock's requires-python "
                f"{file.requires_python!r}; pick an interpreter it supports"
            )
    for key in ("supported_markers", "resolution_markers"):
        markers: Sequence[str] = getattr(file, key)
        if markers and not any("extra" in m for m in markers) and not any(ev(m) for m in markers):
            raise SelectionError(
                f"this interpreter matches none of the environments uv.lock was resolved for "
                f"({' | '.join(markers)}); add it to tool.uv.environments and run `uv lock`"
            )


def walk(index: LockIndex, plan: Plan, env: MarkerEnv) -> list[LockedPackage]:
    """The packages ``plan`` installs on ``env`` (virtual ones included), in lock order."""
    ev = MarkerEvaluator(env.as_dict())
    try:
        return _walk(index, plan, env, ev)
    except MarkerFailure as exc:
        raise LockError(str(exc), path=index.path) from exc


def _walk(index: LockIndex, plan: Plan, env: MarkerEnv, ev: MarkerEvaluator) -> list[LockedPackage]:
    _check_interpreter(index, env, ev)
    packages = index.file.packages
    conflicts = bool(index.file.conflicts)
    active: set[str] = set()
    selected: set[int] = set()
    queue: deque[tuple[int, str | None]] = deque()
    seen: set[tuple[int, str | None]] = set()

    def push(pkg: int, extra: str | None) -> None:
        if (pkg, extra) not in seen:
            seen.add((pkg, extra))
            queue.append((pkg, extra))

    def self_extras(dep: LockedDep) -> set[str]:
        return {encode_extra(dep.name, x) for x in dep.extras} - active if conflicts else set()

    group_roots = (*plan.roots, *((plan.group_root,) if plan.group_root else ()))
    if conflicts:
        for pkg in plan.roots:
            if plan.groups.prod:
                active.add(encode_project(pkg.name))
                active.update(encode_extra(pkg.name, e) for e in plan.extra_names(pkg.optional))
        for pkg in group_roots:
            active.update(
                encode_group(pkg.name, g) for g in pkg.groups if plan.includes_group(pkg.name, g)
            )
    for pkg in plan.roots:
        if plan.groups.prod:
            selected.add(pkg.index)
            push(pkg.index, None)
            for extra in plan.extra_names(pkg.optional):
                push(pkg.index, extra)
    for pkg in group_roots:
        for group, edges in index.groups[pkg.index].items():
            if not plan.includes_group(pkg.name, group):
                continue
            for dep, target in edges:
                new = self_extras(dep)
                if not ev(dep.marker, active | new):
                    continue
                active |= new
                selected.add(target)
                push(target, None)
                for extra in dep.extras:
                    push(target, extra)
    manifest = list(index.file.manifest_requirements)
    for group, reqs in index.file.manifest_groups.items():
        if plan.includes_group(None, group):
            manifest.extend(reqs)
    for req in manifest:
        if not ev(req.marker):
            continue
        found = _find_by_markers(index, req, ev)
        if found is None:
            raise LockError(
                f"{req.where}: no locked '{req.name}' applies to this interpreter; run `uv lock`",
                path=index.path,
            )
        if conflicts:
            active.update(encode_extra(found.name, x) for x in req.extras)
        selected.add(found.index)
        push(found.index, None)
        for extra in req.extras:
            push(found.index, extra)

    def edges_of(pkg: int, extra: str | None) -> tuple[Edge, ...]:
        return index.edges[pkg] if extra is None else index.optional[pkg].get(extra, ())

    if conflicts:
        _activate(
            index,
            ev=ev,
            active=active,
            queue=deque(queue),
            seen=set(seen),
            edges_of=edges_of,
        )
    while queue:
        current, wanted = queue.popleft()
        for dep, target in edges_of(current, wanted):
            if not ev(dep.marker, active):
                continue
            selected.add(target)
            push(target, None)
            for sub in dep.extras:
                push(target, sub)
    chosen = [packages[i] for i in sorted(selected)]
    by_name: dict[str, LockedPackage] = {}
    for pkg in chosen:
        other = by_name.setdefault(pkg.name, pkg)
        if other is not pkg:
            raise LockError(
                f"uv.lock selects two versions of '{pkg.name}' ({other.version}, {pkg.version}) "
                "for this interpreter; the lock is inconsistent, run `uv lock`",
                path=index.path,
            )
    return chosen


def _activate(
    index: LockIndex,
    *,
    ev: MarkerEvaluator,
    active: set[str],
    queue: deque[tuple[int, str | None]],
    seen: set[tuple[int, str | None]],
    edges_of: Callable[[int, str | None], tuple[Edge, ...]],
) -> None:
    """First pass: every extra that the walk activates, then uv's conflicting-extra check."""
    while queue:
        pkg, extra = queue.popleft()
        for dep, target in edges_of(pkg, extra):
            new = {encode_extra(dep.name, x) for x in dep.extras} - active
            if not ev(dep.marker, active | new):
                continue
            active |= new
            for key in ((target, None), *((target, x) for x in dep.extras)):
                if key not in seen:
                    seen.add(key)
                    queue.append(key)
    for conflict in index.file.conflicts:
        hits = [
            item
            for item in conflict
            if item.extra is not None and encode_extra(item.package, item.extra) in active
        ]
        if len(hits) >= 2:
            raise SelectionError(
                f"{hits[0].describe()} and {hits[1].describe()} are both activated for this "
                f"interpreter but [tool.uv] conflicts declares them mutually exclusive"
            )
