"""Turn an isolated pytest session's configuration into child runs, and register them.

This is the one place where the pieces meet: :class:`~.config.WsConfig` (what the user
asked for) -> :class:`~.workspace.Workspace` -> :func:`~.selection.select_runs` ->
:class:`~.envs.manager.EnvManager` (built lazily, per child, in the runner's worker
threads) -> :class:`~.runner.IsolatedRun` (children and report replay).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import cast

import pytest
from packaging.version import Version

from .config import WsConfig, workspace_start
from .envs.cache import resolve_cache_dir
from .envs.layers import attached_layers
from .envs.manager import EnvManager, ReadyEnv
from .errors import SelectionError, WsenvError
from .lock import Lock
from .runner import ChildRequest, ChildSpec, IsolatedRun, clean_child_env
from .runner.forkserver import runtime_of
from .runner.session import DEFAULT_MAX_IDLE
from .selection import ALL_MEMBERS, MemberRun, Request, select_runs
from .workspace import Workspace

__all__ = ["install"]

PLUGIN_NAME = "wsenv-isolated"


def install(config: pytest.Config) -> None:
    """Plan the isolated run for ``config`` and register it; usage errors are one line."""
    try:
        controller = _Controller.create(config)
    except WsenvError as exc:
        raise pytest.UsageError(f"pytest-wsenv: {exc}") from None
    # Every argument now belongs to a child: the parent collects nothing in-process.
    config.args = []
    config.pluginmanager.register(controller.run, PLUGIN_NAME)
    config.pluginmanager.register(controller, f"{PLUGIN_NAME}-summary")
    from .audit.diagnose import MissingModuleDiagnosis

    diagnosis = MissingModuleDiagnosis(
        config,
        controller.workspace,
        controller.manager.lock,
        controller.runs.values(),
        test_group=controller.manager.test_group,
    )
    config.pluginmanager.register(diagnosis, f"{PLUGIN_NAME}-diagnosis")


def _check_compatible(config: pytest.Config) -> None:
    if config.getoption("usepdb", False):
        raise SelectionError(
            "--pdb cannot debug a test that runs in a member's child process; "
            "drop --pdb, or run that member's tests without isolation"
        )


def _take_over_xdist(config: pytest.Config) -> int:
    """``-n N``: run N member children at once instead of N xdist workers."""
    numprocesses = config.getoption("numprocesses", None)
    if not numprocesses or config.getoption("dist", "no") == "no":
        return 1
    config.option.dist = "no"
    config.option.tx = []
    return max(1, int(numprocesses))


def _forwarded_options(config: pytest.Config) -> list[str]:
    """Parent options that change what a child selects or how it reports a failure."""
    opt = config.option
    args: list[str] = []
    if opt.keyword:
        args += ["-k", opt.keyword]
    if opt.markexpr:
        args += ["-m", opt.markexpr]
    if opt.verbose > 0:
        args.append("-" + "v" * opt.verbose)
    elif opt.verbose < 0:
        args.append("-" + "q" * -opt.verbose)
    if opt.tbstyle and opt.tbstyle != "auto":
        args.append(f"--tb={opt.tbstyle}")
    if opt.showlocals:
        args.append("--showlocals")
    if opt.runxfail:
        args.append("--runxfail")
    if opt.maxfail:
        args.append(f"--maxfail={opt.maxfail}")
    for spec in opt.pythonwarnings or ():
        args.append(f"-W{spec}")
    if opt.importmode != "prepend":
        args.append(f"--import-mode={opt.importmode}")
    if opt.basetemp:
        # each child gets <basetemp>/<run key>; pytest creates only the last level
        base = Path(opt.basetemp).absolute()
        base.mkdir(parents=True, exist_ok=True)
        args.append(f"--basetemp={base / '{key}'}")
    return args


def _narrow(
    config: pytest.Config,
    workspace: Workspace,
    runs: list[MemberRun],
    settings: WsConfig,
    notes: list[str],
) -> list[MemberRun]:
    """``--ws-changed-since`` and ``--ws-shard``: keep a subset of the planned runs.

    Why each member was chosen is appended to ``notes`` (shown in the header with -v).
    """
    ref = config.getoption("ws_changed_since")
    if ref:
        from .changed import changed_members

        changed = changed_members(workspace, ref, pythons=settings.pythons)
        everything = set(changed) >= set(workspace.members)
        runs = [r for r in runs if r.member in changed or (r.member == ALL_MEMBERS and everything)]
        notes += [f"wsenv: {member} selected: {why}" for member, why in changed.items()]
    shard = config.getoption("ws_shard")
    if shard:
        from . import shards

        k, n = shards.parse_shard(shard)
        counts = {
            r.key: shards.count_tests(workspace, workspace.members[r.member])
            for r in runs
            if r.member in workspace.members
        }
        cache = getattr(config, "cache", None)
        durations = shards.valid_durations(
            cache.get(shards.DURATIONS_KEY, {}) if cache is not None else {}
        )
        weights = shards.member_weights([r.key for r in runs], durations, counts)
        keep = set(shards.select_shard(weights, k, n))
        runs = [r for r in runs if r.key in keep]
    return runs


class _Controller:
    """Holds the run's plan and the environments prepared for it; adds the summary."""

    def __init__(  # noqa: PLR0917
        self,
        config: pytest.Config,
        workspace: Workspace,
        manager: EnvManager,
        runs: Sequence[MemberRun],
        max_parallel: int,
        max_restarts: int,
        fork: bool = True,
        max_idle: int = DEFAULT_MAX_IDLE,
    ) -> None:
        self.config = config
        self.workspace = workspace
        self.manager = manager
        self.fork = fork
        self.notes: list[str] = []
        self.skipped: list[tuple[MemberRun, str]] = []
        runnable = []
        for run in runs:
            reason = self._excluded(run)
            if reason:
                self.skipped.append((run, reason))
            else:
                runnable.append(run)
        runs = runnable
        self.runs = {run.key: run for run in runs}
        self.envs: dict[str, ReadyEnv] = {}
        self._envs_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._forwarded = _forwarded_options(config)
        self._parent_root = Path(os.path.realpath(config.rootpath))
        requests = [
            ChildRequest(
                key=run.key,
                member=run.member,
                prepare=self._preparer(run),
                nodeid_prefix=_relative(run.rootdir, self._parent_root),
                nodeid_suffix=run.suffix,
            )
            for run in runs
        ]
        self.run = IsolatedRun(
            config,
            requests,
            max_parallel=max_parallel,
            max_restarts=max_restarts,
            fork=fork,
            max_idle=max_idle,
        )

    @classmethod
    def create(cls, config: pytest.Config) -> _Controller:
        settings = WsConfig.from_pytest(config)
        _check_compatible(config)
        max_parallel = _take_over_xdist(config)
        workspace = Workspace.discover(workspace_start(config))
        lock = Lock.for_workspace(workspace)
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
        runs = _narrow(config, workspace, runs, settings, notes)
        writer = _LineWriter(config)
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
            log=writer,
            verbose=config.option.verbose > 0,
        )
        controller = cls(
            config,
            workspace,
            manager,
            runs,
            max_parallel,
            settings.max_restarts,
            fork=not settings.no_fork and hasattr(os, "fork"),
            max_idle=settings.max_idle,
        )
        controller.notes = notes
        return controller

    # --- per child ------------------------------------------------------------------------

    def _excluded(self, run: MemberRun) -> str | None:
        """Why ``run``'s interpreter cannot run it (requires-python), or None.

        The interpreter is looked up here, at configuration time, so that one that does
        not exist is a usage error before anything is built.
        """
        interpreter = self.manager.interpreter(run.python)
        version = Version(interpreter.version)
        member = self.workspace.members.get(run.member)
        for owner, spec in (
            (f"member '{run.member}'", member.requires_python if member else None),
            ("the workspace", self.workspace.requires_python),
        ):
            if spec is not None and not spec.contains(version, prereleases=True):
                return (
                    f"{owner} requires-python {spec} excludes Python {interpreter.version} "
                    f"({interpreter.executable})"
                )
        return None

    def _preparer(self, run: MemberRun) -> Callable[[], ChildSpec]:
        return lambda: self._prepare(run)

    def _prepare(self, run: MemberRun) -> ChildSpec:
        interpreter = self.manager.interpreter(run.python)
        ready = self.manager.ensure(self.manager.spec_for(run.target, interpreter))
        with self._envs_lock:
            self.envs[run.key] = ready
        forwarded = [arg.replace("{key}", run.key) for arg in self._forwarded]
        args = [*forwarded, *(f"--ignore={p}" for p in run.ignores), *run.args]
        env = clean_child_env(os.environ, ready.bin_dir, run.member)
        runtime = None
        if self.fork:
            sites = [ready.site_packages, *attached_layers(ready.site_packages)]
            runtime = runtime_of(interpreter.executable, sites, env)
        return ChildSpec(
            key=run.key,
            member=run.member,
            python=ready.python,
            rootdir=run.rootdir,
            args=tuple(args),
            env=env,
            nodeid_prefix=_relative(run.rootdir, self._parent_root),
            nodeid_suffix=run.suffix,
            runtime=runtime,
        )

    # --- hooks ----------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_collection(self, session: pytest.Session) -> Generator[None, object, object]:
        """Runs whose interpreter their requires-python excludes are skipped, not failed."""
        for run, reason in self.skipped:
            nodeid = _relative(run.rootdir, self._parent_root) + run.suffix
            # no line number: the terminal's skip summary then shows the path alone
            where = cast("tuple[str, int, str]", (str(run.rootdir), None, f"Skipped: {reason}"))
            report = pytest.CollectReport(nodeid, "skipped", where, [])
            session.config.hook.pytest_collectreport(report=report)
        return (yield)

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        members = sorted({r.member for r in self.runs.values()})
        notes = self.notes if config.option.verbose > 0 else []
        return [
            *notes,
            f"wsenv: workspace {self.workspace.root} ({self.workspace.kind}), "
            f"isolated members: {', '.join(m if m != ALL_MEMBERS else 'all' for m in members)}",
        ]

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Record each run's seconds for ``--ws-shard`` balancing (merged, not replaced)."""
        cache = getattr(self.config, "cache", None)
        if cache is None:
            return
        from .shards import DURATIONS_KEY, valid_durations

        recorded = valid_durations(cache.get(DURATIONS_KEY, {}))
        for summary in self.run.summaries():
            if summary.tests_run and summary.exitstatus is not None:
                recorded[summary.key] = round(summary.seconds, 3)
        cache.set(DURATIONS_KEY, recorded)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        summaries = {s.key: s for s in self.run.summaries()}
        if not summaries:
            return
        terminalreporter.section("wsenv environments", sep="-")
        for key, run in self.runs.items():
            ready = self.envs.get(key)
            summary = summaries.get(key)
            extras = f"[{','.join(run.target.extras)}]" if run.target.extras else ""
            member = "all members" if run.member == ALL_MEMBERS else run.member
            tests = summary.tests_run if summary else 0
            if ready is None:
                line = f"{member}{extras}: no environment, {tests} tests"
            else:
                state = f"built in {ready.seconds:.1f}s" if ready.built else "reused"
                python = f" py{summary.python}" if summary and summary.python else ""
                line = f"{member}{extras}{python}: {ready.name} {state}, {tests} tests"
            if summary and summary.restarts:
                line += f", {summary.restarts} restarts"
            if summary and terminalreporter.verbosity > 0:
                if summary.forked:
                    line += ", forked"
                elif summary.not_forked:
                    line += f", not forked: {summary.not_forked}"
            if summary and summary.error:
                line += f" ({summary.error.splitlines()[0]})"
            terminalreporter.write_line(line)


class _LineWriter:
    """Progress lines from worker threads, written whole through the terminal reporter.

    The reporter is looked up at each line: this plugin is configured before pytest's
    terminal reporter exists.
    """

    def __init__(self, config: pytest.Config) -> None:
        self._config = config
        self._lock = threading.Lock()

    def __call__(self, line: str) -> None:
        reporter = self._config.pluginmanager.get_plugin("terminalreporter")
        with self._lock:
            if reporter is not None:
                reporter.write_line(line)


def _relative(path: Path, start: Path) -> str:
    rel = os.path.relpath(os.path.realpath(path), start)
    return "" if rel == "." else Path(rel).as_posix()
