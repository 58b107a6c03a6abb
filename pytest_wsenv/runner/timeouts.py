"""Time limits on a child's tests: per test and per member.

``--ws-timeout SECONDS`` (ini ``wsenv_timeout``) limits each test; without it, pytest-timeout's
own ``--timeout`` / ``timeout`` ini / ``PYTEST_TIMEOUT`` apply when pytest-timeout is installed
next to the parent pytest (a member environment need not have it). A child that has
pytest-timeout itself enforces that limit in its own way; the parent then steps in one second
later, only if the child could not. ``--ws-member-timeout SECONDS`` (ini
``wsenv_member_timeout``) limits a member's test run as a whole.

A test past its limit: the parent asks the child for the stacks of all its threads
(:mod:`faulthandler`, registered by the child on ``SIGUSR1`` to write into a file the parent
reads), kills the child's process group, reports the test failed ("timed out after 5.0 s",
with the stacks) and runs the member's remaining tests in a new child. A member past its
limit is stopped the same way; its remaining tests are reported as not run.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import tempfile
import time

import pytest

from pytest_wsenv.errors import ConfigError
from pytest_wsenv.runner.members import Member, State
from pytest_wsenv.runner.parts import SessionPart

__all__ = ["BACKSTOP", "Limits", "TimeLimits", "limits_of"]

#: Seconds the parent waits beyond pytest-timeout's limit for a child that enforces it itself.
BACKSTOP = 1.0


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    test: float | None = None  # seconds per test
    member: float | None = None  # seconds per member's test run
    #: where ``test`` comes from, for messages: ``--ws-timeout`` or ``--timeout``
    source: str = "--ws-timeout"

    @property
    def from_pytest_timeout(self) -> bool:
        return self.source == "--timeout"


def _seconds(value: object, where: str) -> float | None:
    text = str(value).strip() if value is not None else ""
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        raise ConfigError(f"{where} = {text!r}: expected a number of seconds") from None
    if seconds < 0:
        raise ConfigError(f"{where} = {text!r}: expected a number of seconds, not below 0")
    return seconds or None  # 0 means no limit, as in pytest-timeout


def limits_of(config: pytest.Config) -> Limits:
    """The limits the session's options and ini settings ask for; ConfigError if malformed."""
    member = _seconds(
        config.getoption("ws_member_timeout", None) or config.getini("wsenv_member_timeout"),
        "--ws-member-timeout",
    )
    test = _seconds(
        config.getoption("ws_timeout", None) or config.getini("wsenv_timeout"), "--ws-timeout"
    )
    if test is not None:
        return Limits(test, member)
    if config.pluginmanager.hasplugin("timeout"):  # pytest-timeout, next to the parent
        value = config.getoption("timeout", None)
        if value is None:
            value = os.environ.get("PYTEST_TIMEOUT") or config.getini("timeout")
        return Limits(_seconds(value, "--timeout"), member, source="--timeout")
    return Limits(None, member)


class TimeLimits(SessionPart):
    """Mixin of :class:`~pytest_wsenv.runner.session.IsolatedRun` enforcing its limits."""

    limits: Limits
    _members: list[Member]
    _stacks_dir: str | None

    def _stacks_file(self) -> str | None:
        """A new file for the next child's stacks, when the session has a limit."""
        if self.limits.test is None and self.limits.member is None:
            return None
        if self._stacks_dir is None:
            self._stacks_dir = tempfile.mkdtemp(prefix="pytest-wsenv-stacks-")
        fd, path = tempfile.mkstemp(suffix=".txt", dir=self._stacks_dir)
        os.close(fd)
        return path

    def _limit_of_test(self, m: Member) -> float | None:
        limit = self.limits.test
        if limit is not None and self.limits.from_pytest_timeout and m.own_timeout:
            return limit + BACKSTOP  # the child's pytest-timeout acts first
        return limit

    def _deadlines(self) -> list[tuple[float, Member, bool]]:
        """(deadline, member, whole member) for every running child with a limit."""
        found: list[tuple[float, Member, bool]] = []
        if self.limits.test is None and self.limits.member is None:
            return found  # asked once per message: the common case costs nothing
        for m in self._every_child():
            if m.state is not State.RUNNING or m.child is None or not m.child.alive:
                continue
            if m.timed_out is not None:
                continue
            limit = self._limit_of_test(m)
            if limit is not None and m.unit is not None:
                found.append((m.unit.began + limit, m, False))
            if self.limits.member is not None and m.run_began is not None:
                found.append((m.run_began + self.limits.member, m, True))
        return found

    def _next_deadline(self) -> float | None:
        deadlines = self._deadlines()
        if not deadlines:
            return None
        return min(d for d, _, _ in deadlines) - time.monotonic()

    def _check_deadlines(self) -> None:
        now = time.monotonic()
        for deadline, m, whole in sorted(self._deadlines(), key=lambda d: d[0]):
            if deadline > now or m.timed_out is not None:
                continue
            unit = m.unit
            running = f" while running {self._need_mapper(m).nodeid(unit.nodeid)!r}" if unit else ""
            if whole:
                why = (
                    f"member {m.name!r} ran out of time: its tests took longer than "
                    f"{self.limits.member:.1f} s in all (--ws-member-timeout){running}"
                )
                m.out_of_time = True
            else:
                assert unit is not None
                limit = self.limits.test or 0.0
                why = (
                    f"{self._need_mapper(m).nodeid(unit.nodeid)} timed out after {limit:.1f} s "
                    f"({self.limits.source}) in member {m.name!r}"
                )
            self._time_out(m, why)

    def _time_out(self, m: Member, why: str) -> None:
        """Take the stacks of ``m``'s child, then kill it with what it started; its exit
        reports the rest (``exits.py``)."""
        child = m.child
        assert child is not None
        stacks = ""
        if m.stacks:
            child.signal_child(signal.SIGUSR1)
            stacks = _read_stacks(m.stacks)
        m.timed_out = why + (f"\n\nstacks of the child's threads:\n{stacks}" if stacks else "")
        child.signal_group(signal.SIGKILL)


def _read_stacks(path: str, wait: float = 2.0) -> str:
    """What faulthandler wrote into ``path``, once it stops growing (at most ``wait`` s)."""
    deadline = time.monotonic() + wait
    size = -1
    while time.monotonic() < deadline:
        time.sleep(0.05)
        try:
            now = os.path.getsize(path)
        except OSError:
            return ""
        if now and now == size:
            break
        size = now
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            return file.read().strip()
    except OSError:
        return ""
