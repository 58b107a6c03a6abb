"""Reports the parent makes itself: crashes, tests not run, members that failed as a whole."""

from __future__ import annotations

import dataclasses
import signal
from typing import Any, cast

import pytest

__all__ = [
    "MemberFailure",
    "describe_exit",
    "member_error_report",
    "output_tail",
    "synthetic_unit",
]

#: How many lines of a child's output a crash message shows.
TAIL_LINES = 40
#: How many lines of a fatal-error dump are shown, from its first line.
FATAL_LINES = 120
FATAL = "Fatal Python error"


@dataclasses.dataclass(frozen=True, slots=True)
class _CrashLocation:
    path: str
    lineno: int
    message: str


class MemberFailure:
    """A long representation with a one-line ``reprcrash`` message for ``-r`` summaries."""

    def __init__(self, text: str, path: str = "") -> None:
        self.text = text
        self.reprcrash = _CrashLocation(path, 0, text.partition("\n")[0])

    def toterminal(self, tw: object) -> None:
        line = getattr(tw, "line")  # noqa: B009 - TerminalWriter
        for part in self.text.splitlines() or [""]:
            line(part)

    def __str__(self) -> str:
        return self.text


def describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "still running"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
        return f"signal {-returncode}, {name}"
    return f"exit code {returncode}"


def output_tail(stdout: bytes, stderr: bytes) -> str:
    """The end of a child's output for a message: stderr, or stdout if stderr is empty.

    A fatal-error dump (faulthandler, which pytest enables) is shown from its first line.
    """
    for label, data in (("stderr", stderr), ("stdout", stdout)):
        text = data.decode("utf-8", "replace").rstrip()
        if text:
            lines = text.splitlines()
            start = max(len(lines) - TAIL_LINES, 0)
            fatal = text.rfind(FATAL)
            if fatal >= 0:
                start = min(start, text.count("\n", 0, fatal))
            shown = lines[start:][:FATAL_LINES]
            return f"\nlast output of the child ({label}):\n" + "\n".join(shown)
    return "\nthe child wrote nothing to stdout or stderr"


def member_error_report(nodeid: str, text: str, path: str = "") -> pytest.CollectReport:
    return pytest.CollectReport(nodeid, "failed", cast(Any, MemberFailure(text, path)), [])


def synthetic_unit(
    nodeid: str,
    location: tuple[str, int | None, str],
    when: str,
    text: str,
    finished: set[str],
) -> list[pytest.TestReport]:
    """Reports completing a test the child did not finish: a failure in ``when``.

    ``finished`` holds the phases already reported; a passed teardown closes the test for
    junitxml unless the failure is the teardown itself.
    """
    reports = [
        pytest.TestReport(
            nodeid,
            location,
            {},
            "failed",
            cast(Any, MemberFailure(text, location[0])),
            when,  # type: ignore[arg-type]
            [],
            0.0,
        )
    ]
    if when != "teardown" and "teardown" not in finished:
        reports.append(pytest.TestReport(nodeid, location, {}, "passed", None, "teardown", [], 0.0))
    return reports
