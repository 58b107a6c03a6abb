"""The parent-side plugin that explains, in an isolated run, a failure or skip caused by a
module the member lacks.

When a member's test or collection fails with ``ModuleNotFoundError`` for ``x``, or skips
because ``x`` is missing (``pytest.importorskip``, ``skipif`` on a failed import), the
parent finds the module (:func:`~pytest_wsenv.audit.missing.missing_module`) and adds an
explanation (:class:`~pytest_wsenv.audit.explain.Explainer`) to the replayed report. The
original traceback stays: failures get a section after it, skips a bracketed note after
their reason. Such skips and failures are counted per member and module for the terminal
summary ("seeds: 1 test skipped because 'tqdm' is missing").
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

from ..lock import Lock
from ..selection import ALL_MEMBERS, MemberRun
from ..workspace import Workspace
from .explain import Explainer
from .missing import missing_module
from .plugins import PluginSignWatcher
from .static import ImportUse

__all__ = ["SECTION", "MissingModuleDiagnosis", "attach"]

SECTION = "wsenv: missing module"


def attach(report: pytest.TestReport | pytest.CollectReport, text: str) -> None:
    """Add ``text`` to ``report`` without touching its traceback."""
    longrepr: Any = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        report.longrepr = (longrepr[0], longrepr[1], f"{longrepr[2]} [wsenv: {text}]")
    elif isinstance(longrepr, str):
        report.longrepr = f"{longrepr}\n{SECTION}: {text}"
    elif hasattr(longrepr, "addsection"):
        longrepr.addsection(SECTION, text)
    elif isinstance(getattr(longrepr, "longrepr", None), str):  # CollectErrorRepr
        longrepr.longrepr += f"\n{SECTION}: {text}"
    elif isinstance(getattr(longrepr, "text", None), str):  # a member-level failure
        longrepr.text += f"\n{SECTION}: {text}"
    else:
        report.sections.append((SECTION, text))


def _relative(path: Path, start: Path) -> str:
    rel = os.path.relpath(os.path.realpath(path), start)
    return "" if rel == "." else Path(rel).as_posix()


class MissingModuleDiagnosis:
    """Parent-side plugin of an isolated session: explains and counts missing-module reports.

    Register it next to the isolated run (it only looks at reports of member runs)::

        config.pluginmanager.register(
            MissingModuleDiagnosis(config, workspace, lock, runs), "wsenv-diagnosis"
        )

    ``runs`` are the session's :class:`~pytest_wsenv.selection.MemberRun` values (their
    keys are the reports' ``wsenv_member``; their targets say which extras and groups the
    member's environment has).
    """

    def __init__(
        self,
        config: pytest.Config,
        workspace: Workspace,
        lock: Lock | None,
        runs: Iterable[MemberRun],
        *,
        site_dirs: Sequence[Path] | None = None,
        test_group: str = "dev",
    ) -> None:
        self.config = config
        self.runs = {run.key: run for run in runs}
        root = Path(os.path.realpath(config.rootpath))
        self._member_ids = {
            (_relative(run.rootdir, root) or ".") + run.suffix: run.key
            for run in self.runs.values()
        }
        self.explainer = Explainer(workspace, lock, site_dirs=site_dirs, test_group=test_group)
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self.local_modules: set[str] = set()  # local packages, not distributions
        self._counted: set[tuple[str, str]] = set()
        self._files: dict[Path, list[ImportUse]] = {}
        self.plugin_signs = PluginSignWatcher(
            self.explainer, list(self.runs.values()), Path(config.rootpath)
        )

    def _run_of(self, report: pytest.TestReport | pytest.CollectReport) -> MemberRun | None:
        key = getattr(report, "wsenv_member", None)
        if not isinstance(key, str):
            key = self._member_ids.get(report.nodeid)
        return self.runs.get(key) if isinstance(key, str) else None

    def pytest_warning_recorded(
        self, warning_message: Any, when: str, nodeid: str, location: Any
    ) -> None:
        self.plugin_signs.warning(warning_message, nodeid)

    def handle(self, report: pytest.TestReport | pytest.CollectReport) -> str | None:
        """Explain and count ``report`` if a missing module failed or skipped it."""
        if not (report.failed or report.skipped):
            return None
        run = self._run_of(report)
        if run is None:
            return None
        self.plugin_signs.report(run.member, report)
        try:
            module = missing_module(report, self._files)
            text = self.explainer.explain(run.member, module, run.target) if module else None
        except Exception:  # never let a diagnosis break the report it explains
            return None
        if module is None or text is None:
            return None
        attach(report, text)
        collecting = isinstance(report, pytest.CollectReport)
        outcome = ("skipped" if report.skipped else "failed") + (" module" if collecting else "")
        if (report.nodeid, outcome) not in self._counted:
            self._counted.add((report.nodeid, outcome))
            self.counts[(run.member, module, outcome)] += 1
            if text.startswith(f"'{module}' is not a distribution"):
                self.local_modules.add(module)
        return text

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.handle(report)

    @pytest.hookimpl(tryfirst=True)
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self.handle(report)

    def summary_lines(self) -> list[str]:
        """``seeds: 12 tests skipped because 'tqdm' is missing``, one per member/module."""
        lines = []
        for (member, module, outcome), count in sorted(self.counts.items()):
            who = "tests outside any member" if member == ALL_MEMBERS else member
            if outcome.endswith("module"):
                noun = "test module" if count == 1 else "test modules"
                verb = "skipped" if outcome.startswith("skipped") else "could not be collected"
            else:
                noun = "test" if count == 1 else "tests"
                verb = outcome
            if module in self.local_modules:
                top = module.partition(".")[0]
                why = f"'{module}' is not found (local packages named '{top}')"
            else:
                why = f"'{module}' is missing"
            lines.append(f"{who}: {count} {noun} {verb} because {why}")
        return lines

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        lines = self.summary_lines()
        if lines:
            terminalreporter.write_sep("-", "wsenv missing modules")
            for line in lines:
                terminalreporter.write_line(line)
        plugins = self.plugin_signs.lines()
        if plugins:
            terminalreporter.write_sep("-", "wsenv missing plugins")
            for line in plugins:
                terminalreporter.write_line(line, yellow=True)
