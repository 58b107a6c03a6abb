"""The isolated session: where the stages meet, from pytest's configuration to child runs.

:func:`install` plans the session's runs (:mod:`.plan`), prepares each run's child
(:mod:`.children`), and registers the runner's :class:`~pytest_wsenv.runner.IsolatedRun`,
the session's own report lines (:mod:`.summary`), the per-test durations and the shard's
part of a split member (:mod:`.split`), the missing-module diagnosis and, with
pytest-cov's ``--cov``, the children's coverage (:mod:`.coverage`).
"""

from __future__ import annotations

import pytest

from ..errors import WsenvError
from ..runner import IsolatedRun
from ..runner.prestart import take_early
from .children import ChildPreparer
from .coverage import CoverageCollector, coverage_controller
from .plan import IsolationPlan, plan_isolation
from .split import ShardSplitter
from .summary import IsolationSummary

__all__ = ["IsolationPlan", "install"]

PLUGIN_NAME = "wsenv-isolated"


def install(config: pytest.Config) -> None:
    """Plan the isolated run for ``config`` and register it; usage errors are one line."""
    try:
        plan = plan_isolation(config)
    except WsenvError as exc:
        raise pytest.UsageError(f"pytest-wsenv: {exc}") from None
    preparer = ChildPreparer(config, plan)
    controller = coverage_controller(config)
    if controller is not None:  # --cov: pytest-cov is active in this session
        preparer.coverage = CoverageCollector(config, controller, plan.workspace, plan.manager)
        config.pluginmanager.register(preparer.coverage, f"{PLUGIN_NAME}-coverage")
    run = IsolatedRun(
        config,
        preparer.requests(),
        max_parallel=plan.max_parallel,
        max_restarts=plan.max_restarts,
        fork=plan.fork,
        max_idle=plan.max_idle,
        limits=plan.limits,
        dist=plan.dist,
        stream=plan.stream,
        whole_collection=_whole_collection(plan, preparer),
        durations=lambda: _recorded_durations(config),
        early_forks=take_early(config) if plan.fork else (),  # else closed with config
    )
    # Every argument now belongs to a child: the parent collects nothing in-process.
    config.args = []
    config.pluginmanager.register(run, PLUGIN_NAME)
    config.pluginmanager.register(plan.lines, f"{PLUGIN_NAME}-lines")
    config.pluginmanager.register(ShardSplitter(config, plan.splits), f"{PLUGIN_NAME}-split")
    config.pluginmanager.register(
        IsolationSummary(config, plan, preparer, run), f"{PLUGIN_NAME}-summary"
    )
    from ..audit.diagnose import MissingModuleDiagnosis

    diagnosis = MissingModuleDiagnosis(
        config,
        plan.workspace,
        plan.manager.lock,
        plan.runs,
        test_group=plan.manager.test_group,
    )
    config.pluginmanager.register(diagnosis, f"{PLUGIN_NAME}-diagnosis")


def _recorded_durations(config: pytest.Config) -> dict[str, float]:
    """Seconds per test recorded by earlier sessions (see :mod:`.split`)."""
    from ..ci import TEST_DURATIONS_KEY, valid_durations

    cache = getattr(config, "cache", None)
    return valid_durations(cache.get(TEST_DURATIONS_KEY, {})) if cache is not None else {}


def _whole_collection(plan: IsolationPlan, preparer: ChildPreparer) -> str | None:
    """Why this session needs every member collected before tests run, if it does."""
    if plan.splits:
        return "--ws-shard or --ws-part splits members by their collected tests"
    if preparer.foreign:
        return "options only member environments define are checked against every member"
    return None
