"""What each planned run's child is started with: its environment, arguments and runtime.

:class:`ChildPreparer` turns the plan's runs into the runner's
:class:`~pytest_wsenv.runner.ChildRequest` values; each request's ``prepare`` is called in a
runner worker thread, builds or reuses the run's environment and returns the
:class:`~pytest_wsenv.runner.ChildSpec` to start.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ..config import FOREIGN_OPTIONS, INI_KEYS
from ..envs.layers import attached_layers
from ..envs.manager import ReadyEnv
from ..runner import ChildRequest, ChildSpec, clean_child_env
from ..runner.runtime import runtime_of
from ..selection import MemberRun
from .plan import IsolationPlan

if TYPE_CHECKING:
    from .coverage import CoverageCollector

__all__ = ["ChildPreparer", "relative_nodeid"]


class ChildPreparer:
    """Prepares the children of ``plan`` and remembers the environment each one got."""

    def __init__(self, config: pytest.Config, plan: IsolationPlan) -> None:
        self.plan = plan
        self.envs: dict[str, ReadyEnv] = {}
        self._envs_lock = threading.Lock()
        self._forwarded = _forwarded_options(config)
        self._parent_root = Path(os.path.realpath(config.rootpath))
        self.foreign = config.stash.get(FOREIGN_OPTIONS, ())
        # where each child says which foreign options its environment does not define
        self._reports: Path | None = None
        self.coverage: CoverageCollector | None = None  # set when --cov is active
        if self.foreign:
            self._reports = Path(tempfile.mkdtemp(prefix="wsenv-options-"))
            config.add_cleanup(lambda: shutil.rmtree(self._reports or "", ignore_errors=True))

    def requests(self) -> list[ChildRequest]:
        return [
            ChildRequest(
                key=run.key,
                member=run.member,
                prepare=self._preparer(run),
                broken=self._breaker(run),
                nodeid_prefix=relative_nodeid(run.rootdir, self._parent_root),
                nodeid_suffix=run.suffix,
            )
            for run in self.plan.runs
        ]

    def _preparer(self, run: MemberRun) -> Callable[[], ChildSpec]:
        return lambda: self._prepare(run)

    def _breaker(self, run: MemberRun) -> Callable[[str], bool]:
        return lambda reason: self._broken(run, reason)

    def _broken(self, run: MemberRun, reason: str) -> bool:
        """pytest could not start in ``run``'s environment: mark it broken, so that the next
        prepare rebuilds it (once per environment and session)."""
        with self._envs_lock:
            ready = self.envs.get(run.key)
        if ready is None:
            return False
        last = next((line for line in reversed(reason.splitlines()) if line.strip()), reason)
        return self.plan.manager.mark_broken(ready, last.strip())

    def _prepare(self, run: MemberRun) -> ChildSpec:
        manager = self.plan.manager
        interpreter = manager.interpreter(run.python)
        spec = manager.spec_for(run.target, interpreter)
        ready = manager.ensure(spec)
        with self._envs_lock:
            self.envs[run.key] = ready
        forwarded = [arg.replace("{key}", run.key) for arg in self._forwarded]
        args = [*forwarded, *(f"--ignore={p}" for p in run.ignores), *run.args]
        settings = self._child_settings(run)
        if self.coverage is not None:
            prefix = relative_nodeid(run.rootdir, self._parent_root)
            settings.update(self.coverage.child_settings(run, spec, ready, nodeid_prefix=prefix))
        env = clean_child_env(os.environ, ready.bin_dir, run.member, settings)
        runtime = None
        if self.plan.fork:
            sites = [ready.site_packages, *attached_layers(ready.site_packages)]
            runtime = runtime_of(interpreter.executable, sites, env)
        return ChildSpec(
            key=run.key,
            member=run.member,
            python=ready.python,
            rootdir=run.rootdir,
            args=tuple(args),
            env=env,
            nodeid_prefix=relative_nodeid(run.rootdir, self._parent_root),
            nodeid_suffix=run.suffix,
            runtime=runtime,
        )

    def _child_settings(self, run: MemberRun) -> dict[str, str]:
        """What the child plugin reads (and removes) from its environment: the ini keys
        to declare, and the foreign options to pass on where the member env defines them."""
        settings = {"PYTEST_WSENV_INI_KEYS": ",".join(INI_KEYS)}
        if self.foreign and self._reports is not None:
            settings["PYTEST_WSENV_FOREIGN_OPTIONS"] = json.dumps([list(g) for g in self.foreign])
            settings["PYTEST_WSENV_UNDEFINED_REPORT"] = str(self._reports / f"{run.key}.json")
        return settings

    def undefined_options(self) -> dict[str, list[str]]:
        """``{option: [run key, ...]}``: foreign options a child's environment does not
        define (neither a plugin nor a conftest.py there), from the children that said so;
        ``{}`` before any child has started."""
        found: dict[str, list[str]] = {}
        if self._reports is None:
            return found
        for run in self.plan.runs:
            try:
                names = json.loads((self._reports / f"{run.key}.json").read_text("utf-8"))
            except (OSError, ValueError):
                continue
            for name in names if isinstance(names, list) else ():
                found.setdefault(str(name), []).append(run.key)
        return found

    def reported(self) -> set[str]:
        """Run keys whose child said which foreign options it defines."""
        if self._reports is None:
            return set()
        return {p.stem for p in self._reports.glob("*.json")}


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


def relative_nodeid(path: Path, start: Path) -> str:
    """The parent's node id prefix of a run rooted at ``path`` (``""`` for ``start``)."""
    rel = os.path.relpath(os.path.realpath(path), start)
    return "" if rel == "." else Path(rel).as_posix()
