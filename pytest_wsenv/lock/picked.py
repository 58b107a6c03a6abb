"""Part of the workspace root's dependency group, with its locked dependencies.

The test tooling of a workspace usually lives in the root's ``dev`` group beside docs tools,
web frameworks and databases. :func:`walk_picked` walks only the requirements of that group
whose names a predicate picks (``pytest``, ``pytest-asyncio``, ...), then their locked
dependencies, for one interpreter, the way :mod:`.walk` walks a whole target: the same
markers, the same versions. Packages named in ``stop`` (already pinned by the member's own
closure) are neither taken nor followed: the member's pin wins.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection

from ..errors import LockError
from ..target import MarkerEnv
from ..workspace import Workspace
from .index import LockIndex
from .lockfile import LockedPackage
from .markers import MarkerEvaluator, MarkerFailure, encode_group
from .walk import _find_by_markers

__all__ = ["walk_picked"]


def walk_picked(
    index: LockIndex,
    workspace: Workspace,
    group: str,
    env: MarkerEnv,
    *,
    pick: Callable[[str], bool],
    stop: Collection[str] = (),
) -> list[LockedPackage]:
    """The picked requirements of the root's ``group`` and their dependencies on ``env``.

    An empty list when the root declares no such group.
    """
    ev = MarkerEvaluator(env.as_dict())
    try:
        return _walk(index, workspace, group, ev, pick=pick, stop=frozenset(stop))
    except MarkerFailure as exc:
        raise LockError(str(exc), path=index.path) from exc


def _walk(
    index: LockIndex,
    workspace: Workspace,
    group: str,
    ev: MarkerEvaluator,
    *,
    pick: Callable[[str], bool],
    stop: frozenset[str],
) -> list[LockedPackage]:
    packages = index.file.packages
    root = index.root
    active: set[str] = set()
    queue: deque[tuple[int, str | None]] = deque()
    seen: set[tuple[int, str | None]] = set()
    selected: set[int] = set()

    def push(pkg: int, extras: tuple[str, ...]) -> None:
        if packages[pkg].name in stop:
            return
        selected.add(pkg)
        for key in ((pkg, None), *((pkg, x) for x in extras)):
            if key not in seen:
                seen.add(key)
                queue.append(key)

    if workspace.kind != "virtual" and root is not None:
        active.add(encode_group(root.name, group))
        for dep, target in index.groups[root.index].get(group, ()):
            if pick(dep.name) and ev(dep.marker, active):
                push(target, dep.extras)
    else:
        for req in index.file.manifest_groups.get(group, ()):
            if not (pick(req.name) and ev(req.marker)):
                continue
            found = _find_by_markers(index, req, ev)
            if found is None:
                raise LockError(
                    f"{req.where}: no locked '{req.name}' applies to this interpreter; "
                    "run `uv lock`",
                    path=index.path,
                )
            push(found.index, req.extras)
    while queue:
        current, wanted = queue.popleft()
        edges = index.edges[current] if wanted is None else index.optional[current].get(wanted, ())
        for dep, target in edges:
            if ev(dep.marker, active):
                push(target, dep.extras)
    return [packages[i] for i in sorted(selected) if packages[i].source.kind != "virtual"]
