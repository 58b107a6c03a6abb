"""The rule for the workspace root's test tooling in a member's environment.

Test tooling (:func:`is_tooling`) is pytest and the distributions named ``pytest-*`` or
``pytest_*``. ``uv.lock`` records no entry points, so a plugin published under another name
(one that declares a ``pytest11`` entry point, such as ``hypothesis``) is not recognised as
tooling: it is taken from a group of the member itself, like any test dependency.

Every member's environment gets, beside its own closure, the tooling of the workspace
root's test group (``dev``, the ``wsenv_test_group`` ini key) with its dependencies
(layer 2 of :mod:`.planner`). Packages the member's closure already has are neither taken
nor followed: the member's pin wins. Nothing else of the root's group is added.

- :func:`locked_tooling`: with ``uv.lock``, the pins that layer adds, at the lock's
  versions, for one interpreter;
- :func:`declared_tooling`: without a lock, the requirement lines of the root's group
  that layer adds (resolved, or followed through installed metadata, by the caller).

The environment engine, ``closure --tooling`` and the import audit all call these, so they
agree on what an environment holds.
"""

from __future__ import annotations

from collections.abc import Collection

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ..lock import Closure, Lock
from ..target import MarkerEnv
from ..workspace import Workspace

__all__ = ["declared_tooling", "is_tooling", "locked_tooling", "with_tooling"]


def is_tooling(name: str) -> bool:
    """Whether the distribution ``name`` is test tooling: pytest or a ``pytest-*`` plugin."""
    normalized = canonicalize_name(name)
    return normalized == "pytest" or normalized.startswith("pytest-")


def locked_tooling(
    lock: Lock, workspace: Workspace, group: str, env: MarkerEnv, *, have: Collection[str]
) -> Closure:
    """The tooling of the root's ``group`` with its locked dependencies on ``env``, minus
    what ``have`` (the member's own closure) already holds. Empty without such a group."""
    return lock.picked_closure(workspace, canonicalize_name(group), env, pick=is_tooling, stop=have)


def declared_tooling(workspace: Workspace, group: str, *, have: Collection[str]) -> tuple[str, ...]:
    """Without a lock: the tooling requirements of the root's ``group`` not in ``have``."""
    wanted: list[str] = []
    for text in workspace.root_groups.get(canonicalize_name(group), ()):
        try:
            name = canonicalize_name(Requirement(text).name)
        except InvalidRequirement:
            continue
        if is_tooling(name) and name not in have:
            wanted.append(text)
    return tuple(wanted)


def with_tooling(closure: Closure, tooling: Closure) -> Closure:
    """``closure`` and the ``tooling`` pins added to it, sorted by name."""
    return Closure(tuple(sorted((*closure.pins, *tooling.pins), key=lambda p: p.name)))
