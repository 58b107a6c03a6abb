"""The child side of ``--cov``: measure this child as a pytest-cov worker does.

Like ``child.py`` this file is executed by path in the member's interpreter, never imported as
part of pytest_wsenv; ``child.py`` loads it only when the parent asks for coverage. It uses the
standard library, pytest and coverage.py (from the member environment, or from the layer path
the parent gives).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest

__all__ = ["ChildCoverage"]


class ChildCoverage:
    """``--cov`` in the parent (``PYTEST_WSENV_COVERAGE``): measure this child as a pytest-cov
    worker does (started from the parent's directory, with its sources, branch setting and
    config file) into a parallel data file that the parent combines. Only then is coverage
    imported: from the member env, else from the layer path the parent gives."""

    def __init__(self, settings: dict[str, Any]) -> None:
        #: with --cov-context=test: how this child's node ids read in the parent
        self.contexts: dict[str, str] | None = settings.get("contexts")
        if settings.get("path"):
            sys.path.append(settings["path"])  # after everything of the member env
        import coverage

        here = os.getcwd()
        os.chdir(settings["topdir"])
        try:
            self.cov = coverage.Coverage(
                data_file=settings["data_file"],
                data_suffix=True,
                source=settings["source"],
                branch=settings["branch"],
                config_file=settings["config_file"],
            )
            # a member that runs none of the measured sources is no news (xdist's workers
            # do not show these either)
            self.cov._warn_unimported_source = self.cov._warn_no_data = False
            configured: Any = self.cov.get_option("run:omit")
            omit = [*(configured or []), os.path.join(os.path.dirname(__file__), "*")]
            site = os.path.dirname(os.path.dirname(pytest.__file__))
            if site not in sys.path:  # pytest of the fork server's first env
                omit.append(os.path.join(site, "*"))
            self.cov.set_option("run:omit", omit)
            self.cov.start()
        finally:
            os.chdir(here)

    def pytest_configure(self, config: Any) -> None:
        config.addinivalue_line("markers", "no_cover: disable coverage for this test.")

    def _switch_context(self, item: Any, when: str) -> None:
        """pytest-cov's ``--cov-context=test``: lines run from here on are recorded for
        ``<node id>|<when>``, the node id as the parent shows it."""
        if self.contexts is None:
            return
        prefix, suffix = self.contexts["prefix"], self.contexts["suffix"]
        nodeid = f"{prefix}/{item.nodeid}" if prefix else item.nodeid
        self.cov.switch_context(f"{nodeid}{suffix}|{when}")

    def pytest_runtest_setup(self, item: Any) -> None:
        self._switch_context(item, "setup")

    def pytest_runtest_teardown(self, item: Any) -> None:
        self._switch_context(item, "teardown")

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: Any) -> Any:
        self._switch_context(item, "run")
        if item.get_closest_marker("no_cover") is None:
            return (yield)
        self.cov.stop()
        try:
            return (yield)
        finally:
            self.cov.start()

    def save(self) -> None:
        self.cov.stop()
        self.cov.save()
