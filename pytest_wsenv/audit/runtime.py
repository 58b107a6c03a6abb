"""``--ws-check-imports``: audit a normal (shared environment) pytest run.

:class:`ImportTracker` wraps :func:`builtins.__import__` and
:func:`importlib.import_module` while the session runs and records each distinct import
executed by a file inside a workspace member (cached imports included, so a module that
another member imported first is still attributed to every member that imports it).
``pytest.importorskip`` calls are attributed to the test that made them. Code that bound
``import_module`` to a name of its own before the session started is not seen at run time
(the static scan still finds literal names).

:class:`ImportAuditPlugin` is the pytest plugin: it owns a tracker, and at the end of the
session audits (:class:`~pytest_wsenv.audit.check.ImportAudit`) the files of the members
whose tests were collected (static scan) and the imports recorded in any member's files,
prints a terminal summary section, and in ``error`` mode fails the session when an import
would fail in its member's isolated environment. Under pytest-xdist each worker records
its own imports and sends them to the controller, which reports.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import inspect
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

import pytest

from ..config import workspace_start
from ..errors import WsenvError
from ..lock import Lock
from ..workspace import Workspace
from .check import AuditRequest, AuditResult, ImportAudit
from .modules import is_stdlib
from .report import text_lines
from .static import ImportUse, UseKind

__all__ = ["ImportAuditPlugin", "ImportTracker", "Mode"]

Mode = Literal["warn", "error"]

_WORKER_KEY = "wsenv_check_imports"
_SKIP_PARTS = frozenset({"site-packages", "node_modules", "__pycache__"})

#: (path, line, module, from-names, toplevel, kind)
_Event = tuple[str, int, str, tuple[str, ...], bool, str]


class ImportTracker:
    """Records import statements executed by files that ``owns`` accepts."""

    def __init__(self, owns: Callable[[str], bool]) -> None:
        self._owns = owns
        self._owned: dict[str, bool] = {}
        self._seen: set[tuple[str, int, str, tuple[str, ...]]] = set()
        self.events: list[_Event] = []
        self._original: Callable[..., Any] | None = None
        self._hook: Callable[..., Any] | None = None
        self._original_import_module: Callable[..., Any] | None = None
        self._import_module_hook: Callable[..., Any] | None = None
        self._active = False

    @property
    def installed(self) -> bool:
        return self._active

    def install(self) -> None:
        if self._active:
            return
        original = builtins.__import__
        record = self._record

        def tracking_import(
            name: str,
            globals: Any = None,  # the signature of builtins.__import__
            locals: Any = None,
            fromlist: Any = (),
            level: int = 0,
        ) -> Any:
            module = original(name, globals, locals, fromlist, level)
            if level == 0 and tracker_active():
                with contextlib.suppress(Exception):  # never break an import for the audit
                    record(name, fromlist, sys._getframe(1))
            return module

        def tracker_active() -> bool:
            return self._active

        original_import_module = importlib.import_module

        def tracking_import_module(name: str, package: str | None = None) -> Any:
            module = original_import_module(name, package)
            if not name.startswith(".") and tracker_active():
                with contextlib.suppress(Exception):
                    record(name, (), sys._getframe(1))
            return module

        self._original = original
        self._hook = tracking_import
        self._original_import_module = original_import_module
        self._import_module_hook = tracking_import_module
        self._active = True
        builtins.__import__ = tracking_import
        importlib.import_module = tracking_import_module

    def uninstall(self) -> None:
        """Stop recording; restore ``__import__`` unless someone wrapped it after us."""
        self._active = False
        if self._hook is not None and builtins.__import__ is self._hook:
            assert self._original is not None
            builtins.__import__ = self._original
        if (
            self._import_module_hook is not None
            and importlib.import_module is self._import_module_hook
        ):
            assert self._original_import_module is not None
            importlib.import_module = self._original_import_module
        self._hook = self._import_module_hook = None

    def _is_owned(self, filename: str) -> bool:
        found = self._owned.get(filename)
        if found is None:
            found = self._owned[filename] = self._owns(filename)
        return found

    def _record(self, name: str, fromlist: Any, frame: Any) -> None:
        if is_stdlib(name):
            return
        kind: UseKind = "import"
        filename = frame.f_code.co_filename
        if not self._is_owned(filename):
            if frame.f_code.co_name != "importorskip" or frame.f_back is None:
                return
            frame, kind = frame.f_back, "skip"
            filename = frame.f_code.co_filename
            if not self._is_owned(filename):
                return
        names = tuple(str(n) for n in fromlist or ())
        key = (filename, frame.f_lineno, name, names)
        if key in self._seen:
            return
        self._seen.add(key)
        toplevel = not frame.f_code.co_flags & inspect.CO_OPTIMIZED
        self.events.append((filename, frame.f_lineno, name, names, toplevel, kind))

    def uses(self, events: Iterable[_Event] | None = None) -> list[ImportUse]:
        return [
            ImportUse(
                module=module,
                path=Path(path),
                line=int(line),
                kind="skip" if kind == "skip" else "import",
                toplevel=bool(toplevel),
                names=tuple(names),
                source="runtime",
            )
            for path, line, module, names, toplevel, kind in (
                self.events if events is None else events
            )
        ]


class ImportAuditPlugin:
    """The ``--ws-check-imports[=warn|error]`` plugin for a normal, in-process run.

    Register it in ``pytest_configure`` (it starts recording imports when constructed)::

        config.pluginmanager.register(ImportAuditPlugin(config, mode), "wsenv-check-imports")

    Workspace problems (no workspace, stale lock, bad ``[tool.wsenv.check-imports]``) raise
    :class:`pytest.UsageError`. The run's extras and groups are taken from the
    ``ws_extra``/``ws_all_extras``/``ws_group``/``ws_no_default_groups`` options and the
    ``wsenv_test_group`` ini key when they exist.
    """

    def __init__(
        self, config: pytest.Config, mode: str = "warn", workspace: Workspace | None = None
    ) -> None:
        if mode not in ("warn", "error"):
            raise pytest.UsageError(f"--ws-check-imports={mode}: choose warn or error")
        self.config = config
        self.mode: Mode = "error" if mode == "error" else "warn"
        try:
            self.workspace = workspace or Workspace.discover(workspace_start(config))
            self.lock = Lock.for_workspace(self.workspace)
            self.audit = ImportAudit(self.workspace, self.lock, request=_request(config))
        except WsenvError as exc:
            raise pytest.UsageError(f"pytest-wsenv: --ws-check-imports: {exc}") from None
        self.tracker = ImportTracker(self._owns)
        self.members: set[str] = set()
        self.events: list[_Event] = []
        self.result: AuditResult | None = None
        self.tracker.install()

    def _owns(self, filename: str) -> bool:
        if not os.path.isabs(filename):
            return False
        path = Path(filename)
        if self.workspace.root not in path.parents:
            return False
        if _SKIP_PARTS & set(path.parts):
            return False
        return self.audit.owner(path) is not None

    # -- hooks -------------------------------------------------------------------------

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:
            owner = self.audit.owner(Path(str(item.path)))
            if owner is not None:
                self.members.add(owner)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """pytest-xdist controller: collect a worker's recorded imports."""
        output = getattr(node, "workeroutput", {}).get(_WORKER_KEY)
        if isinstance(output, dict):
            self.members.update(str(m) for m in output.get("members", ()))
            for event in output.get("events", ()):
                path, line, module, names, toplevel, kind = event
                self.events.append((path, line, module, tuple(names), toplevel, kind))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.tracker.uninstall()
        workeroutput = getattr(self.config, "workeroutput", None)
        if workeroutput is not None:  # an xdist worker: the controller reports
            workeroutput[_WORKER_KEY] = {
                "members": sorted(self.members),
                "events": [list(e) for e in self.tracker.events],
            }
            return
        uses = self.tracker.uses([*self.tracker.events, *self.events])
        try:  # static scan: members whose tests ran; run-time imports: of any member
            self.result = self.audit.run(sorted(self.members), uses)
        except WsenvError as exc:
            raise pytest.UsageError(f"pytest-wsenv: --ws-check-imports: {exc}") from None
        if self.mode == "error" and self.result.failed and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.result is None:
            return
        verbose = self.config.option.verbose > 0
        markup = {"red": True} if self.result.failed and self.mode == "error" else {}
        terminalreporter.write_sep("=", "wsenv import audit", **markup)
        for line in text_lines(self.result, mode=self.mode, verbose=verbose):
            terminalreporter.write_line(line)

    def pytest_unconfigure(self) -> None:
        self.tracker.uninstall()


def _request(config: pytest.Config) -> AuditRequest:
    def option(name: str) -> Any:
        return config.getoption(name, default=None)

    def ini(name: str) -> str:
        try:
            return str(config.getini(name)).strip()
        except ValueError:
            return ""

    return AuditRequest(
        extras=tuple(option("ws_extra") or ()),
        all_extras=bool(option("ws_all_extras")),
        groups=tuple(option("ws_group") or ()),
        no_default_groups=bool(option("ws_no_default_groups")),
        test_group=ini("wsenv_test_group") or "dev",
    )
