"""The child side: a thin pytest driver run inside a member's environment.

This file is executed by path in the member's interpreter (Python 3.10+, pytest 8+), never
imported as part of pytest_wsenv: it uses the standard library and pytest only. The parent starts
it as::

    python -c <BOOTSTRAP> /path/to/child.py '{"schema": 1, "msg_fd": W, "cmd_fd": R}' <pytest args>

(see ``protocol.py``), with the member directory as working directory, so the member's ini file,
conftest files and rootdir apply as if pytest were run there. The bootstrap removes the ``''``
entry ``-c`` puts on ``sys.path``, so neither the working directory nor this package's directory
is importable by accident, and it keeps the user's ``PYTHON*`` variables (no ``-I``/``-E``).

The wire format (messages on ``msg_fd``, commands on ``cmd_fd``, the output modes and the
handshake) is described in ``protocol.py``, the parent's side of it.
"""

from __future__ import annotations

import collections
import contextlib
import faulthandler
import gc
import json
import os
import platform
import queue
import signal
import sys
import threading
from typing import Any

import pytest

SCHEMA = 1


def _default(obj: object) -> object:
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    return repr(obj)


#: Tests left in a batch when the child asks for the next (``more``), so that the next
#: usually arrives before the last one starts.
_LOW_WATER = 2


class _Channel:
    """Writes JSON lines to the parent's message pipe.

    With ``flush_output`` (the parent relays stdout and stderr), the test's buffered output
    is flushed first, so that it reaches the parent before the message that follows it.
    """

    def __init__(self, fd: int, *, flush_output: bool = False) -> None:
        os.set_inheritable(fd, False)
        self._out = open(fd, "wb", buffering=1 << 16)  # noqa: SIM115
        self._lock = threading.Lock()
        self._flush_output = flush_output

    def send(self, kind: str, **fields: Any) -> None:
        fields["kind"] = kind
        line = json.dumps(fields, default=_default, separators=(",", ":")).encode() + b"\n"
        if self._flush_output:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(OSError, ValueError):
                    stream.flush()
        with self._lock:
            self._out.write(line)
            self._out.flush()


class _Commands:
    """Reads commands from the parent in a daemon thread."""

    def __init__(self, fd: int) -> None:
        os.set_inheritable(fd, False)
        self.first: queue.Queue[dict[str, Any]] = queue.Queue()
        self.go: queue.Queue[bool] = queue.Queue()
        self.stop = threading.Event()
        self._fd = fd
        threading.Thread(target=self._read, name="wsenv-commands", daemon=True).start()

    def _read(self) -> None:
        pending = b""
        while True:
            try:
                data = os.read(self._fd, 1 << 16)
            except OSError:
                data = b""
            if not data:
                break
            *lines, pending = (pending + data).split(b"\n")
            for line in lines:
                try:
                    command = json.loads(line)
                except ValueError:
                    continue
                if command.get("cmd") == "stop":
                    self.stop.set()
                    self.first.put(command)  # wakes a run loop waiting for more tests
                elif command.get("cmd") == "go":
                    self.go.put(True)
                else:
                    self.first.put(command)
        self.stop.set()
        self.go.put(False)
        self.first.put({"cmd": "exit"})

    def wait_go(self) -> None:
        """Wait until the parent says go (or is gone)."""
        if self.go.get() is False:
            self.go.put(False)  # the parent went away: never wait again


def _warning_data(message: Any) -> dict[str, Any]:
    category = getattr(message, "category", None)
    return {
        "message": str(message.message),
        "category": (
            [category.__module__, category.__qualname__] if isinstance(category, type) else None
        ),
        "filename": str(message.filename),
        "lineno": message.lineno,
        "line": message.line,
    }


class _CurrentStdout:
    """A file that writes to whatever ``sys.stdout`` is at the time of the write."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()

    def isatty(self) -> bool:
        return sys.stdout.isatty()


class _ChildPlugin:
    def __init__(
        self, channel: _Channel, commands: _Commands, *, mode: str = "captured", ack: bool = False
    ) -> None:
        self.channel = channel
        self.commands = commands
        self.mode = mode
        self.ack = ack
        self.deselected: list[str] = []
        self.config: Any = None
        self._path_before = list(sys.path)
        self._writer: Any = None  # the terminal reporter's writer, when it is silenced
        # set by the parent, read once and removed: the tests do not see them
        self.ini_keys = [k for k in os.environ.pop("PYTEST_WSENV_INI_KEYS", "").split(",") if k]
        self.foreign = json.loads(os.environ.pop("PYTEST_WSENV_FOREIGN_OPTIONS", "[]"))
        self.undefined_report = os.environ.pop("PYTEST_WSENV_UNDEFINED_REPORT", "")
        self.coverage_settings = json.loads(os.environ.pop("PYTEST_WSENV_COVERAGE", "null"))
        self.coverage: Any = None  # child_coverage.ChildCoverage

    def pytest_addoption(self, parser: Any) -> None:
        # the parent's ini keys are known here, where pytest-wsenv may not be installed
        for key in self.ini_keys:
            parser.addini(key, "pytest-wsenv setting (read by the parent session)")

    @pytest.hookimpl(wrapper=True)
    def pytest_load_initial_conftests(self, early_config: Any, parser: Any, args: Any) -> Any:
        """Options the parent did not define: passed on where a plugin or an initial
        conftest.py of this environment defines them, else dropped and reported. With
        ``--cov``, coverage starts here, where pytest-cov starts it."""
        if self.coverage_settings:
            self.coverage = _sibling("child_coverage").ChildCoverage(self.coverage_settings)
            early_config.pluginmanager.register(self.coverage, "wsenv-coverage")
        result = yield
        undefined: list[str] = []
        defined: list[str] = []
        for tokens in self.foreign:
            _, unknown = parser.parse_known_and_unknown_args(tokens)
            if unknown and unknown[0] == tokens[0]:
                undefined.append(tokens[0].split("=", 1)[0])
            else:
                defined += tokens
        args[:0] = defined
        if self.undefined_report:
            with open(self.undefined_report, "w", encoding="utf-8") as out:
                json.dump(undefined, out)
        return result

    @pytest.hookimpl(trylast=True)
    def pytest_configure(self, config: Any) -> None:
        self.config = config
        config.option.maxfail = 0
        if self.mode != "terminal":
            config.option.usepdb = False
        if self.mode != "captured":
            self._silence_terminal_reporter(config)
        if self.mode != "terminal" and not os.environ.get("PYTHONBREAKPOINT"):
            self._refuse_debugger(config)

    def _refuse_debugger(self, config: Any) -> None:
        """Without the terminal, ``breakpoint()`` would read end-of-file and quit the session;
        it fails the test instead, saying what gives it a terminal."""
        import pdb

        def refuse(*args: Any, **kwargs: Any) -> None:
            __tracebackhide__ = True
            pytest.fail(
                "breakpoint() needs the terminal, and this member's child has none: pytest-wsenv "
                "gives it to a child when pytest runs on a terminal and one child runs at a time "
                "(without -n)",
                pytrace=False,
            )

        saved = sys.breakpointhook, pdb.set_trace
        sys.breakpointhook = refuse
        pdb.set_trace = refuse

        def restore() -> None:
            sys.breakpointhook, pdb.set_trace = saved

        config.add_cleanup(restore)

    def _silence_terminal_reporter(self, config: Any) -> None:
        """The parent reports; this side's report would be shown twice (private API of
        pytest's TerminalWriter, guarded: without it the child's report shows as well)."""
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        writer = getattr(reporter, "_tw", None)
        if writer is not None and hasattr(writer, "_file"):
            writer._file = open(os.devnull, "w")  # noqa: SIM115
            self._writer = writer

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_exception_interact(self, node: Any, call: Any, report: Any) -> Any:
        """``--pdb``: the parent first shows the failure, then pytest's traceback and the
        debugger get the terminal."""
        if self.mode != "terminal" or not self.config.option.usepdb:
            return (yield)
        if self.ack:
            self.channel.send("interact")
            self.commands.wait_go()
        writer, devnull = self._writer, None
        if writer is not None:
            devnull, writer._file = writer._file, _CurrentStdout()
        try:
            return (yield)
        finally:
            if writer is not None:
                writer._file = devnull

    def pytest_plugin_registered(self, plugin: Any) -> None:
        """A conftest.py outside the member that puts other directories on ``sys.path``
        makes them importable in every member's tests: the parent warns about it."""
        before, self._path_before = self._path_before, list(sys.path)
        file = getattr(plugin, "__file__", None)
        if not file or os.path.basename(file) != "conftest.py":
            return
        member = os.path.realpath(os.getcwd())
        conftest = os.path.realpath(file)
        if _inside(conftest, member):
            return
        known = set(before)
        # pytest itself puts the conftest's own directory (or its package root) first
        mine = {os.path.dirname(conftest), *_parents(os.path.dirname(conftest))}
        env = {os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)}
        added = []
        for entry in sys.path:
            if entry in known or not entry:
                continue
            real = os.path.realpath(entry)
            if real in mine or _inside(real, member) or any(_inside(real, e) for e in env):
                continue
            added.append(real)
        if added:
            self.channel.send("syspath", conftest=conftest, entries=added)

    def pytest_sessionstart(self, session: Any) -> None:
        self.channel.send(
            "session",
            rootpath=str(session.config.rootpath),
            timeout=session.config.pluginmanager.hasplugin("timeout"),
        )

    def pytest_internalerror(self, excrepr: Any) -> None:
        self.channel.send("internalerror", text=str(excrepr))

    def pytest_keyboard_interrupt(self, excinfo: Any) -> None:
        if isinstance(excinfo.value, pytest.exit.Exception):  # pytest.exit(), pdb's quit
            self.channel.send(
                "interrupted", exit=str(excinfo.value.msg), returncode=excinfo.value.returncode
            )
            return
        crash = getattr(excinfo.getrepr(style="short"), "reprcrash", None)
        where = f"{crash.path}:{crash.lineno}" if crash is not None else ""
        self.channel.send("interrupted", where=where)

    def _serialize(self, report: Any) -> Any:
        return self.config.hook.pytest_report_to_serializable(config=self.config, report=report)

    def pytest_collectreport(self, report: Any) -> None:
        if not report.passed:
            self.channel.send("collectreport", report=self._serialize(report))

    def pytest_deselected(self, items: Any) -> None:
        self.deselected.extend(item.nodeid for item in items)

    def pytest_warning_recorded(
        self, warning_message: Any, when: str, nodeid: str, location: Any
    ) -> None:
        self.channel.send(
            "warning", warning=_warning_data(warning_message), when=when, nodeid=nodeid
        )

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        self.channel.send("logstart", nodeid=nodeid, location=location)
        if self.ack:
            self.commands.wait_go()

    def pytest_runtest_logreport(self, report: Any) -> None:
        self.channel.send("testreport", report=self._serialize(report))

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        self.channel.send("logfinish", nodeid=nodeid, location=location)

    def _send_collected(self, session: Any) -> None:
        index: dict[int, int] = {}
        collectors: list[list[Any]] = []

        def collector_index(node: Any) -> int:
            if node is None or node is session:
                return -1
            known = index.get(id(node))
            if known is not None:
                return known
            parent = collector_index(node.parent)
            index[id(node)] = len(collectors)
            collectors.append([node.nodeid, type(node).__name__, node.name, str(node.path), parent])
            return index[id(node)]

        items = [
            [
                item.nodeid,
                item.name,
                str(item.path),
                list(item.location),
                collector_index(item.parent),
                type(item).__name__,
            ]
            for item in session.items
        ]
        self.channel.send(
            "collected",
            items=items,
            collectors=collectors,
            deselected=self.deselected,
            groups=_xdist_groups(session.items),
        )

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: Any) -> bool:
        self._send_collected(session)
        # Everything alive now (pytest, plugins, the collected tree) lives as long as the
        # child: keep the cyclic collector from scanning it again while tests run, and
        # while this child waits, collected, beside its siblings.
        gc.freeze()
        command = self.commands.first.get()
        if command.get("cmd") != "run":
            return True
        by_id = {item.nodeid: item for item in session.items}
        batch: collections.deque[Any] = collections.deque()
        if command.get("ids") is None:
            batch.extend(session.items)
        more = self._take(command, by_id, batch)
        asked = False
        while batch or more:
            if more and not asked and len(batch) <= _LOW_WATER:
                self.channel.send("more")
                asked = True
            if asked and (len(batch) <= 1 or not self.commands.first.empty()):
                # the last test waits for its successor (its teardown depends on it)
                command = self.commands.first.get()
                asked = False
                more = self._take(command, by_id, batch) if command.get("cmd") == "run" else False
                continue
            if self.commands.stop.is_set() or not batch:
                break
            item = batch.popleft()
            item.config.hook.pytest_runtest_protocol(
                item=item, nextitem=batch[0] if batch else None
            )
            if session.shouldfail or session.shouldstop:
                break
        return True

    @staticmethod
    def _take(command: dict[str, Any], by_id: dict[str, Any], batch: Any) -> bool:
        """Queue the tests ``command`` names; whether more may follow."""
        batch.extend(by_id[nodeid] for nodeid in command.get("ids") or [] if nodeid in by_id)
        return bool(command.get("more"))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: Any, exitstatus: Any) -> None:
        if self.coverage is not None:
            self.coverage.save()
        self.channel.send(
            "finished",
            exitstatus=int(exitstatus),
            shouldfail=session.shouldfail or "",
            shouldstop=session.shouldstop or "",
        )


def _xdist_groups(items: list[Any]) -> dict[str, str]:
    """``{node id: group}`` of the tests marked ``xdist_group`` (for ``--dist loadgroup``)."""
    groups: dict[str, str] = {}
    for item in items:
        marker = item.get_closest_marker("xdist_group")
        if marker is not None:
            groups[item.nodeid] = str(
                marker.args[0] if marker.args else marker.kwargs.get("name", "default")
            )
    return groups


def _sibling(name: str) -> Any:
    """A module shipped beside this file, loaded by path as this file is run (the child cannot
    import pytest_wsenv, which the member environment does not have)."""
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_pytest_wsenv_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _inside(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


def _parents(directory: str) -> list[str]:
    found: list[str] = []
    while True:
        parent = os.path.dirname(directory)
        if parent == directory:
            return found
        found.append(parent)
        directory = parent


def _die_with_parent() -> None:
    """Linux: the kernel kills this child when the process that started it ends (the parent
    pytest, or the fork server, which ends with it), whatever way it ends."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent ended before the call: nobody will read us
        os._exit(1)


def main(argv: list[str]) -> int:
    _die_with_parent()
    options = json.loads(argv[0])
    if options.get("stacks") and hasattr(signal, "SIGUSR1"):
        # the parent asks for every thread's stack before it kills a test that ran too long
        stacks = open(options["stacks"], "w")  # noqa: SIM115 - open while the child lives
        faulthandler.register(signal.SIGUSR1, file=stacks, all_threads=True)
    mode = str(options.get("mode") or "captured")
    channel = _Channel(int(options["msg_fd"]), flush_output=mode == "relay")
    commands = _Commands(int(options["cmd_fd"]))
    channel.send(
        "hello",
        schema=SCHEMA,
        pytest=pytest.__version__,
        python=platform.python_version(),
        pid=os.getpid(),
        executable=sys.executable,
    )
    plugin = _ChildPlugin(channel, commands, mode=mode, ack=bool(options.get("ack")))
    return int(pytest.main(list(argv[1:]), plugins=[plugin]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
