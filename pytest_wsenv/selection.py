"""Decide which member runs which tests: collection arguments -> :class:`MemberRun` list.

Ownership comes from the workspace model alone, so the answer is the same from every
working directory:

- a file or node id belongs to :meth:`Workspace.member_for` of its path;
- a directory is split: the member owning the directory gets it (minus every nested
  member directory, which it must never descend into), and every member below it gets
  its own directory;
- under a virtual root, test files that belong to no member run in an environment of
  all members (``uv sync --all-packages``), with the workspace root as the child's
  directory;
- ``--ws-package`` restricts the runs to those members (and, without explicit
  arguments, runs each of them on its own directory).

Node ids shown by the parent end in ``@pyX.Y`` when several interpreters run the same
member; such an id given back on the command line runs only on that interpreter.
"""

from __future__ import annotations

import bisect
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name

from .errors import SelectionError
from .target import Target
from .workspace import Member, Workspace

__all__ = ["ALL_MEMBERS", "MemberRun", "Request", "python_suffix", "select_runs"]

#: ``MemberRun.member`` of the run that holds tests belonging to no member.
ALL_MEMBERS = ":all-members:"

_SUFFIX = re.compile(r"@py(?P<version>\d+(?:\.\d+)*)$")
_SKIP_DIRS = frozenset({".git", ".hg", ".venv", ".wsenv", ".tox", ".nox", "node_modules"})


@dataclass(frozen=True, slots=True)
class Request:
    """What the user asked for, from options and ini settings."""

    packages: tuple[str, ...] = ()
    extras: tuple[str, ...] = ()
    all_extras: bool = False
    groups: tuple[str, ...] = ()
    no_default_groups: bool = False
    pythons: tuple[str | None, ...] = (None,)


@dataclass(frozen=True, slots=True)
class MemberRun:
    """One child pytest: a member (or all members) on one interpreter, with its args."""

    key: str  # unique: "bird-feeder", or "bird-feeder@py3.12" with several pythons
    member: str  # member name, or ALL_MEMBERS
    target: Target
    python: str | None  # interpreter request; None = the running interpreter
    rootdir: Path  # the child's working directory
    args: tuple[str, ...]  # paths / node ids relative to rootdir
    suffix: str = ""  # "@py3.12" when several interpreters run the same member
    ignores: tuple[Path, ...] = field(default=())  # absolute dirs the child must not collect

    @property
    def label(self) -> str:
        """The member, extras and python, for messages and the summary."""
        return self.key


def python_suffix(python: str | None, several: bool) -> str:
    """The node id suffix for ``python`` (empty unless several interpreters run)."""
    if not several:
        return ""
    return f"@py{python}" if python else "@py"


def _split_arg(arg: str) -> tuple[str, str, str | None]:
    """``path::rest@py3.12`` -> (path, "::rest", "3.12")."""
    python = None
    match = _SUFFIX.search(arg)
    if match:
        python = match.group("version")
        arg = arg[: match.start()]
    path, sep, rest = arg.partition("::")
    return path, sep + rest, python


def _is_within(path: Path, parent: Path) -> bool:
    """Whether ``path`` is ``parent`` or below it (both absolute and normalised): compared
    as strings, which for such paths says the same as ``parent in path.parents``."""
    inner, outer = str(path), str(parent)
    return inner == outer or inner.startswith(outer.rstrip(os.sep) + os.sep)


def _has_tests_outside(directory: Path, members: Iterable[Path]) -> bool:
    """Whether ``directory`` holds a test module outside every member directory."""
    blocked = {str(m) for m in members}
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames[:] = [
            d
            for d in dirnames
            if d not in _SKIP_DIRS
            and not d.startswith(".")
            and os.path.join(dirpath, d) not in blocked
        ]
        if any(
            f.endswith(".py") and (f.startswith("test_") or f.endswith("_test.py"))
            for f in filenames
        ):
            return True
    return False


def _rel(path: Path, start: Path) -> str:
    rel = os.path.relpath(path, start)
    return "." if rel == "." else Path(rel).as_posix()


class _Assignments:
    """Collects (owner, absolute path, node id tail, python filter) per owner."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.items: dict[str, list[tuple[Path, str, str | None]]] = {}

    def add(self, owner: str, path: Path, tail: str = "", python: str | None = None) -> None:
        self.items.setdefault(owner, []).append((path, tail, python))

    def add_directory(self, directory: Path, python: str | None) -> None:
        ws = self.workspace
        below = [m for m in ws.members.values() if _is_within(m.path, directory)]
        owner = ws.member_for(directory)
        if owner is not None:
            self.add(owner.name, directory, "", python)
        elif _has_tests_outside(directory, (m.path for m in below)):
            self.add(ALL_MEMBERS, directory, "", python)
        for member in below:
            if owner is None or member.name != owner.name:
                self.add(member.name, member.path, "", python)


class _NestedMembers:
    """Member directories below a directory, found by bisecting the sorted member paths
    (a workspace of hundreds of members is planned in O(N log N), not O(N^2))."""

    def __init__(self, workspace: Workspace) -> None:
        self._entries = sorted((str(m.path), m.name, m.path) for m in workspace.members.values())
        self._keys = [entry[0] for entry in self._entries]

    def ignores(self, rootdir: Path, owner: str) -> tuple[Path, ...]:
        """Member directories below ``rootdir`` that belong to another member."""
        prefix = str(rootdir).rstrip(os.sep) + os.sep
        start = bisect.bisect_left(self._keys, prefix)
        found = []
        for key, name, path in self._entries[start:]:
            if not key.startswith(prefix):
                break
            if name != owner:
                found.append(path)
        return tuple(sorted(found))


def _extras_for(member: Member | None, request: Request) -> tuple[str, ...]:
    if member is None:
        return tuple(canonicalize_name(e) for e in request.extras)
    wanted = (canonicalize_name(e) for e in request.extras)
    return tuple(e for e in wanted if e in member.extras)


def _check_extras(workspace: Workspace, request: Request, owners: Sequence[str]) -> None:
    """An extra must be defined by at least one selected member."""
    if ALL_MEMBERS in owners:
        members = list(workspace.members.values())
    else:
        members = [workspace.members[o] for o in owners]
    for extra in request.extras:
        if not any(canonicalize_name(extra) in m.extras for m in members):
            defined = sorted(f"{m.name}[{e}]" for m in members for e in m.extras)
            raise SelectionError(
                f"--ws-extra {extra}: no selected member defines this extra "
                f"(selected: {', '.join(m.name for m in members) or 'none'}; "
                f"extras they define: {', '.join(defined) or 'none'})"
            )


def _groups_for(workspace: Workspace, member: Member | None, request: Request) -> tuple[str, ...]:
    """The requested groups ``member`` or, as uv falls back, the workspace root defines."""
    wanted = [canonicalize_name(g) for g in request.groups]
    if member is None:
        return tuple(wanted)
    return tuple(g for g in wanted if g in member.groups or g in workspace.root_groups)


def _check_groups(workspace: Workspace, request: Request, owners: Sequence[str]) -> None:
    """A group must be defined by a selected member or by the workspace root."""
    if ALL_MEMBERS in owners:
        members = list(workspace.members.values())
    else:
        members = [workspace.members[o] for o in owners]
    for group in request.groups:
        name = canonicalize_name(group)
        if name in workspace.root_groups or any(name in m.groups for m in members):
            continue
        defined = sorted({*workspace.root_groups, *(g for m in members for g in m.groups)})
        raise SelectionError(
            f"--ws-group {group}: neither a selected member nor the workspace root defines "
            f"this dependency group (selected: {', '.join(m.name for m in members) or 'none'}; "
            f"groups: {', '.join(defined) or 'none'})"
        )


def select_runs(
    workspace: Workspace,
    args: Sequence[str],
    invocation_dir: Path,
    request: Request,
    *,
    explicit_args: bool,
) -> list[MemberRun]:
    """Map collection ``args`` (relative to ``invocation_dir``) to child runs.

    ``explicit_args`` is false when pytest filled in ``testpaths`` or the invocation
    directory itself; with ``--ws-package`` each package then runs on its own directory.
    """
    wanted = tuple(workspace.member(p).name for p in request.packages)
    assignments = _Assignments(workspace)
    if wanted and not explicit_args:
        for name in wanted:
            assignments.add(name, workspace.members[name].path)
    else:
        for arg in args:
            raw_path, tail, python = _split_arg(arg)
            path = Path(os.path.abspath(invocation_dir / raw_path))
            if not path.exists():
                raise SelectionError(f"file or directory not found: {arg}")
            if not _is_within(path, workspace.root):
                raise SelectionError(
                    f"{arg} is outside the workspace at {workspace.root}; "
                    "run it without --ws-isolated or from its own workspace"
                )
            if path.is_dir() and not tail:
                assignments.add_directory(path, python)
                continue
            found = workspace.member_for(path)
            assignments.add(found.name if found else ALL_MEMBERS, path, tail, python)
    owners = [o for o in assignments.items if not wanted or o in wanted]
    owners.sort(key=lambda o: (o == ALL_MEMBERS, o))
    _check_extras(workspace, request, owners)
    _check_groups(workspace, request, owners)

    several = len(request.pythons) > 1
    nested = _NestedMembers(workspace)
    runs: list[MemberRun] = []
    for owner in owners:
        member = workspace.members.get(owner)
        rootdir = member.path if member else workspace.root
        if member:
            target = Target(
                packages=(member.name,),
                extras=_extras_for(member, request),
                all_extras=request.all_extras,
                groups=_groups_for(workspace, member, request),
                no_default_groups=request.no_default_groups,
            )
        else:
            target = Target(
                all_packages=True,
                extras=_extras_for(None, request),
                all_extras=request.all_extras,
                groups=tuple(canonicalize_name(g) for g in request.groups),
                no_default_groups=request.no_default_groups,
            )
        for python in request.pythons:
            suffix = python_suffix(python, several)
            child_args: list[str] = []
            for path, tail, only in assignments.items[owner]:
                if only is not None and (python is None or python != only):
                    continue
                rel = _rel(path, rootdir)
                if rel not in child_args or tail:
                    child_args.append(rel + tail)
            if not child_args:
                continue
            runs.append(
                MemberRun(
                    key=f"{owner}{suffix}",
                    member=owner,
                    target=target,
                    python=python,
                    rootdir=rootdir,
                    args=tuple(dict.fromkeys(child_args)),
                    suffix=suffix,
                    ignores=nested.ignores(rootdir, owner),
                )
            )
    return runs
