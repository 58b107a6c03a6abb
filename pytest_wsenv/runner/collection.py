"""How the replaying plugin brings its children's collections into the parent's session.

Each member's child collects in its own environment and sends what it collected
(``collected``); once every member has collected, or failed, :meth:`CollectionReplay.
_replay_collection` replays them in request order: failed or skipped collect reports and
collection warnings, a stand-in item per selected test (``standins.py``), the child's own
deselection, and a failed collect report for a member that failed as a whole. ``-x``/
``--maxfail`` stop the replay at the same collection error as pytest stops collecting. At
most ``max_idle`` collected children wait alive for their turn; a member collected beyond that
is parked (its child exits, and a new one collects again at its turn).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from pytest_wsenv.runner.members import UNRESOLVED, Member, State
from pytest_wsenv.runner.parts import SessionPart
from pytest_wsenv.runner.pool import ChildPool
from pytest_wsenv.runner.reports import member_error_report
from pytest_wsenv.runner.standins import StandInBuilder

__all__ = ["CollectionReplay"]


class CollectionReplay(SessionPart):
    """Mixin of :class:`~pytest_wsenv.runner.session.IsolatedRun` for collections."""

    max_idle: int
    _members: list[Member]
    _pool: ChildPool
    _collection_replayed: bool
    _member_errors: int

    def _on_collected(self, m: Member, data: dict[str, Any]) -> None:
        self._need_mapper(m)
        self._pool.release_collect_slot(m)
        assert m.child is not None
        if m.restarting:
            m.restarting = False
            m.state = State.RUNNING
            if self._stopping:
                m.child.send({"cmd": "exit"})
                m.exit_sent = True
            else:
                self._send_run(m)
            return
        if m.child_began is not None:
            m.collect_seconds = time.monotonic() - m.child_began
        m.groups = {str(k): str(v) for k, v in (data.get("groups") or {}).items()}
        m.collected = data
        m.state = State.COLLECTED
        if self.config.option.collectonly:
            m.child.send({"cmd": "exit"})
            m.exit_sent = True
        elif self._idle() > self.max_idle:
            m.child.send({"cmd": "exit"})
            m.exit_sent = m.parked = True

    def _idle(self) -> int:
        """Collected children alive and waiting for their turn to run."""
        return sum(
            m.state is State.COLLECTED and m.child is not None and not m.exit_sent
            for m in self._members
        )

    def _replay_collection(self, session: pytest.Session, items: list[pytest.Item]) -> None:
        if self._collection_replayed:
            return
        if not self._pool.started:
            self._pool.launch_more()
        self._pool.pump(lambda: all(m.state not in UNRESOLVED for m in self._members))
        hook = self._hook()
        builder = StandInBuilder(session)
        for m in self._members:
            if _failed(session):  # -x/--maxfail: pytest collects nothing after the failure
                break
            m.collection_replayed = True
            for kind, payload in m.collect_events:
                if _failed(session):
                    break
                if kind == "report":
                    hook.pytest_collectreport(report=payload)
                else:
                    hook.pytest_warning_recorded.call_historic(kwargs=payload)
            m.collect_events.clear()
            if _failed(session):
                break
            if m.state is State.FAILED:
                assert m.error is not None
                hook.pytest_collectreport(report=member_error_report(m.nodeid, m.error))
                self._member_errors += 1
                continue
            if m.collected is None or m.spec is None or m.mapper is None:
                continue
            member_node, selected, deselected = builder.build(
                key=m.key,
                mapper=m.mapper,
                rootdir=m.spec.rootdir,
                items=m.collected.get("items") or [],
                collectors=m.collected.get("collectors") or [],
                deselected=[str(i) for i in m.collected.get("deselected") or []],
            )
            hook.pytest_collectreport(
                report=pytest.CollectReport(
                    member_node.nodeid, "passed", None, [*selected, *deselected]
                )
            )
            if deselected:
                hook.pytest_deselected(items=deselected)
            items.extend(selected)
            m.items = {item.child_nodeid: item for item in selected}
            m.collected = None
        self._collection_replayed = True
        if (
            session.shouldfail
            or session.config.option.collectonly
            or (
                self._collection_errors(session)
                and not session.config.option.continue_on_collection_errors
            )
        ):
            for m in self._members:
                self._send_exit(m)
        if session.shouldfail:
            raise session.Failed(session.shouldfail)

    def _collection_errors(self, session: pytest.Session) -> int:
        """Collection errors that interrupt the session, as in-process ones would."""
        return max(session.testsfailed - self._member_errors, 0)

    def _send_exit(self, m: Member) -> None:
        if m.state is State.COLLECTED and m.parked:
            m.parked = False
            if m.child is None or not m.child.alive:
                m.state = State.DONE
        elif m.state is State.COLLECTED and m.child is not None and not m.exit_sent:
            m.child.send({"cmd": "exit"})
            m.exit_sent = True


def _failed(session: pytest.Session) -> bool:
    """Whether ``-x``/``--maxfail`` stopped the session (the replayed reports set it)."""
    return bool(session.shouldfail)
