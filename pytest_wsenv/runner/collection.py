"""How the replaying plugin brings its children's collections into the parent's session.

Each member's child collects in its own environment and sends what it collected
(``collected``); once every member has collected, or failed, :meth:`CollectionReplay.
_replay_collection` replays them in request order: failed or skipped collect reports and
collection warnings, a stand-in item per selected test (``standins.py``), the child's own
deselection, and a failed collect report for a member that failed as a whole. ``-x``/
``--maxfail`` stop the replay at the same collection error as pytest stops collecting. At
most ``max_idle`` collected children wait alive for their turn; a member collected beyond that
is parked (its child exits, and a new one collects again at its turn).

Streaming (``--ws-stream``, decided at session start by :meth:`CollectionReplay.
_needs_whole_collection`): the session's collection ends once one member is resolved; each
later member is replayed when it has collected (:meth:`CollectionReplay._replay_late`) and
queued to run at once. Its passing collect report is not replayed (the terminal would rewrite
its current line with "collecting ..."); the progress counts each member still to come as the
tests recorded for it by earlier runs, or one; a collection error interrupts the session as
pytest's would. Each member keeps its
collect slot until it is done, so no collected child waits alive.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Iterator, Mapping
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
    #: --ws-stream in effect: members run as they collect (see ``session.py``)
    _streaming: bool
    _builder: StandInBuilder | None
    _late_errors: int  # collection errors of members replayed while tests run
    _session: pytest.Session | None
    _run_queue: deque[Member]
    _whole_collection: str | None  # why the caller needs every member collected first
    _stream_blocked: str | None  # why --ws-stream waits for every member, if it does
    #: streaming: tests each member had in earlier runs, for the progress (run key -> count)
    _expected: dict[str, int] | None

    def _needs_whole_collection(self, config: pytest.Config) -> str | None:
        """Why every member must be collected before tests run, or None."""
        if config.option.collectonly:
            return "--collect-only lists every test"
        for dest, flag in (("lf", "--lf"), ("failedfirst", "--ff"), ("newfirst", "--nf")):
            if config.getoption(dest, False):
                return f"{flag} selects and orders the tests of every member"
        if self._whole_collection:
            return self._whole_collection
        for impl in config.pluginmanager.hook.pytest_collection_modifyitems.get_hookimpls():
            if not (impl.wrapper or impl.hookwrapper) or impl.plugin is self:
                continue
            if impl.plugin_name in ("lfplugin", "nfplugin"):  # idle without --lf/--ff/--nf
                continue
            if getattr(impl.plugin, "wsenv_sees_members_alone", False):
                continue
            return (
                f"the plugin {impl.plugin_name!r} wraps pytest_collection_modifyitems, so it "
                f"may select or order across members"
            )
        return None

    def pytest_report_collectionfinish(self, config: pytest.Config) -> list[str]:
        if config.option.verbose < 0:
            return []
        if self._stream_blocked is not None:
            return [f"wsenv: --ws-stream waits for every member to collect: {self._stream_blocked}"]
        late = sum(m.state in UNRESOLVED for m in self._members)
        if self._streaming and late:
            return [
                f"wsenv: {late} more member{'s are' if late != 1 else ' is'} collected while "
                f"tests run (--ws-stream): their tests are not in the count above"
            ]
        return []

    def _on_collected(self, m: Member, data: dict[str, Any]) -> None:
        self._need_mapper(m)
        if not self._streaming:  # streaming: a member holds its slot until it is done
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
        if self._streaming:
            if self._collection_replayed:
                self._replay_late(m)
            return
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
        if self._streaming:  # the others are replayed as they collect (_replay_late)
            self._pool.pump(lambda: any(m.state not in UNRESOLVED for m in self._members))
        else:
            self._pool.pump(lambda: all(m.state not in UNRESOLVED for m in self._members))
        for m in self._members:
            if _failed(session):  # -x/--maxfail: pytest collects nothing after the failure
                break
            if m.state not in UNRESOLVED:
                self._replay_member(session, m, items)
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

    def _replay_member(
        self, session: pytest.Session, m: Member, items: list[pytest.Item], *, late: bool = False
    ) -> int:
        """Replay ``m``'s collection and add its stand-ins to ``items``; the number of its
        collection errors. ``late``: the session's collection was reported already, so the
        member's collection counts only in the final counts, not on the "collecting" line."""
        hook = self._hook()
        errors = 0
        m.collection_replayed = True
        for kind, payload in m.collect_events:
            if _failed(session):
                break
            if kind == "report":
                errors += bool(payload.failed)
                with _no_collecting_line(self.config, late):
                    hook.pytest_collectreport(report=payload)
            else:
                hook.pytest_warning_recorded.call_historic(kwargs=payload)
        m.collect_events.clear()
        if _failed(session):
            return errors
        if m.state is State.FAILED:
            assert m.error is not None
            if not late:  # a late member's failure was reported by _fail
                hook.pytest_collectreport(report=member_error_report(m.nodeid, m.error))
                self._member_errors += 1
            return errors
        if m.collected is None or m.spec is None or m.mapper is None:
            return errors
        if self._builder is None:
            self._builder = StandInBuilder(session)
        member_node, selected, deselected = self._builder.build(
            key=m.key,
            mapper=m.mapper,
            rootdir=m.spec.rootdir,
            items=m.collected.get("items") or [],
            collectors=m.collected.get("collectors") or [],
            deselected=[str(i) for i in m.collected.get("deselected") or []],
        )
        if not late:  # a late one would only rewrite the terminal's current line
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
        return errors

    def _replay_late(self, m: Member) -> None:
        """Streaming: ``m`` has collected (or failed) while tests run; add its tests to the
        session and queue it to run."""
        session = self._session
        assert session is not None
        errors = self._replay_member(session, m, session.items, late=True)
        self._count_placeholders(session)
        if errors and not session.config.option.continue_on_collection_errors:
            # as pytest would: collection errors interrupt the session
            self._late_errors += errors
            count = self._late_errors
            self._interrupted = f"{count} error{'s' if count != 1 else ''} during collection"
            self._stop(self._interrupted)
        self._check_stop()
        if self._stopping or m.state is not State.COLLECTED:
            self._send_exit(m)
            return
        m.pending.update(dict.fromkeys(m.items))
        if not m.pending:
            self._send_exit(m)
            return
        self._run_queue.append(m)
        self._schedule_runs()

    def _count_placeholders(self, session: pytest.Session) -> None:
        """Streaming: the terminal's progress counts each member still collecting as the
        tests it had in earlier runs (recorded durations), or one, so that it steps back
        as little as it can and reaches 100% only at the end."""
        if self._expected is None:
            self._expected = _recorded_counts(self._members, self._recorded_durations())
        unresolved = sum(
            self._expected.get(m.key, 1) for m in self._members if m.state in UNRESOLVED
        )
        session.testscollected = len(session.items) + unresolved

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


def _recorded_counts(members: list[Member], durations: Mapping[str, float]) -> dict[str, int]:
    """``{run key: tests recorded for it}``, each recorded id counted for the member of the
    deepest directory holding it (a member at the workspace root is left out: its ids have
    no directory of their own)."""
    keys = {
        (m.request.nodeid_prefix.strip("/"), m.request.nodeid_suffix): m.key
        for m in members
        if m.request.nodeid_prefix.strip("/") not in ("", ".")
    }
    counts: dict[str, int] = {}
    for nodeid in durations:
        path = nodeid.partition("::")[0]
        tail = nodeid.rpartition("@")[2]
        suffixes = (f"@{tail}", "") if "@" in nodeid else ("",)
        directory = path
        while "/" in directory:
            directory = directory.rpartition("/")[0]
            key = next((keys[directory, s] for s in suffixes if (directory, s) in keys), None)
            if key is not None:
                counts[key] = counts.get(key, 0) + 1
                break
    return counts


@contextlib.contextmanager
def _no_collecting_line(config: pytest.Config, late: bool) -> Iterator[None]:
    """While tests run, a collect report must not rewrite the terminal's current line with
    "collecting ..." (the terminal reporter does that on a terminal)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if not late or reporter is None:
        yield
        return
    reporter.report_collect = lambda final=False: None
    try:
        yield
    finally:
        del reporter.report_collect


def _failed(session: pytest.Session) -> bool:
    """Whether ``-x``/``--maxfail`` stopped the session (the replayed reports set it)."""
    return bool(session.shouldfail)
