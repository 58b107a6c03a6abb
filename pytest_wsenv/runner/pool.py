"""The children of a run as processes: prepare, start, wait on their events, stop them.

:class:`ChildPool` owns the event queue. Worker threads run ``prepare()`` (one per member, at
most ``collect_parallel`` members preparing or collecting at once) and reader threads decode
child output; both only put events on the queue. The main thread takes them off in
:meth:`ChildPool.pump` (a blocking ``get``: no polling) and hands them to a :class:`Listener`,
the replaying plugin, which makes every hook call.

Stopping: :meth:`ChildPool.abort` sends SIGINT to every live child's process group (each
child runs in its own session), so a child tears down like an interrupted pytest, then SIGKILL
after ``grace`` seconds (at once on a second Ctrl-C), and finally SIGKILL to the process groups
of the children it stopped, so nothing they started survives.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import signal
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from pytest_wsenv.errors import EnvBuildError, WsenvError
from pytest_wsenv.runner.forkserver import ForkServers
from pytest_wsenv.runner.members import Member, State
from pytest_wsenv.runner.process import (
    ChildProcess,
    Exited,
    Garbage,
    Messages,
    Output,
    OutputOptions,
)
from pytest_wsenv.runner.protocol import protocol_error
from pytest_wsenv.runner.runtime import Launched
from pytest_wsenv.runner.spec import ChildSpec

__all__ = ["DEFAULT_GRACE", "ChildPool", "Listener", "idle_within_descriptor_limit"]

#: Seconds a child gets to exit after SIGINT (or after ``exit``) before it is killed.
DEFAULT_GRACE = 3.0


@dataclasses.dataclass(frozen=True, slots=True)
class _Prepared:
    member: Member
    spec: ChildSpec | None
    error: str | None


class Listener(Protocol):
    def on_prepared(self, m: Member, spec: ChildSpec | None, error: str | None) -> None: ...

    def on_message(self, m: Member, data: dict[str, Any]) -> None: ...

    def on_exit(self, m: Member, event: Exited) -> None: ...

    def on_output(self, m: Member, stream: int, data: bytes) -> None: ...


class ChildPool:
    def __init__(
        self,
        members: list[Member],
        listener: Listener,
        *,
        collect_parallel: int,
        grace: float,
        fork: bool = True,
        early_forks: Sequence[Launched] = (),
        output: Callable[[], OutputOptions] = OutputOptions,
    ) -> None:
        self.members = members
        #: how each child started writes its output
        self.output = output
        #: warm interpreters to fork children from (see ``forkserver.py``)
        self.forks = ForkServers(early_forks) if fork else None
        self.listener = listener
        self.collect_parallel = collect_parallel
        self.grace = grace
        self.events: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.started = False
        self.closed = False
        self.aborted = False
        self._next = 0
        self._collecting = 0
        self._alive = 0
        self._preparing = 0
        self._children: list[ChildProcess] = []

    # --- starting ----------------------------------------------------------------------------

    def launch_more(self) -> None:
        """Start preparing members while collect slots are free."""
        self.started = True
        while self._collecting < self.collect_parallel and self._next < len(self.members):
            m = self.members[self._next]
            self._next += 1
            if self.closed or self.aborted:
                m.state = State.DONE
                continue
            m.state = State.PREPARING
            m.holds_collect_slot = True
            m.started = time.monotonic()
            self._collecting += 1
            self._preparing += 1
            threading.Thread(
                target=self._prepare, args=(m,), name=f"wsenv-prepare-{m.key}", daemon=True
            ).start()

    def prepare_again(self, m: Member) -> None:
        """Prepare ``m`` once more (its environment is being rebuilt); it keeps the collect
        slot it holds."""
        m.reset_child(None)
        m.state = State.PREPARING
        self._preparing += 1
        threading.Thread(
            target=self._prepare, args=(m,), name=f"wsenv-prepare-{m.key}", daemon=True
        ).start()

    def close(self) -> None:
        """Start nothing new: members not launched yet are done."""
        self.closed = True
        for m in self.members[self._next :]:
            m.state = State.DONE
        self._next = len(self.members)

    def _prepare(self, m: Member) -> None:
        """Worker thread: build the spec; never raises."""
        try:
            spec = m.request.prepare()
        except EnvBuildError as exc:
            tail = exc.log_tail.rstrip()
            self.events.put(_Prepared(m, None, str(exc) + (f"\n{tail}" if tail else "")))
        except WsenvError as exc:
            self.events.put(_Prepared(m, None, str(exc)))
        except BaseException as exc:  # a bug in prepare(): reported as the member's failure
            text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            self.events.put(_Prepared(m, None, text.rstrip()))
        else:
            if self.forks is not None and spec.runtime is not None:
                self.forks.warm(spec.runtime, spec.env)  # the child is forked if it can be
            self.events.put(_Prepared(m, spec, None))

    def start_child(self, m: Member) -> None:
        """Start a child for ``m.spec`` (first start or restart); OSError if it cannot."""
        assert m.spec is not None
        m.reset_child(None)
        output = self.output()
        m.stacks = output.stacks
        m.timed_out = None
        try:
            child = ChildProcess(m.spec, self.events, m, self.forks, output)
        finally:
            if output.terminal is not None:
                os.close(output.terminal)
        m.reset_child(child)
        m.state = State.COLLECTING
        self._children.append(child)
        self._alive += 1

    def release_collect_slot(self, m: Member) -> None:
        if m.holds_collect_slot:
            m.holds_collect_slot = False
            self._collecting -= 1
            self.launch_more()

    # --- events ------------------------------------------------------------------------------

    @property
    def alive(self) -> int:
        return self._alive

    def pump(
        self,
        done: Callable[[], bool],
        *,
        timer: Callable[[], float | None] | None = None,
        on_time: Callable[[], None] | None = None,
    ) -> None:
        """Handle events until ``done()``; blocks on the queue in between, at most until the
        next deadline that ``timer()`` names (seconds from now, or None), and calls
        ``on_time()`` whenever it waited without an event."""
        while not done():
            if self._alive == 0 and self._preparing == 0:
                states = ", ".join(f"{m.key}={m.state.value}" for m in self.members)
                raise RuntimeError(f"pytest-wsenv runner is waiting for nothing ({states})")
            wait = timer() if timer is not None else None
            timeout = _WAKE_EVERY if wait is None else min(max(wait, 0.0), _WAKE_EVERY)
            try:
                event = self.events.get(timeout=timeout)
            except queue.Empty:
                if on_time is not None:
                    on_time()
                continue
            self._handle(event)

    def drain_nowait(self) -> None:
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                return
            self._handle(event)

    def _handle(self, event: Any) -> None:
        if isinstance(event, Messages):
            m = event.child.owner
            assert isinstance(m, Member)
            for data in event.items:
                if m.child is not event.child or self.aborted:
                    break  # the child was replaced or the run aborted meanwhile
                self.listener.on_message(m, data)
        elif isinstance(event, Exited):
            m = self._note_exit(event)
            if m is not None and m.child is event.child and not self.aborted:
                self.listener.on_exit(m, event)
                if m.state in (State.DONE, State.FAILED):  # held while it ran (streaming)
                    self.release_collect_slot(m)
        elif isinstance(event, Output):
            m = event.child.owner
            assert isinstance(m, Member)
            if m.child is event.child and not self.aborted:
                self.listener.on_output(m, event.stream, event.data)
        elif isinstance(event, Garbage):
            m = event.child.owner
            assert isinstance(m, Member)
            if m.child is event.child and not self.aborted:
                raise protocol_error(
                    m.name, m.child_pytest, f"its result pipe carried {event.line!r}"
                )
        elif isinstance(event, _Prepared):
            self._preparing -= 1
            if not self.aborted:
                self.listener.on_prepared(event.member, event.spec, event.error)

    def _note_exit(self, event: Exited) -> Member | None:
        event.child.returncode = event.returncode
        event.child.close_commands()  # its last descriptor in this process
        self._alive -= 1
        m = event.child.owner
        if not isinstance(m, Member) or m.child is not event.child:
            return None
        m.returncode = event.returncode
        m.ended = time.monotonic()
        return m

    # --- stopping ----------------------------------------------------------------------------

    def wait_exits(self, deadline: float) -> bool:
        """Wait (without handling messages) until every child exited or ``deadline``."""
        while self._alive > 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                event = self.events.get(timeout=remaining)
            except queue.Empty:
                return False
            if isinstance(event, Exited):
                self._note_exit(event)
            elif isinstance(event, _Prepared):
                self._preparing -= 1
        return True

    def live(self) -> list[ChildProcess]:
        return [c for c in self._children if c.alive]

    def shutdown(self) -> None:
        """End of session: every child still there is asked to exit, then stopped."""
        if self.aborted:
            return
        self.close()
        for child in self.live():
            child.send({"cmd": "exit"})
            child.close_commands()
        try:
            if not self.wait_exits(time.monotonic() + self.grace):
                self.abort()
        except BaseException:
            self.abort()
            raise
        if self.forks is not None:
            self.forks.close()

    def abort(self) -> None:
        """Stop every child now: SIGINT to each process group, SIGKILL after the grace time."""
        if self.aborted:
            return
        self.aborted = True
        self.close()
        live = self.live()
        for child in live:
            child.close_commands()
            child.signal_group(signal.SIGINT)
        try:
            if not self.wait_exits(time.monotonic() + self.grace):
                for child in self.live():
                    child.signal_group(signal.SIGKILL)
                self.wait_exits(time.monotonic() + 5.0)
        except KeyboardInterrupt:
            for child in self.live():
                child.signal_group(signal.SIGKILL)
            self.wait_exits(time.monotonic() + 5.0)
            raise
        finally:
            for child in live:
                child.kill_leftovers()
            if self.forks is not None:
                self.forks.close(kill=True)


#: The longest the main thread blocks at once. A signal (Ctrl-C, SIGTERM) that the kernel
#: delivers to another thread of this process (a reader, a preparer) only sets a flag; its
#: handler runs when the main thread next wakes, and a wait on the event queue is broken
#: only by a signal delivered to the main thread itself.
_WAKE_EVERY = 0.2

#: Descriptors kept free for everything else (pytest, plugins, files, fork servers).
_SPARE_DESCRIPTORS = 48
#: Descriptors of the parent's that one live child holds (message, command, stdout, stderr,
#: and the one that tells its end).
_PER_CHILD = 5


def idle_within_descriptor_limit(max_parallel: int, default: int) -> int:
    """How many children may wait idle without running out of descriptors (``ulimit -n``);
    ``default`` when there is no limit."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return default
    if soft == resource.RLIM_INFINITY:
        return default
    collecting = max(max_parallel, os.cpu_count() or 1)
    return max(1, (soft - _SPARE_DESCRIPTORS) // _PER_CHILD - max_parallel - collecting)
