"""IsolatedRun: run members' tests in child pytests and replay them into this session.

Register one :class:`IsolatedRun` in the parent's plugin manager (before the session starts);
it coexists with ordinary in-process collection of whatever the parent collects itself.

Flow
----
1. ``pytest_sessionstart``: for up to ``collect_parallel`` requests at a time, a worker thread
   calls ``prepare()`` (may build an env) and the main thread starts the child, which sends
   ``hello`` and collects. In-process collection runs meanwhile.
2. ``pytest_collection_modifyitems`` (the innermost wrapper: after every plain implementation,
   e.g. ``-k``/``-m`` deselection of in-process items, and before the other wrappers finish):
   wait until every child collected (or failed), then, member by member in request order,
   replay its failed/skipped collect reports and collection warnings, and add one stand-in
   item per test the child selected to ``session.items`` (so ``collected N items``, progress,
   ``--collect-only`` and exit code 5 are right); the child's own deselection (``-k``/``-m``
   forwarded to it) is reported through ``pytest_deselected``; a member that failed as a whole
   (``prepare()`` error, child died before collecting) becomes a failed collect report named
   after the member. Such a member error counts as an error (exit code 1) but, unlike a test
   module that fails to import (which interrupts the session, as in-process), it does not stop
   the other members from running. The stand-ins carry plain parent-form node ids, so the
   wrappers that finish after this one see them: ``--lf``/``--ff``/``--nf`` (cacheprovider)
   select and order them exactly as in-process items, with no mapping needed. At most
   ``max_idle`` collected children wait alive for their turn: a member collected beyond that
   is *parked* (its child is told to exit; its collection is kept for the replay).
   With ``--ws-stream`` the wait ends when one member is resolved; the others are replayed
   and run as they collect (see ``collection.py``).
3. ``pytest_runtestloop`` (replaces the default loop): with ``--collect-only`` or collection
   errors it behaves like pytest's; otherwise each member's child is sent ``run`` with the ids
   of its stand-ins left in ``session.items``, in that order (children with none are told to
   exit), up to ``max_parallel`` at a time, while in-process items run in between. A parked
   member's turn starts a new child, which collects again and then runs the same ids. Each child
   test is replayed as one unit when its ``logfinish`` arrives: ``logstart`` -> ``logreport``
   (setup/call/teardown) -> ``logfinish``, so output stays well formed with parallel children.
   Warnings go to ``pytest_warning_recorded``. Failure counting, ``-x``/``--maxfail`` and exit
   codes are pytest's own (``Session`` counts the replayed reports). When
   ``session.shouldfail`` or ``shouldstop`` becomes set, running children are told to stop
   after their current test, idle ones to exit, and nothing else is replayed: tests that
   finish after the stop are discarded, as if they had never started, so the counts are those
   of an in-process run in the same order.
   With ``max_parallel`` > 1, a member with many tests gets them in batches and free slots
   go to extra workers of it (see ``spread.py``).
4. A child that dies with a test started but not finished yields a failed report for that test
   ("member 'x' crashed while running '<id>' (signal 11, SIGSEGV)" plus the tail of its output,
   in the phase it died in); its remaining tests run in a restarted child (up to
   ``max_restarts`` per member), after which they are reported as errors "not run". A
   restarted child collects again; its collect reports and start-up/collection warnings
   were replayed from the first child and are dropped. A child that dies before collecting
   yields a failed collect report for its member.
5. Ctrl-C (or any error) in the parent: every child's process group gets SIGINT (the child
   tears down like an interrupted pytest), SIGKILL after ``grace`` seconds (see ``pool.py``);
   the exception then continues through pytest's normal path ("KeyboardInterrupt", exit
   code 2). A child whose own session was interrupted (exit status 2 without being told to
   stop) interrupts the parent's too; a child that set ``shouldstop`` itself (``--sw``) stops
   the parent's session with its reason.

The main thread does all hook calls; reader threads only decode and enqueue. Nothing polls:
the main thread blocks on one queue (``ChildPool.pump``).
"""

from __future__ import annotations

import errno
import os
import shutil
import time
from collections import deque
from collections.abc import Callable, Generator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_wsenv.errors import ChildProtocolError
from pytest_wsenv.runner.collection import CollectionReplay
from pytest_wsenv.runner.exits import ExitHandling
from pytest_wsenv.runner.members import (
    ChildSummary,
    Member,
    State,
    Unit,
    classify,
    summarize,
)
from pytest_wsenv.runner.messages import MessageHandling
from pytest_wsenv.runner.output import OutputHandling, OutputRelay, output_mode
from pytest_wsenv.runner.pool import DEFAULT_GRACE, ChildPool, idle_within_descriptor_limit
from pytest_wsenv.runner.prestart import remember
from pytest_wsenv.runner.reports import (
    member_error_report,
)
from pytest_wsenv.runner.runtime import Launched
from pytest_wsenv.runner.signals import SessionSignals
from pytest_wsenv.runner.spec import ChildRequest, ChildSpec
from pytest_wsenv.runner.spread import Spreading
from pytest_wsenv.runner.standins import IsolatedItem, StandInBuilder
from pytest_wsenv.runner.timeouts import Limits, TimeLimits

__all__ = ["DEFAULT_MAX_IDLE", "ChildSummary", "IsolatedRun"]

#: Collected children that may wait for their turn at once (each holds a process, about
#: 12 MB when forked and 30 MB when not, and four descriptors of the parent's).
DEFAULT_MAX_IDLE = 64


class IsolatedRun(
    OutputHandling, TimeLimits, CollectionReplay, MessageHandling, ExitHandling, Spreading
):
    """pytest plugin running ``requests`` in child pytests, replayed into this session.

    :param config: The parent's config.
    :param requests: One request per child, in the order members are shown; keys unique.
    :param max_parallel: How many children run tests at once.
    :param collect_parallel: How many children prepare/collect at once (default: the larger of
        ``max_parallel`` and the CPU count). Collected children wait, idle, for their turn.
    :param max_restarts: How often one member's child is restarted after crashes.
    :param grace: Seconds a child gets to exit after SIGINT before SIGKILL.
    :param fork: Fork children from a warm interpreter where their spec allows it
        (``ChildSpec.runtime``); false starts every child as a new interpreter.
    :param max_idle: How many collected children may wait for their turn to run; a member
        collected beyond that is parked (its child exits, and a new one collects again when
        its turn comes), which bounds processes, memory and descriptors in big workspaces.
    :param limits: Time limits per test and per member (see ``timeouts.py``).
    :param dist: pytest-xdist's ``--dist`` mode: how a member's tests may be shared between
        several children of it when ``max_parallel`` > 1 (see ``spread.py``).
    :param stream: Run each member as soon as it has collected (``--ws-stream``), unless
        something needs every member collected first (``whole_collection``, ``--collect-only``,
        ``--lf``/``--ff``/``--nf``, or another plugin wrapping ``pytest_collection_modifyitems``).
    :param whole_collection: Why the caller needs every member collected before tests run.
    :param durations: Reads the seconds per test (parent node ids) of earlier runs; called
        once, when the first member's tests are about to run.
    :param early_forks: Fork servers started before the session was planned
        (``prestart.py``); used where a child's runtime has their key, closed otherwise.
    """

    def __init__(
        self,
        config: pytest.Config,
        requests: Sequence[ChildRequest],
        *,
        max_parallel: int = 1,
        collect_parallel: int | None = None,
        max_restarts: int = 3,
        grace: float = DEFAULT_GRACE,
        fork: bool = True,
        max_idle: int = DEFAULT_MAX_IDLE,
        limits: Limits | None = None,
        dist: str = "load",
        durations: Callable[[], Mapping[str, float]] | None = None,
        stream: bool = False,
        whole_collection: str | None = None,
        early_forks: Sequence[Launched] = (),
    ) -> None:
        keys = [r.key for r in requests]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ValueError(f"duplicate child keys: {', '.join(duplicates)}")
        if max_parallel < 1:
            raise ValueError("max_parallel must be at least 1")
        if max_idle < 1:
            raise ValueError("max_idle must be at least 1")
        self.max_idle = min(max_idle, idle_within_descriptor_limit(max_parallel, DEFAULT_MAX_IDLE))
        self.config = config
        self.limits = limits or Limits()
        self._signals = SessionSignals()
        self._stacks_dir: str | None = None
        self.max_parallel = max_parallel
        self.collect_parallel = collect_parallel or max(max_parallel, os.cpu_count() or 1)
        self.max_restarts = max_restarts
        self.grace = grace
        self.dist = dist
        self._read_durations = durations
        self.stream = stream
        self._whole_collection = whole_collection
        self._streaming = False  # decided at session start
        self._stream_blocked: str | None = None  # why --ws-stream waits for every member
        self._builder: StandInBuilder | None = None
        self._late_errors = 0
        self._expected: dict[str, int] | None = None
        #: extra workers of spread members (see ``spread.py``)
        self._helpers: list[Member] = []
        self._members = [Member(r) for r in requests]
        self._output = output_mode(config, max_parallel)
        self._live = self._output == "terminal" or (self._output == "relay" and max_parallel == 1)
        self._ack = self._live
        self._relay = (
            OutputRelay(config, prefixed=max_parallel > 1) if self._output == "relay" else None
        )
        self._several_members = len({m.name for m in self._members}) > 1
        self._path_widened: set[str] = set()
        self._several_pythons = any(r.nodeid_suffix for r in requests)
        self._pool = ChildPool(
            self._members,
            self,
            collect_parallel=self.collect_parallel,
            grace=grace,
            fork=fork,
            early_forks=early_forks,
            output=self._output_options,
        )
        self._running = 0
        self._run_queue: deque[Member] = deque()
        self._collection_replayed = False
        #: Members reported as failed as a whole during collection: errors, but unlike a
        #: test module that fails to import they do not stop the other members.
        self._member_errors = 0
        self._stopping: str | None = None
        self._interrupted: str | None = None
        self._exit: tuple[str, int | None] | None = None  # a child's pytest.exit()
        self._session: pytest.Session | None = None
        self._parent_root = Path(os.path.realpath(config.rootpath))
        self._parent_cwd = config.invocation_params.dir

    # --- public ------------------------------------------------------------------------------

    def summaries(self) -> list[ChildSummary]:
        """One record per request, in request order (complete after the run loop)."""
        now = time.monotonic()
        return [summarize(m, now) for m in self._members]

    def _every_child(self) -> list[Member]:
        """The members and the extra workers of spread members."""
        return [*self._members, *self._helpers]

    # --- hooks -------------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self._session = session
        self._signals.install()
        if self._output == "terminal":
            self._signals.forward_interrupts(self._interrupt_terminal_child)
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and self.max_parallel > 1:
            # members' tests interleave: one progress line, as pytest-xdist shows it
            reporter.showfspath = False
        if self.stream:
            self._stream_blocked = self._needs_whole_collection(session.config)
            self._streaming = self._stream_blocked is None and len(self._members) > 1
        self._pool.launch_more()

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> Generator[None, object, object]:
        result = yield
        self._session = session
        self._guarded(lambda: self._replay_collection(session, items))
        return result

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool:
        errors = self._collection_errors(session)
        if errors and not session.config.option.continue_on_collection_errors:
            raise session.Interrupted(
                f"{errors} error{'s' if errors != 1 else ''} during collection"
            )
        if session.config.option.collectonly:
            return True
        self._guarded(lambda: self._run(session))
        if self._exit is not None:
            pytest.exit(*self._exit)
        if self._interrupted:
            raise session.Interrupted(self._interrupted)
        if session.shouldfail:
            raise session.Failed(session.shouldfail)
        if session.shouldstop:
            raise session.Interrupted(session.shouldstop)
        return True

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self) -> None:
        self._pool.shutdown()
        if self._pool.forks is not None:
            remember(self.config, [server.runtime for server in self._pool.forks.served()])

    def pytest_unconfigure(self) -> None:
        self._signals.restore()
        self._pool.abort()
        if self._stacks_dir is not None:
            shutil.rmtree(self._stacks_dir, ignore_errors=True)

    # --- orchestration -----------------------------------------------------------------------

    def _guarded(self, action: Callable[[], None]) -> None:
        try:
            action()
        except ChildProtocolError as exc:
            self._pool.abort()
            raise pytest.UsageError(str(exc)) from exc
        except pytest.Session.Failed:
            raise  # -x during collection: the children were told to exit
        except BaseException:
            self._pool.abort()
            raise

    def on_prepared(self, m: Member, spec: ChildSpec | None, error: str | None) -> None:
        if spec is None:
            self._fail(m, f"member {m.name!r}: could not prepare its environment: {error}")
            return
        if self._stopping:
            m.state = State.DONE
            self._pool.release_collect_slot(m)
            return
        m.spec = spec
        self._start_child(m)

    def _start_child(self, m: Member) -> None:
        assert m.spec is not None
        m.child_began = time.monotonic()
        try:
            self._pool.start_child(m)
        except OSError as exc:
            hint = ""
            if exc.errno in (errno.EMFILE, errno.ENFILE):
                hint = (
                    " (each live child holds 5 of this process's descriptors: lower -n or "
                    "raise `ulimit -n`)"
                    if self._streaming
                    else f" (each live child holds 5 of this process's descriptors: run with "
                    f"--ws-stream, which keeps no collected child waiting, or lower the ini "
                    f"setting wsenv_max_idle, now {self.max_idle}, or raise `ulimit -n`)"
                )
            self._fail(m, f"member {m.name!r}: cannot start {m.spec.python}: {exc}{hint}")

    def _release_run_slot(self, m: Member) -> None:
        if m.holds_run_slot:
            m.holds_run_slot = False
            self._running -= 1
            self._family_ended(m)
            self._schedule_runs()

    def _fail(self, m: Member, text: str) -> None:
        """The member failed as a whole (environment, start-up, collection)."""
        m.state = State.FAILED
        m.error = text
        if self._collection_replayed:
            self._hook().pytest_collectreport(report=member_error_report(m.nodeid, text))
            if self._streaming and self._session is not None:
                self._count_placeholders(self._session)  # it will add no test
        self._pool.release_collect_slot(m)
        self._release_run_slot(m)

    def _hook(self) -> Any:
        return self.config.hook

    # --- running -----------------------------------------------------------------------------

    def _run(self, session: pytest.Session) -> None:
        by_key = {m.key: m for m in self._members}
        local: list[pytest.Item] = []
        for item in session.items:
            if isinstance(item, IsolatedItem):
                owner = by_key.get(item.key)
                if owner is not None and item.child_nodeid in owner.items:
                    owner.pending[item.child_nodeid] = None
            else:
                local.append(item)
        for m in self._members:
            if m.pending and m.state is State.COLLECTED:
                self._run_queue.append(m)
            else:
                self._send_exit(m)
        if self._streaming:
            self._count_placeholders(session)
        self._check_stop()
        self._schedule_runs()
        for i, item in enumerate(local):
            if self._stopping:
                break
            nextitem = local[i + 1] if i + 1 < len(local) else None
            item.config.hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
            self._check_stop()
            self._pool.drain_nowait()
        self._pool.pump(self._all_done, timer=self._next_deadline, on_time=self._check_deadlines)

    def _all_done(self) -> bool:
        ended = (State.DONE, State.FAILED)
        return self._pool.alive == 0 and all(
            m.state in ended or (m.state is State.PENDING and self._pool.closed)
            for m in self._every_child()
        )

    def _schedule_runs(self) -> None:
        while self._run_queue and self._running < self.max_parallel and not self._stopping:
            m = self._run_queue.popleft()
            if m.child is None or m.state is not State.COLLECTED:
                continue
            m.holds_run_slot = True
            self._running += 1
            if m.parked:  # a new child collects, then runs the tests (see _on_collected)
                m.parked = False
                m.restarting = True
                self._start_child(m)
                continue
            m.state = State.RUNNING
            m.run_began = time.monotonic()
            self._begin_run(m)
        self._spread_more()

    def _is_stopping(self) -> bool:
        return self._stopping is not None

    def _check_stop(self) -> None:
        session = self._session
        if session is not None and (session.shouldfail or session.shouldstop):
            self._stop(str(session.shouldfail or session.shouldstop))

    def _stop(self, reason: str) -> None:
        if self._stopping:
            return
        self._stopping = reason
        self._run_queue.clear()
        for m in self._every_child():
            child = m.child
            if child is None or not child.alive:
                if m.state is State.PENDING or (m.state is State.COLLECTED and m.parked):
                    m.state = State.DONE
                continue
            if m.state is State.RUNNING:
                child.send({"cmd": "stop"})
                m.stop_sent = True
            elif m.state is State.COLLECTED:
                child.send({"cmd": "exit"})
                m.exit_sent = True
            else:
                child.close_commands()
        self._pool.close()

    def _replay_unit(
        self,
        m: Member,
        child_id: str,
        location: tuple[str, int | None, str],
        reports: Sequence[pytest.TestReport],
        unit: Unit | None = None,
    ) -> None:
        """Replay one test: its start, ``reports`` and finish, less what ``unit`` (the
        child's events for it, when replayed live) has replayed already."""
        hook = self._hook()
        nodeid = self._need_mapper(m).nodeid(child_id)
        done = unit.replayed if unit is not None and unit.started else 0
        if not done and not (unit is not None and unit.started):
            hook.pytest_runtest_logstart(nodeid=nodeid, location=location)
        for report in reports[done:]:
            hook.pytest_runtest_logreport(report=report)
        hook.pytest_runtest_logfinish(nodeid=nodeid, location=location)
        m.pending.pop(child_id, None)
        m.replayed.add(child_id)
        m.tests_run += 1
        m.outcomes[classify(reports)] += 1
        self._check_stop()
        self._note_done(m, reports)
