"""How the replaying plugin reads a child's messages: the session's paths, reports,
warnings and test boundaries, turned back into pytest objects of the parent.

Runs on the main thread (the reader threads only decode and enqueue); a malformed message is a
:class:`~pytest_wsenv.errors.ChildProtocolError` naming the member and the child's pytest.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import pytest

from pytest_wsenv.runner.members import Member, Unit
from pytest_wsenv.runner.parts import SessionPart
from pytest_wsenv.runner.protocol import (
    SCHEMA_VERSION,
    PathMapper,
    protocol_error,
    rebuild_report,
    rebuild_warning,
)

__all__ = ["MessageHandling", "PathWidened"]


class PathWidened(pytest.PytestWarning):
    """A conftest.py outside the member puts directories on ``sys.path`` in its child."""


class MessageHandling(SessionPart):
    """Mixin of :class:`~pytest_wsenv.runner.session.IsolatedRun` for child messages."""

    _parent_root: Path
    _parent_cwd: Path
    _several_members: bool
    _several_pythons: bool
    _path_widened: set[str]  # conftest.py files already warned about
    _exit: tuple[str, int | None] | None
    #: tests are replayed as their events arrive (one child at a time, its output shown)
    _live: bool
    #: the children wait for "go" at each test start
    _ack: bool

    def on_message(self, m: Member, data: dict[str, Any]) -> None:
        kind = data["kind"]
        if kind == "hello":
            if data.get("schema") != SCHEMA_VERSION:
                m.hello = data
                raise protocol_error(
                    m.name,
                    m.child_pytest,
                    f"the child speaks schema {data.get('schema')!r}, "
                    f"this runner schema {SCHEMA_VERSION}",
                )
            m.hello = data
        elif kind == "session":
            m.mapper = self._mapper(m, str(data.get("rootpath")))
            m.own_timeout = bool(data.get("timeout"))
        elif kind == "collectreport":
            report = self._rebuild(m, data.get("report"))
            if m.restarting:
                pass  # a restarted child collects again: its reports were replayed once
            elif m.collection_replayed:
                self._hook().pytest_collectreport(report=report)
            else:
                m.collect_events.append(("report", report))
        elif kind == "warning":
            self._on_warning(m, data)
        elif kind == "collected":
            self._on_collected(m, data)
        elif kind == "logstart":
            m.unit = Unit(str(data.get("nodeid")), self._location(m, data.get("location")))
            if self._live and not self._stopping:
                self._live_start(m, m.unit)
            if self._ack and m.child is not None:
                m.child.send({"cmd": "go"})
        elif kind == "testreport":
            report = self._rebuild(m, data.get("report"))
            if m.unit is None:
                self._hook().pytest_runtest_logreport(report=report)
            else:
                m.unit.reports.append(report)
                m.unit.phases.add(str(report.when))
                if m.unit.started:
                    self._hook().pytest_runtest_logreport(report=report)
                    m.unit.replayed += 1
        elif kind == "logfinish":
            unit, m.unit = m.unit, None
            if unit is not None:
                if self._stopping and not unit.started:
                    m.pending.pop(unit.nodeid, None)
                else:
                    self._replay_unit(m, unit.nodeid, unit.location, unit.reports, unit)
        elif kind == "more":
            self._on_more(m)
        elif kind == "syspath":
            self._on_syspath(str(data.get("conftest")), [str(e) for e in data.get("entries") or []])
        elif kind == "interact":
            # a debugger is about to take the terminal: what came before is on it
            reporter = self.config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                reporter.ensure_newline()
                reporter.flush()
            if m.child is not None:
                m.child.send({"cmd": "go"})
        elif kind == "internalerror":
            m.internal_error = str(data.get("text"))
        elif kind == "interrupted":
            if "exit" in data:
                code = data.get("returncode")
                self._on_exit_called(m, str(data["exit"]), code if isinstance(code, int) else None)
            else:
                self._on_interrupted(m, str(data.get("where") or ""))
        elif kind == "finished":
            m.finished = data
            # Its tests are done: the next child may run while this one exits.
            if m.unit is None and not m.restarting:
                self._release_run_slot(m)
        else:
            raise protocol_error(m.name, m.child_pytest, f"unknown message kind {kind!r}")

    def _on_syspath(self, conftest: str, entries: list[str]) -> None:
        """Warn once per conftest.py that widens ``sys.path`` for every member."""
        if conftest in self._path_widened:
            return
        self._path_widened.add(conftest)

        def shown(path: str) -> str:
            return os.path.relpath(path, self._parent_cwd)

        where = ", ".join(shown(e) for e in entries)
        self._hook().pytest_warning_recorded.call_historic(
            kwargs={
                "warning_message": warnings.WarningMessage(
                    PathWidened(
                        f"{shown(conftest)} puts {where} on sys.path in every member's "
                        f"child: what is there is importable by tests although no member "
                        f"declares it (see pytest-wsenv's known limitations)"
                    ),
                    PathWidened,
                    conftest,
                    0,
                ),
                "when": "config",
                "nodeid": "",
                "location": None,
            }
        )

    def _live_start(self, m: Member, unit: Unit) -> None:
        """Replay ``unit``'s start now; its reports follow as they arrive."""
        nodeid = self._need_mapper(m).nodeid(unit.nodeid)
        self._hook().pytest_runtest_logstart(nodeid=nodeid, location=unit.location)
        unit.started = True

    def _on_interrupted(self, m: Member, where: str) -> None:
        """A test raised KeyboardInterrupt: the session ends as pytest's would ("Interrupted",
        exit code 2); the interrupted test has no result, and nothing else runs."""
        if self._interrupted or self._stopping:
            return
        m.unit = None
        path, sep, line = where.rpartition(":")
        if sep and os.path.isabs(path):
            where = f"{os.path.relpath(path, self._parent_cwd)}:{line}"
        self._interrupted = f"KeyboardInterrupt in member {m.name!r}" + (
            f" at {where}" if where else ""
        )
        self._stop(self._interrupted)

    def _on_exit_called(self, m: Member, message: str, returncode: int | None) -> None:
        """A test called ``pytest.exit()`` (or quit the debugger): the whole session exits."""
        if self._interrupted or self._stopping:
            return
        m.unit = None
        self._exit = (message, returncode)
        self._interrupted = message
        self._stop(message)

    def _mapper(self, m: Member, rootpath: str) -> PathMapper:
        spec = m.spec
        assert spec is not None
        child_root = Path(rootpath)
        real_root = os.path.realpath(child_root)
        if real_root == os.path.realpath(spec.rootdir):
            prefix = spec.nodeid_prefix
        else:
            rel = os.path.relpath(real_root, self._parent_root).replace(os.sep, "/")
            prefix = "" if rel == "." else rel
        return PathMapper(
            prefix=prefix,
            suffix=spec.nodeid_suffix,
            child_cwd=spec.rootdir,
            child_root=child_root,
            parent_root=self._parent_root,
            parent_cwd=self._parent_cwd,
        )

    def _need_mapper(self, m: Member) -> PathMapper:
        if m.mapper is None:
            raise protocol_error(m.name, m.child_pytest, "a report came before the session")
        return m.mapper

    def _rebuild(self, m: Member, data: Any) -> Any:
        report = rebuild_report(
            self.config,
            data,
            self._need_mapper(m),
            member=m.name,
            key=m.key,
            child_pytest=m.child_pytest,
        )
        if isinstance(report, pytest.TestReport):
            self._label(m, report)
        return report

    def _label(self, m: Member, report: pytest.TestReport) -> None:
        """Say who ran ``report``: the member and Python as junit ``<properties>``, and in
        the FAILURES header (the location's domain) when the session has more than one."""
        python = m.child_python
        report.user_properties.append(("wsenv.member", m.name))
        if python is not None:
            report.user_properties.append(("wsenv.python", python))
        who = []
        if self._several_members:
            who.append(f"member {m.name}")
        if self._several_pythons and m.python_label is not None:
            who.append(m.python_label)
        if who and report.location is not None:
            path, lineno, domain = report.location
            report.location = (path, lineno, f"{domain} ({', '.join(who)})")

    def _location(self, m: Member, location: Any) -> tuple[str, int | None, str]:
        mapper = self._need_mapper(m)
        if not (isinstance(location, list) and len(location) == 3):
            raise protocol_error(m.name, m.child_pytest, f"malformed location {location!r}")
        lineno = location[1] if isinstance(location[1], int) else None
        return (mapper.location_path(str(location[0])), lineno, str(location[2]))

    def _on_warning(self, m: Member, data: dict[str, Any]) -> None:
        child_id = str(data.get("nodeid") or "")
        when = str(data.get("when"))
        kwargs = {
            "warning_message": rebuild_warning(data.get("warning")),
            "when": when,
            "nodeid": self._need_mapper(m).nodeid(child_id) if child_id else "",
            "location": None,
        }
        if not m.collection_replayed:
            m.collect_events.append(("warning", kwargs))
        elif m.restarting and when != "runtest":
            pass  # a restarted child's start-up and collection warnings were replayed once
        elif when != "runtest" or child_id in m.replayed:
            self._hook().pytest_warning_recorded.call_historic(kwargs=kwargs)
