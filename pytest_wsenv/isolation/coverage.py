"""``--cov`` through isolation: each child measures its member, the parent's pytest-cov reports.

pytest-cov without xdist runs its "central" controller in the parent: it starts coverage in
the parent, and at the end of the test loop stops it, combines every parallel data file
(``<data file>.*``) beside the parent's data file, and writes the reports (terminal, xml,
html, json, ``--cov-fail-under``). Under ``--ws-isolated`` the tests run in children, so
this module does what pytest-xdist's workers do for that controller:

- the parent stops measuring itself and drops what it measured while plugins were
  configured (it runs no member code), and, like xdist's controller, does not warn that it
  collected no data;
- each child gets ``PYTEST_WSENV_COVERAGE`` (read by ``runner/child.py``): it starts
  coverage the way pytest-cov's worker does (from the parent's directory, with its
  ``--cov`` sources, ``--cov-branch`` and ``--cov-config``) and saves a parallel data file
  in a private directory when its session ends. When the member environment holds no
  coverage, the child imports it from a shared layer env at the parent's coverage version,
  after everything of the member env;
- when the test loop ends, before pytest-cov combines, each child's data file is copied
  beside the parent's data file with its paths mapped back to the workspace: a file measured
  in an environment's ``site-packages`` (a member installed without ``editable``) becomes the
  member's source file; editable members are measured at their source already. Each
  interpreter that ran tests is added to the report's header, as pytest-cov does for xdist
  workers.

Nothing here is imported unless pytest-cov is active in the parent (``--cov``).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import random
import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

import pytest
from packaging.version import InvalidVersion, Version

from ..envs.layers import attached_layers
from ..envs.manager import EnvManager, ReadyEnv
from ..envs.spec import EnvSpec
from ..selection import MemberRun
from ..workspace import Workspace

__all__ = ["COVERAGE_ENV", "CoverageCollector", "coverage_controller"]

#: The child's coverage settings (JSON), read and removed by ``runner/child.py``.
COVERAGE_ENV = "PYTEST_WSENV_COVERAGE"

_LEVELS = {"a": "alpha", "b": "beta", "rc": "candidate"}


def coverage_controller(config: pytest.Config) -> Any | None:
    """pytest-cov's controller when ``--cov`` is active in this session, else None.

    Looked up by plugin name: neither pytest-cov nor coverage is imported here.
    """
    plugin = config.pluginmanager.get_plugin("_cov")
    if plugin is None or getattr(plugin, "_disabled", False):
        return None
    controller = getattr(plugin, "cov_controller", None)
    if controller is None or getattr(controller, "cov", None) is None:
        return None
    return controller


class CoverageCollector:
    """The parent's side of ``--cov`` (see the module docstring); a pytest plugin."""

    def __init__(
        self, config: pytest.Config, controller: Any, workspace: Workspace, manager: EnvManager
    ) -> None:
        self._controller = controller
        #: pytest-cov's --cov-context=test: each child records a context per test phase
        self._test_contexts = config.getoption("cov_context", None) == "test"
        self._workspace = workspace
        self._manager = manager
        self._topdir = str(controller.topdir)
        cov = controller.cov
        self._data_file = os.path.join(self._topdir, str(cov.config.data_file))
        self._version = importlib.metadata.version("coverage")
        self._dir = Path(tempfile.mkdtemp(prefix="wsenv-coverage-"))
        config.add_cleanup(lambda: shutil.rmtree(self._dir, ignore_errors=True))
        self._lock = threading.Lock()
        # run key -> (its env's site-packages and layers, the interpreter's description)
        self._runs: dict[str, tuple[list[str], str]] = {}
        self._problems: list[str] = []  # runs whose data is missing or unreadable
        # the parent runs no member code: measure nothing here, and do not warn about it
        # (what pytest-cov's xdist controller does: coverage's own switches)
        controller.pause()
        if not controller.cov_append:  # what it measured until now: plugins configuring
            cov.erase()
        for switch in ("_warn_no_data", "_warn_unimported_source", "_warn_preimported_source"):
            if hasattr(cov, switch):
                setattr(cov, switch, False)

    def child_settings(
        self, run: MemberRun, spec: EnvSpec, ready: ReadyEnv, *, nodeid_prefix: str
    ) -> dict[str, str]:
        """The environment variable that makes ``run``'s child measure coverage (called in a
        runner worker thread, after ``ready`` was built or reused). ``nodeid_prefix`` turns
        the child's node ids into the parent's, for ``--cov-context=test``."""
        sites = [ready.site_packages, *attached_layers(ready.site_packages)]
        extra_path = None
        if not any(next(site.glob("coverage-*.dist-info"), None) for site in sites):
            layer = self._manager.tool_layer(spec, (f"coverage=={self._version}",))
            extra_path = str(layer.site_packages)
        directory = self._dir / _safe(run.key)
        directory.mkdir(exist_ok=True)
        controller = self._controller
        settings = {
            "data_file": str(directory / ".coverage"),
            "topdir": self._topdir,
            "source": controller.cov_source,
            "branch": controller.cov_branch,
            "config_file": controller.cov_config,
            "path": extra_path,
        }
        if self._test_contexts:
            # pytest-cov's contexts ("<node id>|setup", "|run", "|teardown"), with the node
            # ids this session shows
            settings["contexts"] = {"prefix": nodeid_prefix, "suffix": run.suffix}
        with self._lock:
            self._runs[run.key] = (
                [os.path.realpath(s) for s in sites],
                controller.get_node_desc(sys.platform, _version_info(spec.interpreter.version)),
            )
        return {COVERAGE_ENV: json.dumps(settings)}

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        """Inside pytest-cov's wrapper: when the children are done, put their data where
        pytest-cov's combine finds it."""
        result = yield
        self.collect()
        return result

    def collect(self) -> None:
        """Copy every child's data, paths mapped to the workspace, beside the parent's data
        file, and name the interpreters that produced it in the report's header."""
        from coverage import CoverageData
        from coverage.exceptions import CoverageException

        with self._lock:
            runs = dict(self._runs)
        for key, (sites, desc) in runs.items():
            found = sorted((self._dir / _safe(key)).glob(".coverage.*"))
            if not found:
                self._problems.append(
                    f"{key} saved no coverage data (its child ended before its session did)"
                )
                continue
            self._controller.node_descs.add(desc)
            mapper = _PathMapper(self._workspace, sites, self._topdir)
            for number, path in enumerate(found):
                suffix = f"wsenv.{_safe(key)}.{os.getpid()}.{number}.{random.randrange(10**6):06d}"
                out = CoverageData(basename=self._data_file, suffix=suffix)
                try:
                    data = CoverageData(basename=str(path))
                    data.read()
                    out.update(data, map_path=mapper)
                except CoverageException as exc:  # e.g. a data file of another coverage version
                    self._problems.append(f"cannot combine the coverage data of {key}: {exc}")
                    continue
                out.write()
                path.unlink()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        for problem in self._problems:
            terminalreporter.write_line(f"wsenv: coverage: {problem}", yellow=True)


class _PathMapper:
    """A file measured in a member environment -> the workspace file it was installed from.

    A file under one of the env's ``site-packages`` whose relative path exists in a member's
    directory, its ``src/`` or another direct subdirectory is mapped there; any other file
    (an editable member's source, a third-party package) keeps its path.
    """

    def __init__(self, workspace: Workspace, sites: Sequence[str], topdir: str) -> None:
        self._sites = [s.rstrip(os.sep) + os.sep for s in sites]
        self._topdir = topdir
        self._roots: list[Path] = []
        for member in workspace.members.values():
            self._roots.append(member.path)
            try:
                children = sorted(p for p in member.path.iterdir() if p.is_dir())
            except OSError:
                continue
            self._roots += [p for p in children if not p.name.startswith(".")]

    def __call__(self, path: str) -> str:
        absolute = path if os.path.isabs(path) else os.path.join(self._topdir, path)
        for site in self._sites:
            if absolute.startswith(site):
                rel = absolute[len(site) :]
                for root in self._roots:
                    candidate = root / rel
                    if candidate.is_file():
                        found = os.path.realpath(candidate)
                        relative = not os.path.isabs(path)
                        return os.path.relpath(found, self._topdir) if relative else found
        return path


def _safe(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", key)


def _version_info(version: str) -> tuple[int, int, int, str, int]:
    """``sys.version_info`` of an interpreter, from its version string ("3.13.0rc1")."""
    try:
        parsed = Version(version)
    except InvalidVersion:
        return (*sys.version_info[:3], "final", 0)
    major, minor, micro = (*parsed.release, 0, 0)[:3]
    if parsed.pre is not None:
        return (major, minor, micro, _LEVELS[parsed.pre[0]], parsed.pre[1])
    return (major, minor, micro, "final", 0)
