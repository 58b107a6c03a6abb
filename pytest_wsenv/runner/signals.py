"""SIGTERM and SIGHUP end an isolated session as Ctrl-C does.

A CI job that is cancelled, ``timeout``, or a closed terminal sends SIGTERM or SIGHUP. Left to
their default, they would kill the parent at once, leaving its children running. While the
session runs, both are turned into :class:`Terminated` (a ``KeyboardInterrupt``), so the
parent stops every child and its process group, prints pytest's summary and exits with code 2.
Handlers the user's code installed are left alone.
"""

from __future__ import annotations

import signal
import threading
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

    def restore(self) -> None:
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)
        self._saved.clear()
