"""Explain, in an isolated run, a failure or skip caused by a module the member lacks.

When a member's test or collection fails with ``ModuleNotFoundError`` for ``x``, or skips
because ``x`` is missing (``pytest.importorskip``, ``skipif`` on a failed import), the
parent adds an explanation to the replayed report, for example::

    bird-feeder imports 'sortedcontainers' but does not declare it; 'seeds' declares
    sortedcontainers>=2.4 (packages/seeds/pyproject.toml). Add it to bird-feeder's
    dependencies, or to an extra/group that the tests request.

The distribution providing ``x`` comes from :class:`~pytest_wsenv.audit.modules.ModuleIndex`
(the shared ``.venv`` if there is one, the running environment, the lock's wheels on disk,
else the module name); who declares it from every member's ``pyproject.toml``. The
original traceback stays: failures get a section after it, skips a bracketed note after
their reason. Such skips and failures are counted per member and module for the terminal
summary ("seeds: 1 test skipped because 'tqdm' is missing").

How the module of a skip is found: pytest's own reason (``could not import 'x'``), else the
``importorskip("x")`` call at the skip's line (read from the test file), else a guarded
import of the file (``try: import x``) whose name the reason mentions.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name

from ..lock import Lock
from ..selection import ALL_MEMBERS, MemberRun
from ..target import Target
from ..workspace import Workspace
from .environment import Declaration, DeclarationIndex, MemberEnv, member_env
from .files import local_packages, package_prefixes
from .modules import ModuleIndex, is_stdlib, shared_site_packages
from .plugins import PluginSignWatcher, is_plugin, pytest_plugins
from .static import ImportUse, scan_file

__all__ = ["Explainer", "MissingModuleDiagnosis", "attach", "explanation", "missing_module"]

SECTION = "wsenv: missing module"
_NO_MODULE = re.compile(r"No module named '([A-Za-z_][\w.]*)'")
#: The exception line of a traceback, not an assertion message that happens to quote one.
_RAISED = re.compile(r"(?:ModuleNotFoundError|ImportError): No module named '([A-Za-z_][\w.]*)'")
_COULD_NOT_IMPORT = re.compile(r"could not import '([A-Za-z_][\w.]*)'")


# -- which module ----------------------------------------------------------------------------


def _text(longrepr: Any) -> str:
    if isinstance(longrepr, str):
        return longrepr
    for attribute in ("text", "longrepr"):  # MemberFailure, CollectErrorRepr
        value = getattr(longrepr, attribute, None)
        if isinstance(value, str):
            return value
    try:
        return str(longrepr)
    except Exception:
        return ""


def _uses(path: Path, cache: dict[Path, list[ImportUse]]) -> list[ImportUse]:
    if path not in cache:
        cache[path] = scan_file(path)
    return cache[path]


def _skipped_module(
    path: str, line: object, reason: str, cache: dict[Path, list[ImportUse]]
) -> str | None:
    found = _COULD_NOT_IMPORT.search(reason) or _NO_MODULE.search(reason)
    if found:
        return found.group(1)
    file = Path(path)
    if file.suffix != ".py" or not file.is_file():
        return None
    uses = _uses(file, cache)
    for use in uses:
        if use.kind == "skip" and use.line <= (line if isinstance(line, int) else -1) <= max(
            use.end_line, use.line
        ):
            return use.module
    for use in uses:
        mentioned = re.search(rf"(?<![\w.]){re.escape(use.top)}(?![\w])", reason)
        if use.guarded and mentioned and not is_stdlib(use.module):
            return use.module
    return None


def missing_module(
    report: pytest.TestReport | pytest.CollectReport,
    cache: dict[Path, list[ImportUse]] | None = None,
) -> str | None:
    """The module whose absence failed or skipped ``report``, if that is what happened."""
    longrepr = report.longrepr
    if report.skipped:
        if hasattr(report, "wasxfail") or not (isinstance(longrepr, tuple) and len(longrepr) == 3):
            return None
        path, line, reason = longrepr
        return _skipped_module(str(path), line, str(reason), {} if cache is None else cache)
    if not report.failed or longrepr is None:
        return None
    crash = getattr(longrepr, "reprcrash", None)
    found = _RAISED.match(str(getattr(crash, "message", "") or ""))
    if found:
        return found.group(1)
    matches = _RAISED.findall(_text(longrepr))
    return matches[-1] if matches else None


# -- the explanation -------------------------------------------------------------------------


def local_explanation(module: str, where: Sequence[str]) -> str:
    """The note for a module whose top-level name is a local package, not a distribution."""
    top = module.partition(".")[0]
    if len(where) > 1:
        return (
            f"'{module}' is not a distribution: '{top}' is a local package in "
            f"{_names(where)}, and these directories collide under pytest's default import "
            f"mode (the first '{top}' imported hides the others). Give them distinct names, "
            "or run with --import-mode=importlib."
        )
    return (
        f"'{module}' is not a distribution: '{top}' is the local package at {where[0]}, "
        "which is not importable from where this test runs (see pytest's import modes)."
    )


def _names(items: Iterable[str]) -> str:
    quoted = [f"'{i}'" for i in items]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def explanation(
    member: str,
    module: str,
    dists: Sequence[str],
    declarations: Sequence[Declaration],
    *,
    origin: str = "",
    sibling: str | None = None,
    plugin: bool = False,
) -> str:
    """The sentence(s) attached to a report (see the module docstring)."""
    who = "the tests outside any member" if member == ALL_MEMBERS else member
    whose = "the workspace root's" if member == ALL_MEMBERS else f"{member}'s"
    dist = " or ".join(dists) if dists else canonicalize_name(module.partition(".")[0])
    named = f"'{module}'" if dist == canonicalize_name(module) else f"'{module}' ({dist})"
    if plugin:
        add = "uv add --dev" if member == ALL_MEMBERS else f"uv add --package {member} --dev"
        said = "; ".join(d.describe() for d in declarations[:2])
        return (
            f"{who} imports {named}, a pytest plugin: it is test tooling, not a runtime "
            f"dependency. Add it to {whose} dev group ({add} {dist}), or to the workspace "
            f"root's dev group for every member's tests{f' ({said})' if said else ''}."
        )
    own = [d for d in declarations if d.member == member]
    extras = [d for d in own if d.extra is not None]
    groups = [d for d in own if d.group is not None]
    others = [d for d in declarations if d.member != member]
    fix = f"Add it to {whose} dependencies, or to an extra/group that the tests request."
    if extras:
        first = extras[0]
        names = sorted({d.extra for d in extras if d.extra})
        flags = " or ".join(f"--ws-extra {n}" for n in names)
        return (
            f"{who} imports {named}, which only its extra{'s' if len(names) > 1 else ''} "
            f"{_names(names)} provide{'' if len(names) > 1 else 's'} ({first.requirement} in "
            f"{first.pyproject}). Run with {flags}, or add it to {whose} dependencies or to "
            "a group the tests use."
        )
    if groups:
        first = groups[0]
        names = sorted({d.group for d in groups if d.group})
        flags = " or ".join(f"--ws-group {n}" for n in names)
        return (
            f"{who} declares {first.requirement} only in its group{'s' if len(names) > 1 else ''} "
            f"{_names(names)} ({first.pyproject}), which this run does not install. Run with "
            f"{flags}, or add it to {whose} dependencies."
        )
    if sibling is not None:
        return (
            f"{who} imports '{module}': {dist} is the workspace member at {sibling}, which "
            f"{who} does not depend on: add it to {whose} dependencies (with "
            f"`{dist} = {{ workspace = true }}` in [tool.uv.sources])."
        )
    if others:
        said = "; ".join(d.describe() for d in others[:3])
        more = f" (and {len(others) - 3} more)" if len(others) > 3 else ""
        return f"{who} imports {named} but does not declare it; {said}{more}. {fix}"
    found = origin and origin not in ("module name", "unknown")
    where = f", found in the {origin}," if found else ""
    return f"{who} imports {named}{where} but no workspace member declares it. {fix}"


class Explainer:
    """Builds explanations for one workspace; the module index is built on first use."""

    def __init__(
        self,
        workspace: Workspace,
        lock: Lock | None,
        *,
        site_dirs: Sequence[Path] | None = None,
        test_group: str = "dev",
    ) -> None:
        self.workspace = workspace
        self.lock = lock
        self.site_dirs = site_dirs
        self.test_group = test_group
        self._index: ModuleIndex | None = None
        self._declarations: DeclarationIndex | None = None
        self._envs: dict[Target, MemberEnv | None] = {}
        self._locals: dict[tuple[str, str], list[str]] = {}
        self._plugins: frozenset[str] | None = None

    @property
    def index(self) -> ModuleIndex:
        if self._index is None:
            dirs = self.site_dirs
            self._index = ModuleIndex.build(
                self.workspace,
                {n: package_prefixes(m) for n, m in self.workspace.members.items()},
                lock=self.lock,
                site_dirs=shared_site_packages(self.workspace.root) if dirs is None else dirs,
                known=self.declarations.names(),
            )
        return self._index

    @property
    def declarations(self) -> DeclarationIndex:
        if self._declarations is None:
            self._declarations = DeclarationIndex(self.workspace)
        return self._declarations

    def env(self, member: str, target: Target | None) -> MemberEnv | None:
        found = self.workspace.members.get(member)
        if found is None:
            return None
        chosen = target or Target(packages=(member,))
        if chosen not in self._envs:
            try:
                self._envs[chosen] = member_env(
                    self.workspace, self.lock, found, chosen, test_group=self.test_group
                )
            except Exception:  # the explanation is a courtesy; never fail the run for it
                self._envs[chosen] = None
        return self._envs[chosen]

    @property
    def plugins(self) -> frozenset[str]:
        """Distributions with a ``pytest11`` entry point (shared ``.venv``, this one)."""
        if self._plugins is None:
            dirs = self.site_dirs
            site = shared_site_packages(self.workspace.root) if dirs is None else dirs
            self._plugins = pytest_plugins(site)
        return self._plugins

    def local(self, member: str, module: str) -> list[str]:
        """Where ``module``'s top-level name is a local package of ``member`` (of the
        workspace root for the tests outside any member), relative to the root."""
        top = module.partition(".")[0]
        if self.index.member(top) is not None:
            return []
        found = self.workspace.members.get(member)
        base = found.path if found is not None else self.workspace.root
        key = (str(base), top)
        if key not in self._locals:
            root = self.workspace.root
            self._locals[key] = sorted(
                Path(os.path.relpath(p, root)).as_posix() for p in local_packages(base, top)
            )
        return self._locals[key]

    def explain(self, member: str, module: str, target: Target | None = None) -> str | None:
        """Why ``module`` is missing for ``member``; None when it is not an undeclared
        dependency (stdlib, the member's own package, or in the member's environment)."""
        if is_stdlib(module):
            return None
        local = self.local(member, module)
        if local:
            return local_explanation(module, local)
        owner = self.index.member(module)
        if owner is not None and owner == member:
            return None
        dists, origin = self.index.lookup(module)
        env = self.env(member, target)
        if env is not None and any(env.available(d) for d in dists):
            return None
        names = dists or frozenset({canonicalize_name(module.partition(".")[0])})
        declarations = self.declarations.of(names)
        if any(d.member == member and d.extra is None and d.group is None for d in declarations):
            return None  # declared as a dependency: missing for another reason (markers)
        members = self.workspace.members
        sibling = next((members[d].path for d in sorted(dists) if d in members), None)
        return explanation(
            member,
            module,
            sorted(dists),
            declarations,
            origin=origin,
            sibling=os.path.relpath(sibling, self.workspace.root) if sibling else None,
            plugin=bool(names) and all(is_plugin(d, self.plugins) for d in names),
        )


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
