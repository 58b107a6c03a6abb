"""SIGTERM and SIGHUP end an isolated session as Ctrl-C does; Ctrl-C goes to a child that
has the terminal.

A CI job that is cancelled, ``timeout``, or a closed terminal sends SIGTERM or SIGHUP. Left to
their default, they would kill the parent at once, leaving its children running. While the
session runs, both are turned into :class:`Terminated` (a ``KeyboardInterrupt``), so the
parent stops every child and its process group, prints pytest's summary and exits with code 2.

Ctrl-C reaches only the terminal's foreground process group, the parent's: children run in
sessions of their own. When a child has the terminal (a debugger, ``--trace``), Ctrl-C is
its own, as in a plain pytest: at a ``(Pdb)`` prompt the debugger says
``--KeyboardInterrupt--`` and goes on, and a test running there is interrupted, which ends
the session when that child ends (:meth:`SessionSignals.forward_interrupts`).
Handlers the user's code installed are left alone.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ["SessionSignals", "Terminated"]


class Terminated(KeyboardInterrupt):
    """The session received SIGTERM or SIGHUP."""


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Terminated(f"received {signal.Signals(signum).name}")


class SessionSignals:
    """Installs the handlers for the session's lifetime (main thread only)."""

    def __init__(self) -> None:
        self._saved: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for name in ("SIGTERM", "SIGHUP"):
            signum = getattr(signal, name, None)
            if signum is None or signal.getsignal(signum) is not signal.SIG_DFL:
                continue
            self._saved[signum] = signal.signal(signum, _raise)

    def forward_interrupts(self, forward: Callable[[], bool]) -> None:
        """From now on Ctrl-C (SIGINT) calls ``forward``, and interrupts the parent only
        when ``forward`` returns False: no child took it."""
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return

        def handler(signum: int, frame: FrameType | None) -> None:
            if not forward():
                raise KeyboardInterrupt

        saved = signal.signal(signal.SIGINT, handler)
        self._saved.setdefault(signal.SIGINT, saved)

    def restore(self) -> None:
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)
        self._saved.clear()
