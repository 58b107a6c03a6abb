"""The isolated session's own lines: skipped runs, the header, recorded durations and the
"wsenv environments" summary."""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path
from typing import cast

import pytest

from ..runner import IsolatedRun
from ..selection import ALL_MEMBERS
from .children import ChildPreparer, relative_nodeid
from .plan import IsolationPlan

__all__ = ["IsolationSummary"]


class IsolationSummary:
    """Plugin object reporting on ``plan`` as ``run`` carries it out."""

    def __init__(
        self,
        config: pytest.Config,
        plan: IsolationPlan,
        preparer: ChildPreparer,
        run: IsolatedRun,
    ) -> None:
        self.config = config
        self.plan = plan
        self.preparer = preparer
        self.run = run
        self._parent_root = Path(os.path.realpath(config.rootpath))

    @pytest.hookimpl(wrapper=True)
    def pytest_collection(self, session: pytest.Session) -> Generator[None, object, object]:
        """Runs whose interpreter their requires-python excludes are skipped, not failed."""
        for run, reason in self.plan.skipped:
            nodeid = relative_nodeid(run.rootdir, self._parent_root) + run.suffix
            # no line number: the terminal's skip summary then shows the path alone
            where = cast("tuple[str, int, str]", (str(run.rootdir), None, f"Skipped: {reason}"))
            report = pytest.CollectReport(nodeid, "skipped", where, [])
            session.config.hook.pytest_collectreport(report=report)
        return (yield)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Options no plugin or conftest.py defines: one usage error, as pytest's own, when
        no member environment defines one (every child has collected by now); a line per
        member otherwise, whose child ran without it."""
        undefined = self.preparer.undefined_options()
        if not undefined:
            return
        reported = self.preparer.reported()
        nowhere = sorted(o for o, keys in undefined.items() if set(keys) >= reported)
        if nowhere:
            raise pytest.UsageError(
                f"unrecognized arguments: {' '.join(nowhere)} (defined by no plugin and no "
                "conftest.py of the selected members' environments)"
            )
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        for option, keys in sorted(undefined.items()):
            if reporter is not None:
                reporter.write_line(
                    f"wsenv: {option} is not defined in the environment of "
                    f"{', '.join(sorted(keys))}: not passed to its tests"
                )

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        members = sorted({r.member for r in self.plan.runs})
        notes = list(self.plan.notes) if config.option.verbose > 0 else []
        workspace = self.plan.workspace
        return [
            *notes,
            f"wsenv: workspace {workspace.root} ({workspace.kind}), "
            f"isolated members: {', '.join(m if m != ALL_MEMBERS else 'all' for m in members)}",
        ]

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Record each run's seconds for ``--ws-shard`` balancing (merged, not replaced).

        A run this shard ran only in part keeps its earlier record: its seconds here are
        not the member's. A sharded session (``--ws-shard`` or ``--ws-part``) only adds the
        records it lacks, so that the other shards of the same command, run later against
        the same cache, split the work the same way; an unsharded session refreshes them.
        """
        cache = getattr(self.config, "cache", None)
        if cache is None:
            return
        from ..ci import DURATIONS_KEY, valid_durations

        recorded = valid_durations(cache.get(DURATIONS_KEY, {}))
        for summary in self.run.summaries():
            if summary.key in self.plan.splits:
                continue
            if summary.key in recorded and (
                self.config.getoption("ws_shard", None) or self.config.getoption("ws_part", None)
            ):
                continue
            if summary.tests_run and summary.exitstatus is not None:
                recorded[summary.key] = round(summary.seconds, 3)
        cache.set(DURATIONS_KEY, recorded)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.plan.nothing:
            terminalreporter.write_line(f"wsenv: nothing to run: {self.plan.nothing}")
        summaries = {s.key: s for s in self.run.summaries()}
        if not summaries:
            return
        terminalreporter.section("wsenv environments", sep="-")
        for run in self.plan.runs:
            ready = self.preparer.envs.get(run.key)
            summary = summaries.get(run.key)
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
