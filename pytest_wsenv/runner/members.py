"""Per-member state of an isolated run, and the summary record it ends with."""

from __future__ import annotations

import dataclasses
import enum
import time
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pytest

from pytest_wsenv.runner.process import ChildProcess
from pytest_wsenv.runner.protocol import PathMapper
from pytest_wsenv.runner.spec import ChildRequest, ChildSpec, member_nodeid
from pytest_wsenv.runner.standins import IsolatedItem

__all__ = [
    "UNRESOLVED",
    "ChildSummary",
    "Member",
    "State",
    "Unit",
    "WorkQueue",
    "classify",
    "summarize",
]


@dataclasses.dataclass(frozen=True, slots=True)
class ChildSummary:
    """What one member's child(ren) did, for a terminal section.

    ``outcomes`` counts tests by ``passed``/``failed``/``error``/``skipped``/``xfailed``/
    ``xpassed``; ``exitstatus`` is the last child's return code (negative: killed by that
    signal; ``None``: never started); ``error`` is set when the member failed as a whole.
    """

    key: str
    member: str
    tests_run: int
    outcomes: Mapping[str, int]
    restarts: int
    exitstatus: int | None
    seconds: float
    error: str | None = None
    python: str | None = None
    pytest: str | None = None
    forked: bool = False  # the (last) child was forked from a warm interpreter
    not_forked: str | None = None  # why not, when forking was on


class State(enum.Enum):
    PENDING = "pending"
    PREPARING = "preparing"
    COLLECTING = "collecting"
    COLLECTED = "collected"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


#: States in which a member's collection is not known yet.
UNRESOLVED = (State.PENDING, State.PREPARING, State.COLLECTING)


class Unit:
    """The events of one child test, replayed together at its ``logfinish`` (or live)."""

    __slots__ = ("began", "location", "nodeid", "phases", "replayed", "reports", "started")

    def __init__(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        self.nodeid = nodeid
        self.location = location
        self.reports: list[pytest.TestReport] = []
        self.phases: set[str] = set()
        #: Replayed live (as its events arrive): its logstart and the first ``replayed``
        #: reports have been replayed already.
        self.started = False
        self.replayed = 0
        #: when the parent learnt that the test started (``time.monotonic``)
        self.began = time.monotonic()


class WorkQueue:
    """Groups of test ids still to hand out, and how many tests they hold."""

    __slots__ = ("_groups", "tests")

    def __init__(self, groups: Iterable[list[str]] = ()) -> None:
        self._groups = deque(groups)
        self.tests = sum(len(g) for g in self._groups)

    def __bool__(self) -> bool:
        return bool(self._groups)

    def take(self) -> list[str]:
        """The next group (it leaves the queue)."""
        group = self._groups.popleft()
        self.tests -= len(group)
        return group


class Member:
    """One request's progress: its spec, current child, collection and pending tests."""

    def __init__(self, request: ChildRequest) -> None:
        self.request = request
        self.key = request.key
        self.name = request.member
        self.state = State.PENDING
        self.spec: ChildSpec | None = None
        self.child: ChildProcess | None = None
        self.hello: dict[str, Any] | None = None
        self.mapper: PathMapper | None = None
        #: Collect reports and warnings received before the collection is replayed.
        self.collect_events: list[tuple[str, Any]] = []
        self.collected: dict[str, Any] | None = None
        self.collection_replayed = False
        self.error: str | None = None
        self.internal_error: str | None = None
        #: Stand-ins by child node id.
        self.items: dict[str, IsolatedItem] = {}
        #: Child ids still to run, in run order.
        self.pending: dict[str, None] = {}
        self.replayed: set[str] = set()
        self.unit: Unit | None = None
        self.finished: dict[str, Any] | None = None
        self.restarts = 0
        self.restarting = False
        #: Collected, then told to exit to keep the number of idle children bounded; a new
        #: child collects again when the member's turn to run comes.
        self.parked = False
        self.exit_sent = False
        self.stop_sent = False
        self.holds_collect_slot = False
        self.holds_run_slot = False
        self.outcomes: Counter[str] = Counter()
        self.tests_run = 0
        self.started: float | None = None
        self.ended: float | None = None
        self.returncode: int | None = None
        #: when the member's tests started running (``time.monotonic``), for its time limit
        self.run_began: float | None = None
        #: why the parent killed the current child: a test or the member ran out of time
        self.timed_out: str | None = None
        self.out_of_time = False  # the member as a whole: nothing more runs
        #: the file the current child writes its stacks into when asked (``SIGUSR1``)
        self.stacks: str | None = None
        #: the child has pytest-timeout and enforces its limits itself
        self.own_timeout = False
        #: its environment was rebuilt once because pytest could not start in it
        self.healed = False
        # --- a member spread over several children (``spread.py``) ---
        #: the member this child works for, when it is an extra worker of a spread member
        self.primary: Member | None = None
        #: the extra workers of this (primary) member
        self.workers: list[Member] = []
        #: tests are given to this child in batches (it asks for ``more``)
        self.spread = False
        #: the primary's tests not given to any child yet, in groups that stay together
        self.unassigned = WorkQueue()
        #: ``{child node id: xdist_group name}`` from the collection
        self.groups: dict[str, str] = {}
        #: when the current child was started, and how long the first one took to collect
        self.child_began: float | None = None
        self.collect_seconds: float | None = None
        #: tests finished by the whole family (primary and workers), and their seconds
        self.family_tests = 0
        self.family_seconds = 0.0

    @property
    def family(self) -> Member:
        """The primary member of this child's family (itself, unless an extra worker)."""
        return self.primary or self

    @property
    def nodeid(self) -> str:
        """The parent-form id naming the whole member."""
        return member_nodeid(self.request.nodeid_prefix or ".", self.request.nodeid_suffix)

    @property
    def child_pytest(self) -> str | None:
        return None if self.hello is None else str(self.hello.get("pytest"))

    @property
    def child_python(self) -> str | None:
        """The child's Python version (``3.12.7``), once it has said hello."""
        python = None if self.hello is None else self.hello.get("python")
        return str(python) if python else None

    @property
    def python_label(self) -> str | None:
        """``py3.12``: the child's Python, as node ids and headers name it."""
        python = self.child_python
        return None if python is None else "py" + ".".join(python.split(".")[:2])

    def reset_child(self, child: ChildProcess | None) -> None:
        """A new child (first start or restart) begins with a clean protocol state."""
        self.child = child
        self.hello = self.mapper = self.finished = None
        self.unit = None
        self.stop_sent = self.exit_sent = False


def classify(reports: Sequence[pytest.TestReport]) -> str:
    """One outcome word for a test from its reports (as the terminal summary counts it)."""
    outcome = "passed"
    for report in reports:
        if report.when != "call" and report.failed:
            return "error"
        if report.when == "call":
            if hasattr(report, "wasxfail"):
                outcome = "xfailed" if report.skipped else "xpassed"
            else:
                outcome = report.outcome
        elif report.skipped and outcome == "passed":
            outcome = "skipped"
    return outcome


def summarize(m: Member, now: float) -> ChildSummary:
    """``m``'s record, with what its extra workers did (when it was spread) added in."""
    family = [m, *m.workers]
    outcomes: Counter[str] = Counter()
    for w in family:
        outcomes.update(w.outcomes)
    ends = [w.ended or now for w in family if w.started is not None]
    return ChildSummary(
        key=m.key,
        member=m.name,
        tests_run=sum(w.tests_run for w in family),
        outcomes=dict(outcomes),
        restarts=sum(w.restarts for w in family),
        exitstatus=m.returncode,
        seconds=0.0 if m.started is None else max(ends) - m.started,
        error=m.error,
        python=m.child_python,
        pytest=m.child_pytest,
        forked=m.child is not None and m.child.forked,
        not_forked=None if m.child is None else m.child.not_forked,
    )
