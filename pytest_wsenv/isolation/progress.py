"""The session's lines about environments: builds as they happen, and the engine's notes.

On a terminal, builds in progress share one status line, rewritten in place with their elapsed
time (``building seeds-py3.12 (uv, 12 packages) 3.1s``); each is replaced by its one-line
summary when it ends. Elsewhere (a CI log) a build's line is written when it starts, so a long
build is seen before it ends, and again with its time when it ends. With ``-q`` only the line
at the end is written. Nothing is written before pytest's header: lines that come earlier wait
for the collection to start.

Lines come from the runner's worker threads; each is written whole through pytest's terminal
reporter, under one lock.
"""

from __future__ import annotations

import threading
import time

import pytest

__all__ = ["SessionLines"]

#: How often the status line is rewritten on a terminal (seconds).
TICK = 0.5


class SessionLines:
    """The ``log`` and ``progress`` of the session's
    :class:`~pytest_wsenv.envs.manager.EnvManager`, and a pytest plugin (it waits for the
    header)."""

    def __init__(self, config: pytest.Config) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._building: dict[str, tuple[str, float]] = {}  # name -> (what, started)
        self._ticker: threading.Thread | None = None
        self._status_shown = False
        self._ready = False
        self._early: list[str] = []  # lines that came before the header

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self) -> None:
        with self._lock:
            self._ready = True
            reporter = self._reporter()
            if reporter is None:
                return
            for line in self._early:
                reporter.write_line(line)
            self._early.clear()
            self._refresh(reporter)

    def _reporter(self) -> pytest.TerminalReporter | None:
        reporter = self._config.pluginmanager.get_plugin("terminalreporter")
        return reporter if isinstance(reporter, pytest.TerminalReporter) else None

    def _write(self, line: str) -> None:
        """Write ``line`` (over the status line, if one is shown)."""
        reporter = self._reporter()
        if reporter is None:
            return
        if not self._ready:
            self._early.append(line)
        elif self._status_shown:
            reporter.rewrite(line, erase=True)
            reporter.write("\n")
            self._status_shown = False
        else:
            reporter.write_line(line)

    def __call__(self, line: str) -> None:
        """A line of the engine's (waiting for a lock, reusing, why a rebuild, ...)."""
        with self._lock:
            self._write(line)
            self._refresh(self._reporter())

    # --- BuildProgress --------------------------------------------------------------------

    def build_started(self, name: str, what: str) -> None:
        with self._lock:
            self._building[name] = (what, time.monotonic())
            reporter = self._reporter()
            if reporter is None or reporter.verbosity < 0:
                return
            if not reporter.isatty:
                self._write(f"building {what} ...")
                return
            self._refresh(reporter)
            if self._ticker is None:
                self._ticker = threading.Thread(
                    target=self._tick, name="wsenv-build-status", daemon=True
                )
                self._ticker.start()

    def build_ended(self, name: str, line: str | None) -> None:
        with self._lock:
            self._building.pop(name, None)
            if line is not None:
                self._write(line)
            self._refresh(self._reporter())

    # --- the status line ------------------------------------------------------------------

    def _tick(self) -> None:
        while True:
            time.sleep(TICK)
            with self._lock:
                if not self._building:
                    self._ticker = None
                    return
                self._refresh(self._reporter())

    def _refresh(self, reporter: pytest.TerminalReporter | None) -> None:
        """Show the builds in progress on the status line (a terminal, after the header)."""
        if (
            reporter is None
            or not self._ready
            or not self._building
            or not reporter.isatty
            or reporter.verbosity < 0
        ):
            return
        now = time.monotonic()
        parts = [f"{what} {now - started:.1f}s" for what, started in self._building.values()]
        reporter.rewrite("building " + ", ".join(parts), erase=True)
        self._status_shown = True
