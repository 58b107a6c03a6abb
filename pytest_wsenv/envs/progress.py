"""What the environment engine says while it builds: a start and an end for each build.

:class:`EnvManager <pytest_wsenv.envs.manager.EnvManager>` reports each build to a
:class:`BuildProgress`. :class:`LogProgress`, the default, writes one line per build when it
ends; the pytest session shows builds as they happen (``isolation/progress.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

__all__ = ["BuildProgress", "LogProgress"]


class BuildProgress(Protocol):
    def build_started(self, name: str, what: str) -> None:
        """``name`` starts building; ``what`` says with what (``seeds-py3.12 (uv, 12
        packages)``)."""

    def build_ended(self, name: str, line: str | None) -> None:
        """``name`` is built (``line`` is the one-line summary) or failed (``None``)."""


class LogProgress:
    """One line per build, when it ends, through ``log``."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self._log = log

    def build_started(self, name: str, what: str) -> None:
        pass

    def build_ended(self, name: str, line: str | None) -> None:
        if line is not None:
            self._log(line)
