"""From an isolated session's configuration to the plan of its runs.

:func:`plan_isolation` is the one place where the first stages meet:
:class:`~pytest_wsenv.config.WsConfig` (what the user asked for) ->
:class:`~pytest_wsenv.workspace.Workspace` -> :func:`~pytest_wsenv.selection.select_runs`
(narrowed by ``--ws-changed-since``, ``--ws-shard`` and ``--ws-part``) -> an
:class:`~pytest_wsenv.envs.manager.EnvManager` that builds each run's environment later,
in the runner's worker threads.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import pytest
from packaging.version import Version

from ..config import WsConfig, workspace_start
from ..envs.cache import resolve_cache_dir
from ..envs.manager import EnvManager
from ..errors import SelectionError, WsenvError
from ..lock import Lock
from ..runner.output import check_debugging
from ..runner.session import DEFAULT_MAX_IDLE
from ..runner.timeouts import Limits, limits_of
from ..selection import ALL_MEMBERS, MemberRun, Request, select_runs
from ..workspace import Workspace
from .progress import SessionLines
from .split import requested_parts

__all__ = ["IsolationPlan", "plan_isolation"]


@dataclass(frozen=True)
class IsolationPlan:
    """What an isolated session runs, and with what."""

    workspace: Workspace
    manager: EnvManager
    lines: SessionLines  # what the session says about environments (a plugin)
    runs: Sequence[MemberRun]  # the runs to start, in request order
    # runs whose interpreter their requires-python excludes, with the reason
    skipped: Sequence[tuple[MemberRun, str]]
    max_parallel: int
    max_restarts: int
    dist: str = "load"  # pytest-xdist's --dist, for sharing a member's tests (with -n)
    stream: bool = False  # --ws-stream: run members as they collect
    fork: bool = True
    max_idle: int = DEFAULT_MAX_IDLE
    limits: Limits = field(default_factory=Limits)  # time limits per test and per member
    notes: Sequence[str] = field(default_factory=tuple)  # why members were chosen (-v)
    nothing: str | None = None  # why nothing runs, when nothing does
    # --ws-shard, --ws-part: run key -> (the 0-based parts of its tests to run, the parts)
    splits: Mapping[str, tuple[tuple[int, ...], int]] = field(
        default_factory=lambda: MappingProxyType({})
    )


def plan_isolation(config: pytest.Config) -> IsolationPlan:
    """The plan for ``config``; :class:`~pytest_wsenv.errors.WsenvError` on bad input."""
    settings = WsConfig.from_pytest(config)
    dist = str(config.getoption("dist", "no") or "no")
    max_parallel = _take_over_xdist(config)
    check_debugging(config, max_parallel)
    limits = limits_of(config)
    workspace = Workspace.discover(workspace_start(config))
    lock = Lock.for_workspace(workspace)
    if lock is not None:  # extras a member declares dynamically are in the lock
        workspace = lock.fill_dynamic(workspace)
    request = Request(
        packages=settings.packages,
        extras=settings.extras,
        all_extras=settings.all_extras,
        groups=settings.groups,
        no_default_groups=settings.no_default_groups,
        pythons=settings.pythons or (None,),
    )
    runs = select_runs(
        workspace,
        config.args,
        config.invocation_params.dir,
        request,
        explicit_args=config.args_source == pytest.Config.ArgsSource.ARGS,
    )
    notes: list[str] = []
    selected = len(runs)
    runs, splits = _narrow(config, workspace, runs, settings, notes)
    nothing = None
    if not runs:
        nothing = _why_nothing(config, settings, selected)
    lines = SessionLines(config)
    manager = EnvManager(
        workspace,
        lock,
        cache_dir=resolve_cache_dir(
            workspace.root, settings.cache_dir_option, settings.cache_dir_ini
        ),
        backend=settings.backend,
        offline=settings.offline,
        rebuild=settings.rebuild,
        with_reqs=settings.with_reqs,
        with_requirement_files=settings.with_requirement_files,
        test_group=settings.test_group,
        strict_runner=settings.strict_runner,
        no_install=frozenset(settings.no_install),
        log=lines,
        verbose=config.option.verbose > 0,
        progress=lines,
    )
    runnable: list[MemberRun] = []
    skipped: list[tuple[MemberRun, str]] = []
    for run in runs:
        reason = _excluded(workspace, manager, run)
        if reason:
            skipped.append((run, reason))
        else:
            runnable.append(run)
    if manager.verbose:
        notes += _tooling_notes(manager, runnable)
    return IsolationPlan(
        workspace=workspace,
        manager=manager,
        lines=lines,
        runs=tuple(runnable),
        skipped=tuple(skipped),
        max_parallel=max_parallel,
        dist=dist,
        stream=settings.stream,
        max_restarts=settings.max_restarts,
        fork=not settings.no_fork and hasattr(os, "fork"),
        max_idle=settings.max_idle,
        limits=limits,
        notes=tuple(notes),
        nothing=nothing,
        splits=splits,
    )


def _take_over_xdist(config: pytest.Config) -> int:
    """``-n N``: run N member children at once instead of N xdist workers."""
    numprocesses = config.getoption("numprocesses", None)
    if not numprocesses or config.getoption("dist", "no") == "no":
        return 1
    config.option.dist = "no"
    config.option.tx = []
    return max(1, int(numprocesses))


def _narrow(
    config: pytest.Config,
    workspace: Workspace,
    runs: list[MemberRun],
    settings: WsConfig,
    notes: list[str],
) -> tuple[list[MemberRun], Mapping[str, tuple[tuple[int, ...], int]]]:
    """``--ws-changed-since`` and ``--ws-shard``: keep a subset of the planned runs, and
    say which of them the shard runs only in part (a run heavier than a fair share);
    ``--ws-part``: which runs the session runs only in part, as the user said.

    Why each member was chosen is appended to ``notes`` (shown in the header with -v).
    """
    wanted = config.getoption("ws_part", None) or []
    if wanted and config.getoption("ws_shard"):
        raise SelectionError(
            "--ws-part cannot be combined with --ws-shard, which decides the parts itself: "
            "give --ws-shard K/N alone, or the --ws-package and --ws-part flags "
            "`pytest-wsenv matrix --shards N` prints"
        )
    parts = requested_parts(wanted, workspace, runs)  # checked against the whole selection
    ref = config.getoption("ws_changed_since")
    if ref:
        from ..ci import changed_members

        changed = changed_members(workspace, ref, pythons=settings.pythons)
        everything = set(changed) >= set(workspace.members)
        runs = [r for r in runs if r.member in changed or (r.member == ALL_MEMBERS and everything)]
        notes += [f"wsenv: {member} selected: {why}" for member, why in changed.items()]
    shard = config.getoption("ws_shard")
    if shard:
        from .. import ci

        k, n = ci.parse_shard(shard)
        counts = {
            r.key: ci.count_tests(workspace, workspace.members[r.member])
            for r in runs
            if r.member in workspace.members
        }
        cache = getattr(config, "cache", None)
        durations = ci.valid_durations(cache.get(ci.DURATIONS_KEY, {}) if cache is not None else {})
        weights = ci.member_weights([r.key for r in runs], durations, counts)
        shard = ci.plan_shard(weights, k, n, counts)
        keep = set(shard.keys)
        runs = [r for r in runs if r.key in keep]
        for key, (held, count) in shard.parts.items():
            numbers = ", ".join(str(p + 1) for p in held)
            notes.append(
                f"wsenv: {key} split by test into {count} parts: shard {k}/{n} runs "
                f"part{'s' if len(held) > 1 else ''} {numbers}"
            )
        return runs, shard.parts
    kept = {r.key for r in runs}
    parts = {key: split for key, split in parts.items() if key in kept}
    for key, (held, count) in parts.items():
        numbers = ", ".join(str(p + 1) for p in held)
        notes.append(
            f"wsenv: {key} split by test into {count} parts: --ws-part runs "
            f"part{'s' if len(held) > 1 else ''} {numbers}"
        )
    return runs, MappingProxyType(parts)


def _why_nothing(config: pytest.Config, settings: WsConfig, selected: int) -> str:
    """One line: why a selection runs no member."""
    if selected:
        if config.getoption("ws_changed_since") and not config.getoption("ws_shard"):
            return f"no selected member changed since {config.getoption('ws_changed_since')}"
        if config.getoption("ws_changed_since"):
            return (
                f"shard {config.getoption('ws_shard')} holds none of the members changed "
                f"since {config.getoption('ws_changed_since')}"
            )
        return f"shard {config.getoption('ws_shard')} holds no member"
    if settings.packages:
        return (
            f"the collection arguments ({' '.join(config.args)}) hold no test file of "
            f"--ws-package {', '.join(settings.packages)}"
        )
    return f"the collection arguments ({' '.join(config.args)}) hold no workspace member"


def _tooling_notes(manager: EnvManager, runs: Sequence[MemberRun]) -> list[str]:
    """-v: one header line per run saying what its env holds and where its tooling is from.

    A run whose spec cannot be made is left out here: its error is reported when its
    environment is prepared, as without -v.
    """
    lines = []
    for run in runs:
        try:
            spec = manager.spec_for(run.target, manager.interpreter(run.python))
        except WsenvError:
            continue
        name = "all members" if run.member == ALL_MEMBERS else run.target.label()
        lines.append(f"wsenv: {name}: {'; '.join(spec.layers)}")
    return lines


def _excluded(workspace: Workspace, manager: EnvManager, run: MemberRun) -> str | None:
    """Why ``run``'s interpreter cannot run it (requires-python), or None.

    The interpreter is looked up here, at configuration time, so that one that does
    not exist is a usage error before anything is built.
    """
    interpreter = manager.interpreter(run.python)
    version = Version(interpreter.version)
    member = workspace.members.get(run.member)
    for owner, spec in (
        (f"member '{run.member}'", member.requires_python if member else None),
        ("the workspace", workspace.requires_python),
    ):
        if spec is not None and not spec.contains(version, prereleases=True):
            return (
                f"{owner} requires-python {spec} excludes Python {interpreter.version} "
                f"({interpreter.executable})"
            )
    return None
