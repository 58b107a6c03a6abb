"""One child pytest process: start it, read its messages, command it, stop it.

Each child runs in a new session (``start_new_session=True``), so a Ctrl-C in the parent's
terminal does not reach it directly and the parent can signal the child together with whatever
it started (``os.killpg``). One reader thread per child waits on its message pipe, stdout and
stderr with a selector: it decodes message lines and puts them on the runner's queue, keeps a
bounded tail of the output, and after the message pipe closes waits for the process and puts a
final :class:`Exited` event. It never calls hooks and never raises.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import queue
import selectors
import signal
import subprocess
import threading
import time
from collections import deque
from typing import Any, Protocol

from pytest_wsenv.runner.forkserver import Forked, ForkServers
from pytest_wsenv.runner.protocol import (
    BOOTSTRAP,
    CHILD_SCRIPT,
    SCHEMA_VERSION,
    Command,
    OutputMode,
    decode_line,
)
from pytest_wsenv.runner.protocol import encode_command as _encode
from pytest_wsenv.runner.spec import ChildSpec
from pytest_wsenv.runner.zygote import CMD_FD, MSG_FD

__all__ = [
    "OUTPUT_TAIL_BYTES",
    "ChildProcess",
    "Exited",
    "Garbage",
    "Messages",
    "Output",
    "OutputOptions",
]

#: How much of a child's stdout and of its stderr is kept for crash messages.
OUTPUT_TAIL_BYTES = 32 * 1024

#: Seconds the reader of a child whose output is captured waits after each read from its
#: message pipe, so that what the child writes meanwhile is read (and handed to the main
#: thread) at once: a child of quick tests writes five messages per test, and waking both
#: threads of the parent for each one cost about as much CPU as the parent's whole replay.
#: The first message after a pause is read at once; a child never waits for the parent
#: except when it asks for more tests, at most this long. Output that is relayed or goes
#: to a terminal is not delayed (its order against messages matters).
MESSAGE_LINGER = 0.002


@dataclasses.dataclass(frozen=True, slots=True)
class Messages:
    """The messages of one read from a child's message pipe, in order (one event for many:
    fewer hand-overs between the reader thread and the main thread)."""

    child: ChildProcess
    items: tuple[dict[str, Any], ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Garbage:
    child: ChildProcess
    line: bytes


@dataclasses.dataclass(frozen=True, slots=True)
class Exited:
    child: ChildProcess
    returncode: int
    stdout: bytes
    stderr: bytes


@dataclasses.dataclass(frozen=True, slots=True)
class Output:
    """What a relayed child wrote to its stdout (``stream`` 1) or stderr (2)."""

    child: ChildProcess
    stream: int
    data: bytes


Event = Messages | Garbage | Exited | Output


class _Tail:
    def __init__(self, limit: int) -> None:
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._limit = limit

    def add(self, data: bytes) -> None:
        self._chunks.append(data)
        self._size += len(data)
        while self._size - len(self._chunks[0]) >= self._limit:
            self._size -= len(self._chunks.popleft())

    def value(self) -> bytes:
        return b"".join(self._chunks)[-self._limit :]


@dataclasses.dataclass(frozen=True, slots=True)
class OutputOptions:
    """How a child's output reaches the user (see ``child.py``): ``mode``; ``ack``, whether
    the child waits for the parent at each test start; ``terminal``, a descriptor of the
    parent's terminal (``terminal`` mode), given to the child as its standard streams."""

    mode: OutputMode = "captured"
    ack: bool = False
    terminal: int | None = None
    #: pytest options that go with the mode (``--capture=no``, ``--pdb``, ``--trace``)
    args: tuple[str, ...] = ()
    #: where the child writes its threads' stacks on ``SIGUSR1`` (time limits)
    stacks: str | None = None

    def child_options(self, msg_fd: int, cmd_fd: int) -> str:
        options: dict[str, Any] = {"schema": SCHEMA_VERSION, "msg_fd": msg_fd, "cmd_fd": cmd_fd}
        if self.mode != "captured":
            options["mode"] = self.mode
        if self.ack:
            options["ack"] = True
        if self.stacks:
            options["stacks"] = self.stacks
        return json.dumps(options)


class StartedChild(Protocol):
    """How a child was started, as the reader sees it: the one interface between the runner
    and a process transport. Today's transports are :class:`_Started` (a new interpreter,
    ``subprocess``) and :class:`~pytest_wsenv.runner.forkserver.Forked` (forked from a warm
    interpreter); a spawn-based one for platforms without ``fork`` would be a third."""

    pid: int
    stdout: int | None  # the parent's end of the child's stdout, None when it is a terminal
    stderr: int | None

    def wait(self) -> int | None:
        """The exit code (``-N`` for signal N); None when it cannot be known."""

    def close(self) -> None:
        """Close the parent's ends of the output pipes."""


class _Started:
    """A child started as a new interpreter."""

    def __init__(
        self, spec: ChildSpec, msg_write: int, cmd_read: int, output: OutputOptions
    ) -> None:
        options = output.child_options(msg_write, cmd_read)
        stdio: Any = subprocess.PIPE if output.terminal is None else output.terminal
        self.proc = subprocess.Popen(
            [
                str(spec.python),
                "-c",
                BOOTSTRAP,
                str(CHILD_SCRIPT),
                options,
                *output.args,
                *spec.args,
            ],
            cwd=spec.rootdir,
            env=dict(spec.env),
            stdin=subprocess.DEVNULL if output.terminal is None else output.terminal,
            stdout=stdio,
            stderr=stdio,
            pass_fds=(msg_write, cmd_read),
            start_new_session=True,
        )
        self.pid = self.proc.pid
        self.stdout = None if self.proc.stdout is None else self.proc.stdout.fileno()
        self.stderr = None if self.proc.stderr is None else self.proc.stderr.fileno()

    def wait(self) -> int | None:
        return self.proc.wait()

    def close(self) -> None:
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def _fork(
    spec: ChildSpec,
    forks: ForkServers | None,
    msg_write: int,
    cmd_read: int,
    output: OutputOptions,
) -> tuple[Forked | None, str | None]:
    """The forked child, or ``None`` and why not (``None`` when forking is off)."""
    if forks is None:
        return None, None
    if spec.runtime is None:
        return None, "pytest's RECORD was not found in its environment"
    server = forks.ready(spec.runtime)
    if server is None:
        return None, forks.why_not(spec.runtime)
    forked = server.spawn(
        [str(CHILD_SCRIPT), output.child_options(MSG_FD, CMD_FD), *output.args, *spec.args],
        cwd=spec.rootdir,
        env=spec.env,
        executable=spec.python,
        msg_fd=msg_write,
        cmd_fd=cmd_read,
        terminal=output.terminal,
    )
    return forked, None if forked is not None else "the fork server did not fork it"


class ChildProcess:
    """A started child; ``events`` receives its :data:`Event` objects in order.

    The child is forked from a warm fork server when ``forks`` has a ready one for the
    spec's runtime, else started as a new interpreter.
    """

    def __init__(
        self,
        spec: ChildSpec,
        events: queue.SimpleQueue[Any],
        owner: object,
        forks: ForkServers | None = None,
        output: OutputOptions | None = None,
    ) -> None:
        self.spec = spec
        self.owner = owner
        output = output or OutputOptions()
        self._relay = output.mode == "relay"
        self._linger = output.mode == "captured"
        self.started = time.monotonic()
        self.returncode: int | None = None
        msg_read, msg_write = os.pipe()
        cmd_read, cmd_write = os.pipe()
        try:
            started, self.not_forked = _fork(spec, forks, msg_write, cmd_read, output)
            self.forked = started is not None
            self._child: StartedChild = started or _Started(spec, msg_write, cmd_read, output)
        except BaseException:
            for fd in (msg_read, msg_write, cmd_read, cmd_write):
                os.close(fd)
            raise
        os.close(msg_write)
        os.close(cmd_read)
        self.pid = self._child.pid
        self._cmd_fd: int | None = cmd_write
        self._msg_fd = msg_read
        self._events = events
        self._thread = threading.Thread(
            target=self._read, name=f"wsenv-reader-{spec.key}", daemon=True
        )
        self._thread.start()

    # --- commands ----------------------------------------------------------------------------

    def send(self, command: Command) -> None:
        """Send a command; silently dropped once the child is gone (its exit event follows)."""
        if self._cmd_fd is None:
            return
        try:
            os.write(self._cmd_fd, _encode(command))
        except OSError:
            self.close_commands()

    def close_commands(self) -> None:
        """Close the command pipe: the child stops after its current test and exits."""
        if self._cmd_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._cmd_fd)
            self._cmd_fd = None

    def signal_group(self, signum: int) -> None:
        """Send ``signum`` to the child's process group (the child and what it started)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)

    def signal_child(self, signum: int) -> None:
        """Send ``signum`` to the child alone (not what it started)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.pid, signum)

    def kill_leftovers(self) -> None:
        """SIGKILL whatever is left of the child's process group after the child exited."""
        self.signal_group(signal.SIGKILL)

    @property
    def alive(self) -> bool:
        return self.returncode is None

    # --- reader thread -----------------------------------------------------------------------

    def _read(self) -> None:
        stdout, stderr = _Tail(OUTPUT_TAIL_BYTES), _Tail(OUTPUT_TAIL_BYTES)
        returncode = -1
        exited: int | None = None
        try:
            streams = {
                fd: (number, tail)
                for fd, number, tail in (
                    (self._child.stdout, 1, stdout),
                    (self._child.stderr, 2, stderr),
                )
                if fd is not None
            }
            if self._relay:
                for fd in streams:
                    os.set_blocking(fd, False)
            exited = _exit_watch(self.pid)
            # poll(2) needs no descriptor of its own, unlike epoll: one fewer per child
            selector_type = getattr(selectors, "PollSelector", selectors.DefaultSelector)
            with selector_type() as selector:
                for fd in (self._msg_fd, *streams):
                    selector.register(fd, selectors.EVENT_READ)
                if exited is not None:
                    selector.register(exited, selectors.EVENT_READ)
                pending = b""
                msg_open = True
                while msg_open:
                    ready = {key.fd for key, _ in selector.select()}
                    if exited is not None and exited in ready:
                        # The child is gone. Something it started may still hold the
                        # message pipe open: take what is there and stop waiting for more.
                        os.set_blocking(self._msg_fd, False)
                        while data := _read_ready(self._msg_fd):
                            pending = self._put_lines(pending + data)
                        if pending:
                            self._put_line(pending)
                        break
                    # Output first: what a relayed child wrote before a message is shown
                    # before that message is handled.
                    for fd, (number, tail) in streams.items():
                        if fd not in ready and not (self._relay and self._msg_fd in ready):
                            continue
                        if fd not in selector.get_map():
                            continue
                        data = _read_ready(fd)
                        if data is None:
                            continue
                        if not data:
                            selector.unregister(fd)
                            continue
                        tail.add(data)
                        if self._relay:
                            self._events.put(Output(self, number, data))
                    if self._msg_fd in ready:
                        data = _read_some(self._msg_fd)
                        if not data:
                            msg_open = False
                            if pending:
                                self._put_line(pending)
                            break
                        pending = self._put_lines(pending + data)
                        if self._linger:
                            time.sleep(MESSAGE_LINGER)
                returncode = self._wait(stderr)
                # The child is gone; whatever it started may still hold stdout/stderr open,
                # so take only what is already there.
                for fd, (number, tail) in streams.items():
                    rest = _drain_nonblocking(fd, tail)
                    if rest and self._relay:
                        self._events.put(Output(self, number, rest))
        except BaseException as exc:  # the reader must never raise
            stderr.add(f"\n[pytest-wsenv reader error: {exc!r}]\n".encode())
            with contextlib.suppress(BaseException):
                returncode = self._wait(stderr)
        finally:
            if exited is not None:
                with contextlib.suppress(OSError):
                    os.close(exited)
            with contextlib.suppress(OSError):
                os.close(self._msg_fd)
            self._child.close()
            self._events.put(Exited(self, returncode, stdout.value(), stderr.value()))

    def _wait(self, stderr: _Tail) -> int:
        code = self._child.wait()
        if code is None:
            stderr.add(b"\n[pytest-wsenv: the fork server ended first; exit status unknown]\n")
            return -1
        return code

    def _put_lines(self, buffer: bytes) -> bytes:
        *lines, rest = buffer.split(b"\n")
        batch: list[dict[str, Any]] = []
        for line in lines:
            if not line.strip():
                continue
            data = decode_line(line)
            if data is not None:
                batch.append(data)
                continue
            if batch:
                self._events.put(Messages(self, tuple(batch)))
                batch = []
            self._events.put(Garbage(self, line[:300]))
        if batch:
            self._events.put(Messages(self, tuple(batch)))
        return rest

    def _put_line(self, line: bytes) -> None:
        self._put_lines(line + b"\n")


def _read_some(fd: int) -> bytes:
    try:
        return os.read(fd, 1 << 16)
    except OSError:
        return b""


def _exit_watch(pid: int) -> int | None:
    """A descriptor that becomes readable when ``pid`` ends (Linux's pidfd), or None."""
    if not hasattr(os, "pidfd_open"):
        return None
    try:
        return os.pidfd_open(pid)
    except OSError:  # gone already, or a kernel without pidfd
        return None


def _read_ready(fd: int) -> bytes | None:
    """What ``fd`` holds now; ``None`` when nothing (non-blocking), ``b""`` at its end."""
    try:
        return os.read(fd, 1 << 16)
    except BlockingIOError:
        return None
    except OSError:
        return b""


def _drain_nonblocking(fd: int, tail: _Tail) -> bytes:
    """Add what ``fd`` holds now to ``tail``; return it."""
    chunks = []
    try:
        os.set_blocking(fd, False)
        while data := os.read(fd, 1 << 16):
            tail.add(data)
            chunks.append(data)
    except OSError:
        pass
    return b"".join(chunks)
