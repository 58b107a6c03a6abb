"""One member's tests spread over several children, as pytest-xdist spreads a session's.

With ``-n N`` the run slots go to whole members first. A member with enough tests to share
(:func:`spreadable`) gets its tests in batches: its child asks for ``more`` when it is about to
run the last tests it was given (see ``protocol.py``). When a run slot is free and no member is
waiting for one, the family with the most work left gets an extra worker: a new child of the
same environment (forked from the same warm interpreter), which collects the member again and
then takes batches from the same queue. A worker is worth starting only when the work left is
longer than the member's own collection took.

The tests are grouped as ``--dist`` says (:func:`group_tests`): one test per group for
``load`` and ``worksteal``; one module for ``loadfile``; one module or class for
``loadscope``; one ``xdist_group`` for ``loadgroup`` (other tests alone). A group is never
split between children. Batches shrink as the queue empties (a share of the work left for
each possible worker), so the children finish close together.

Each worker is a :class:`~pytest_wsenv.runner.members.Member` of its own (``primary`` names
the member), with its own child, pending tests, crash restarts and time limits; its results
are replayed under the member's name. When the last child of a family ends while tests are
still unassigned (every one crashed and none could restart), those tests fail "not run".
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence

import pytest

from pytest_wsenv.runner.members import Member, State, WorkQueue
from pytest_wsenv.runner.parts import SessionPart
from pytest_wsenv.runner.protocol import Command

__all__ = ["SPREAD_MODES", "Spreading", "group_tests", "spreadable"]

#: ``--dist`` modes under which a member's tests may be shared between children.
SPREAD_MODES = frozenset({"load", "loadscope", "loadfile", "loadgroup", "worksteal"})
#: A member with at least this many tests (or :data:`_MIN_SECONDS` of recorded test time)
#: gets its tests in batches; smaller ones run whole in one child, without round trips.
_MIN_TESTS = 16
_MIN_SECONDS = 1.0


def group_tests(ids: Iterable[str], mode: str, marks: Mapping[str, str]) -> list[list[str]]:
    """``ids`` in groups that one child runs together, in order of first appearance."""
    groups: dict[str, list[str]] = {}
    for nodeid in ids:
        groups.setdefault(_scope(nodeid, mode, marks), []).append(nodeid)
    return list(groups.values())


def _scope(nodeid: str, mode: str, marks: Mapping[str, str]) -> str:
    if mode == "loadfile":
        return nodeid.split("::", 1)[0]
    if mode == "loadscope":
        return nodeid.split("[", 1)[0].rsplit("::", 1)[0]
    if mode == "loadgroup" and nodeid in marks:
        return "\0" + marks[nodeid]  # never a node id
    return nodeid


def spreadable(groups: Sequence[Sequence[str]], seconds: float) -> bool:
    """Whether a member of these groups (and ``seconds`` of recorded test time) is worth
    sharing between children."""
    tests = sum(len(g) for g in groups)
    return len(groups) >= 2 and (tests >= _MIN_TESTS or seconds >= _MIN_SECONDS)


class Spreading(SessionPart):
    """Mixin of :class:`~pytest_wsenv.runner.session.IsolatedRun` for spread members."""

    max_parallel: int
    dist: str
    _read_durations: Callable[[], Mapping[str, float]] | None
    _durations: Mapping[str, float] | None = None
    _running: int
    _run_queue: deque[Member]
    _members: list[Member]
    _helpers: list[Member]

    def _begin_run(self, m: Member) -> None:
        """``m``'s turn: send its child the tests to run, all or the first batch."""
        assert m.child is not None
        if self.max_parallel > 1 and self.dist in SPREAD_MODES:
            groups = group_tests(m.pending, self.dist, m.groups)
            durations = self._recorded_durations()
            seconds = sum(
                durations.get(item.nodeid, 0.0)
                for item in (m.items.get(i) for i in m.pending)
                if item is not None
            )
            if spreadable(groups, seconds):
                m.spread = True
                m.unassigned = WorkQueue(groups)
                m.pending = {}
        self._send_run(m)

    def _recorded_durations(self) -> Mapping[str, float]:
        """Seconds per test (parent node ids) recorded by earlier runs, read once."""
        if self._durations is None:
            self._durations = self._read_durations() if self._read_durations else {}
        return self._durations

    def _send_run(self, m: Member) -> None:
        """Send ``m``'s child its pending tests (and, when spread, a batch more if it has
        none yet: an extra worker that has just collected)."""
        assert m.child is not None
        if m.spread and not m.pending:
            self._assign(m)
        command: Command = {"cmd": "run", "ids": list(m.pending)}
        if m.spread:
            command["more"] = bool(m.family.unassigned)
        m.child.send(command)

    def _on_more(self, m: Member) -> None:
        """``m``'s child is about to run its last tests: give it the next batch."""
        if m.child is None:
            return
        ids = [] if self._stopping else self._assign(m)
        m.child.send({"cmd": "run", "ids": ids, "more": bool(m.family.unassigned)})
        self._spread_more()

    def _assign(self, m: Member) -> list[str]:
        """Move the next batch of ``m``'s family's queue to ``m``'s pending tests."""
        family = m.family
        size = max(1, math.ceil(family.unassigned.tests / (2 * self.max_parallel)))
        ids: list[str] = []
        while family.unassigned and len(ids) < size:
            ids.extend(family.unassigned.take())
        m.pending.update(dict.fromkeys(ids))
        return ids

    def _spread_more(self) -> None:
        """Give free run slots, when no member waits for one, to extra workers of the
        spread member with the most work left."""
        while self._running < self.max_parallel and not self._run_queue and not self._stopping:
            family = self._busiest_family()
            if family is None:
                return
            self._start_worker(family)

    def _busiest_family(self) -> Member | None:
        best: Member | None = None
        best_left = 0.0
        for family in self._spread_families():
            if not family.unassigned or not family.family_tests:
                continue
            mean = family.family_seconds / family.family_tests
            left = family.unassigned.tests * mean
            if left > (family.collect_seconds or 0.0) and left > best_left:
                best, best_left = family, left
        return best

    def _spread_families(self) -> list[Member]:
        return [m for m in self._members if m.spread]

    def _start_worker(self, family: Member) -> None:
        worker = Member(family.request)
        worker.primary = family
        worker.spec = family.spec
        worker.items = family.items
        worker.spread = True
        worker.collection_replayed = True  # the member's collection was replayed once
        worker.restarting = True  # after collecting, it runs (see _on_collected)
        worker.holds_run_slot = True
        worker.started = time.monotonic()
        self._running += 1
        family.workers.append(worker)
        self._helpers.append(worker)
        self._start_child(worker)

    def _family_ended(self, m: Member) -> None:
        """A child of ``m``'s family ended: when it was the last and tests are still
        unassigned (its workers crashed beyond their restarts), those tests fail."""
        family = m.family
        if not family.unassigned or self._is_stopping():
            return
        alive = (State.PREPARING, State.COLLECTING, State.COLLECTED, State.RUNNING)
        if any(w.state in alive for w in (family, *family.workers)):
            return
        reason = (
            f"not run: member {family.name!r}: no child of it is left to run this test "
            f"(see the crash reported above)"
        )
        while family.unassigned and not self._is_stopping():
            for child_id in family.unassigned.take():
                self._replay_failure(m, child_id, "setup", reason)

    def _note_done(self, m: Member, reports: Sequence[pytest.TestReport]) -> None:
        """Count one finished test for the family's estimate of its work left."""
        family = m.family
        family.family_tests += 1
        family.family_seconds += sum(r.duration for r in reports)
        if family.unassigned and self._running < self.max_parallel and not self._run_queue:
            self._spread_more()
