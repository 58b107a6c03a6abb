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

import pytest

from pytest_wsenv.errors import ConfigError

__all__ = ["BACKSTOP", "Limits", "limits_of"]

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
