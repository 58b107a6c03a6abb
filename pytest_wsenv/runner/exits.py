"""What the replaying plugin does when a child exits: normal end, crash, restart, give up.

A child that dies with a test started but not finished yields a failed report for that test in
the phase it died in ("member 'x' crashed while running '<id>' (signal 11, SIGSEGV)" and the
end of its output); the member's remaining tests run in a restarted child, up to
``max_restarts`` times per member, after which they are reported as errors "not run". A child
that dies before collecting fails its member as a whole; one that dies between tests or after
its last test yields an error report naming the member.
"""

from __future__ import annotations

import pytest

from pytest_wsenv.runner.members import Member, State
from pytest_wsenv.runner.parts import SessionPart
from pytest_wsenv.runner.pool import ChildPool
from pytest_wsenv.runner.process import ChildProcess, Exited
from pytest_wsenv.runner.reports import (
    describe_exit,
    member_error_report,
    output_tail,
    synthetic_unit,
)

__all__ = ["ExitHandling"]


class ExitHandling(SessionPart):
    """Mixin of :class:`~pytest_wsenv.runner.session.IsolatedRun` for child exits."""

    max_restarts: int
    _session: pytest.Session | None
    _pool: ChildPool

    def on_exit(self, m: Member, event: Exited) -> None:
        child = event.child
        output = output_tail(event.stdout, event.stderr)
        how = describe_exit(event.returncode)
        if m.state is State.COLLECTING:
            if m.restarting:
                m.restarting = False
                m.state = State.RUNNING
                self._crashed_while_running(m, child, how, output, collecting=True)
                return
            extra = f"\n{m.internal_error}" if m.internal_error else ""
            if m.hello is None and self._heal(m, f"its pytest exited ({how}) at start{output}"):
                return
            self._fail(
                m,
                f"member {m.name!r}: its pytest exited ({how}) before collecting its tests"
                f"{extra}{output}",
            )
            return
        if m.state is State.COLLECTED:
            if m.parked and not self._stopping:
                return  # it exited as told; a new child runs the member's tests
            if not m.exit_sent and not self._stopping:
                self._fail(m, f"member {m.name!r}: its pytest exited ({how}) while idle{output}")
            else:
                m.state = State.DONE
            return
        if m.state is State.RUNNING:
            if m.finished is not None and m.unit is None:
                self._finished_normally(m)
            else:
                child.kill_leftovers()
                self._crashed_while_running(m, child, how, output, collecting=False)

    def _heal(self, m: Member, reason: str) -> bool:
        """The member's pytest could not start: have its environment rebuilt once and
        prepare the member again (True), or not (False: the member fails)."""
        broken = m.request.broken
        if broken is None or m.healed or self._stopping:
            return False
        m.healed = True
        try:
            again = broken(reason)
        except Exception:  # the environment engine could not mark it: fail as before
            return False
        if again:
            self._pool.prepare_again(m)
        return again

    def _finished_normally(self, m: Member) -> None:
        finished = m.finished or {}
        if m.pending and not self._stopping and not m.exit_sent:
            reason = finished.get("shouldfail") or finished.get("shouldstop")
            if finished.get("exitstatus") == int(pytest.ExitCode.INTERRUPTED) and not m.stop_sent:
                self._interrupted = f"member {m.name!r} was interrupted"
                self._stop(self._interrupted)
            elif reason and self._session is not None:
                self._session.shouldstop = str(reason)
                self._stop(str(reason))
            else:
                for child_id in list(m.pending):
                    if self._is_stopping():
                        break
                    self._replay_failure(
                        m,
                        child_id,
                        "setup",
                        f"not run: member {m.name!r}: its "
                        f"{'extra worker' if m.primary else 'restarted pytest'} did not "
                        f"collect {child_id!r} (the member collects different tests each time)",
                    )
        m.state = State.DONE
        self._release_run_slot(m)

    def _crashed_while_running(
        self, m: Member, child: ChildProcess, how: str, output: str, *, collecting: bool
    ) -> None:
        unit = m.unit
        remaining = [i for i in m.pending if unit is None or i != unit.nodeid]
        restart = (
            bool(remaining)
            and not self._stopping
            and not m.out_of_time
            and m.restarts < self.max_restarts
        )
        notice = ""
        if remaining and not self._stopping:
            notice = (
                f"\n\nthe member's remaining {len(remaining)} test(s) continue in a new child "
                f"(restart {m.restarts + 1} of {self.max_restarts})"
                if restart
                else f"\n\nthe member's remaining {len(remaining)} test(s) are not run"
                if m.out_of_time
                else f"\n\nno restart left ({self.max_restarts} allowed): the member's "
                f"remaining {len(remaining)} test(s) are not run"
            )
        if not self._stopping:
            if unit is not None:
                when = (
                    "setup"
                    if "setup" not in unit.phases
                    else "call"
                    if "call" not in unit.phases
                    else "teardown"
                )
                nodeid = self._need_mapper(m).nodeid(unit.nodeid)
                text = (
                    m.timed_out
                    if m.timed_out is not None
                    else f"member {m.name!r} crashed while running {nodeid!r} ({how}){output}"
                )
                self._replay_failure(m, unit.nodeid, when, text + notice)
            elif collecting:
                text = (
                    f"member {m.name!r}: its restarted pytest exited ({how}) before collecting"
                    f"{output}{notice}"
                )
                self._hook().pytest_collectreport(report=member_error_report(m.nodeid, text))
            else:
                phase = "between tests" if remaining else "after its last test"
                text = (
                    m.timed_out
                    if m.timed_out is not None
                    else f"member {m.name!r}: its pytest exited ({how}) {phase}{output}"
                )
                self._hook().pytest_collectreport(
                    report=member_error_report(m.nodeid, text + notice)
                )
        m.unit = None
        if unit is not None:
            m.pending.pop(unit.nodeid, None)
        if restart and not self._stopping:
            m.restarts += 1
            m.restarting = True
            self._start_child(m)
            if m.state is State.COLLECTING:
                return
            reason = f"not run: member {m.name!r}: its pytest could not be restarted"
        elif m.out_of_time:
            reason = f"not run: member {m.name!r} ran out of time (--ws-member-timeout)"
        else:
            reason = (
                f"not run: member {m.name!r} crashed {m.restarts + 1} time(s) and no restart "
                f"is left ({self.max_restarts} allowed)"
            )
        for child_id in remaining:
            if self._is_stopping():
                break
            self._replay_failure(m, child_id, "setup", reason)
        if m.state is not State.FAILED:
            m.state = State.DONE
        self._release_run_slot(m)

    def _replay_failure(self, m: Member, child_id: str, when: str, text: str) -> None:
        """Replay a test the child did not complete as failed in phase ``when``."""
        item = m.items.get(child_id)
        unit = m.unit if m.unit is not None and m.unit.nodeid == child_id else None
        if unit is not None:
            location = unit.location
        elif item is not None:
            location = item.location
        else:
            location = (self._need_mapper(m).location_path(child_id.partition("::")[0]), None, "")
        nodeid = self._need_mapper(m).nodeid(child_id)
        done = unit.phases if unit is not None else set()
        reports = [
            *(unit.reports if unit is not None else []),
            *synthetic_unit(nodeid, location, when, text, done),
        ]
        for report in reports:
            setattr(report, "wsenv_member", m.key)  # noqa: B010
            if unit is None or report not in unit.reports:
                self._label(m, report)
        self._replay_unit(m, child_id, location, reports, unit)
