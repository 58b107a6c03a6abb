"""Which members a change since a git revision affects, and why.

A member is selected when

- one of its files changed in ``git diff REF...HEAD``, in the working tree or index
  (``git diff HEAD``), or is untracked and not ignored;
- it depends, through the workspace graph, on a member selected for its files;
- its lock closure (for its default target, each extra and each group) differs between
  ``uv.lock`` at REF and ``uv.lock`` today, so a bumped third-party pin selects exactly
  the members that reach it;
- the root ``pyproject.toml``'s ``[tool.uv.workspace]`` or ``[tool.uv.sources]`` changed,
  or ``uv.lock`` / the root ``pyproject.toml`` cannot be compared: then every member is.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import LockError, SelectionError, WsenvError
from ..lock import Closure, Lock
from ..target import MarkerEnv, Target
from ..workspace import Member, Workspace, loads_toml

__all__ = ["changed_files", "changed_members", "git_toplevel"]

#: How many changed files a reason quotes before "(+N more)".
_QUOTED_FILES = 3


def _git(args: Sequence[str], cwd: Path, *, what: str) -> str:
    env = dict(os.environ)
    env["GIT_OPTIONAL_LOCKS"] = "0"
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            check=False,
        )
    except FileNotFoundError as exc:
        raise WsenvError(f"{what}: git is not installed or not on PATH") from exc
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = message[-1] if message else f"exit code {proc.returncode}"
        raise WsenvError(f"{what}: `git {' '.join(args)}` failed in {cwd}: {detail}")
    return proc.stdout.decode("utf-8", "surrogateescape")


def git_toplevel(start: Path) -> Path:
    """The top directory of the git work tree holding ``start``; WsenvError if none."""
    try:
        out = _git(["rev-parse", "--show-toplevel"], start, what="changed members")
    except WsenvError as exc:
        raise WsenvError(
            f"changed members: {start} is not inside a git work tree "
            "(--changed-since compares git revisions; run it in a clone)"
        ) from exc
    return Path(out.strip()).resolve()


def _check_ref(top: Path, ref: str) -> None:
    try:
        _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], top, what="changed")
    except WsenvError as exc:
        raise SelectionError(
            f"changed since {ref!r}: not a commit in the git repository at {top} "
            "(fetch it first, e.g. `git fetch origin main` and use origin/main; in GitHub "
            "Actions check out with fetch-depth: 0)"
        ) from exc


def _names(out: str) -> list[str]:
    return [name for name in out.split("\0") if name]


def changed_files(top: Path, ref: str) -> list[str]:
    """Paths (relative to ``top``, ``/``-separated) changed since ``ref``: committed on
    this branch since the merge base, staged or unstaged, or untracked and not ignored."""
    _check_ref(top, ref)
    what = f"changed since {ref!r}"
    try:
        committed = _git(
            ["diff", "--name-only", "--no-renames", "--no-relative", "-z", f"{ref}...HEAD"],
            top,
            what=what,
        )
    except WsenvError as exc:
        raise SelectionError(
            f"{exc} (a shallow clone has no merge base: fetch with more history, e.g. "
            "fetch-depth: 0)"
        ) from exc
    worktree = _git(
        ["diff", "--name-only", "--no-renames", "--no-relative", "-z", "HEAD"], top, what=what
    )
    untracked = _git(["ls-files", "--others", "--exclude-standard", "-z"], top, what=what)
    return sorted(set(_names(committed)) | set(_names(worktree)) | set(_names(untracked)))


def _show(top: Path, ref: str, path: Path) -> str | None:
    """The text of ``path`` at ``ref``, or ``None`` when it does not exist there."""
    rel = path.relative_to(top).as_posix()
    proc = subprocess.run(
        ["git", "cat-file", "-e", f"{ref}:{rel}"], cwd=top, capture_output=True, check=False
    )
    if proc.returncode != 0:
        return None
    return _git(["show", f"{ref}:{rel}"], top, what=f"changed since {ref!r}")


def _uv_tables(data: Mapping[str, Any]) -> tuple[object, object]:
    tool = data.get("tool")
    uv = tool.get("uv") if isinstance(tool, dict) else None
    if not isinstance(uv, dict):
        return None, None
    return uv.get("workspace"), uv.get("sources")


def _root_change(workspace: Workspace, top: Path, ref: str) -> str | None:
    """Why every member is selected because of the root pyproject, or ``None``."""
    path = workspace.root_pyproject
    old_text = _show(top, ref, path)
    if old_text is None:
        return f"the root pyproject.toml did not exist at {ref}"
    try:
        old = loads_toml(old_text, path=path)
    except WsenvError:
        return f"the root pyproject.toml at {ref} cannot be read"
    new = loads_toml(path.read_text(encoding="utf-8"), path=path)
    (old_ws, old_src), (new_ws, new_src) = _uv_tables(old), _uv_tables(new)
    if old_ws != new_ws:
        return "the root pyproject.toml [tool.uv.workspace] changed"
    if old_src != new_src:
        return "the root pyproject.toml [tool.uv.sources] changed"
    return None


def _targets(member: Member) -> list[Target]:
    packages = (member.name,)
    targets = [Target(packages=packages)]
    targets += [Target(packages=packages, extras=(extra,)) for extra in sorted(member.extras)]
    targets += [Target(packages=packages, groups=(group,)) for group in sorted(member.groups)]
    return targets


def _closures(
    lock: Lock, workspace: Workspace, member: Member, envs: Sequence[MarkerEnv]
) -> list[Closure | str]:
    """The member's closures, or the error text where one cannot be computed."""
    found: list[Closure | str] = []
    for env in envs:
        for target in _targets(member):
            try:
                found.append(lock.closure(workspace, target, env))
            except (LockError, SelectionError) as exc:
                # compared by kind only: the message names the (temporary) lock file
                found.append(f"{target.label()}: {type(exc).__name__}")
    return found


def _pin_changes(old: Iterable[Closure | str], new: Iterable[Closure | str]) -> str:
    before: dict[str, set[str]] = {}
    after: dict[str, set[str]] = {}
    for closures, into in ((old, before), (new, after)):
        for closure in closures:
            if isinstance(closure, str):
                continue
            for pin in closure.pins:
                into.setdefault(pin.name, set()).add(pin.version or pin.source)
    parts: list[str] = []
    for name in sorted(before.keys() | after.keys()):
        was, now = before.get(name, set()), after.get(name, set())
        if was == now:
            continue
        if not was:
            parts.append(f"+{name} {', '.join(sorted(now))}")
        elif not now:
            parts.append(f"-{name} {', '.join(sorted(was))}")
        else:
            parts.append(f"{name} {', '.join(sorted(was))} -> {', '.join(sorted(now))}")
    return "; ".join(parts) if parts else "sources or artifacts of a pin"


def _lock_changes(
    workspace: Workspace, top: Path, ref: str, envs: Sequence[MarkerEnv]
) -> dict[str, str] | str:
    """member -> why its closure changed, or one reason that selects every member."""
    path = workspace.lock_path
    old_text = _show(top, ref, path)
    if not path.exists():
        return {} if old_text is None else f"uv.lock existed at {ref} and is gone now"
    if old_text is None:
        return f"uv.lock did not exist at {ref}"
    new_lock = Lock.load(path)
    with tempfile.TemporaryDirectory(prefix="wsenv-changed-") as tmp:
        old_path = Path(tmp) / "uv.lock"
        old_path.write_text(old_text, encoding="utf-8")
        try:
            old_lock = Lock.load(old_path)
        except LockError as exc:
            return f"uv.lock at {ref} cannot be read ({exc.message})"
        changes: dict[str, str] = {}
        for name, member in workspace.members.items():
            old = _closures(old_lock, workspace, member, envs)
            new = _closures(new_lock, workspace, member, envs)
            if old != new:
                changes[name] = f"lock closure changed: {_pin_changes(old, new)}"
    return changes


def _quote(files: Sequence[str]) -> str:
    shown = ", ".join(files[:_QUOTED_FILES])
    more = len(files) - _QUOTED_FILES
    return f"{shown} (+{more} more)" if more > 0 else shown


def changed_members(
    workspace: Workspace, ref: str, *, pythons: Sequence[str] = ()
) -> dict[str, str]:
    """``{member: why it is selected}`` for a change since ``ref``, sorted by member.

    Lock closures are compared for each of ``pythons`` (``X.Y``, planned for this
    platform) or, without any, for the running interpreter. WsenvError when the workspace
    is not in a git work tree; SelectionError for an unknown ``ref`` or no merge base.
    """
    top = git_toplevel(workspace.root)
    files = changed_files(top, ref)
    everything = _root_change(workspace, top, ref)
    envs = [MarkerEnv.for_version(p) for p in pythons] or [MarkerEnv.current()]
    lock: dict[str, str] | str = everything or _lock_changes(workspace, top, ref, envs)
    if isinstance(lock, str):
        return {name: lock for name in workspace.members}

    reasons: dict[str, list[str]] = {}
    by_member: dict[str, list[str]] = {}
    lock_rel = workspace.lock_path.relative_to(top).as_posix()
    for rel in files:
        if rel == lock_rel:
            continue  # judged by the closures, not as a file of the root member
        path = top / rel
        if path != workspace.root and workspace.root not in path.parents:
            continue
        owner = workspace.member_for(path)
        if owner is not None:
            by_member.setdefault(owner.name, []).append(rel)
    for name, owned in by_member.items():
        reasons.setdefault(name, []).append(f"files changed: {_quote(owned)}")
    for name in sorted(by_member):
        for dependent in sorted(workspace.dependents(name)):
            reasons.setdefault(dependent, []).append(f"depends on {name}")
    for name, why in lock.items():
        reasons.setdefault(name, []).append(why)
    return {name: "; ".join(reasons[name]) for name in workspace.members if name in reasons}
