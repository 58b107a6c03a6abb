"""Start children by forking a warm interpreter that has already imported pytest.

Importing pytest is most of what a child costs before it collects anything (about 70% of
a bare ``python -m pytest`` start). Children whose environments share one base
interpreter and byte-identical copies of pytest and its requirements (:class:`Runtime`,
compared through their ``RECORD`` files) are forked from one fork server (``zygote.py``)
that imported pytest once; each forked child then rebuilds ``sys.path`` for its own
environment with :func:`site.main`, so what it can import is exactly what that
environment's own python could. Anything that does not fit (no ``RECORD``, a server
that fails to start or reports a module it cannot vouch for) starts children the
ordinary way; forking is an optimisation, never a requirement.

The server is started (``runtime.py``) with the first child's environment, or before any
by ``prestart.py`` (the ``PYTHON*`` variables read at interpreter start are part of
:class:`Runtime`'s key, so every child it forks would have started with the same ones), in
a session of its own, and ends when its control socket closes (:meth:`ForkServers.close`)
or is killed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import queue
import signal
import socket
import subprocess
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pytest_wsenv.runner.runtime import Launched, Runtime, launch_server

__all__ = ["ForkServer", "ForkServers", "Forked"]


#: Seconds to wait for a server to import pytest, and for it to answer a fork request.
START_TIMEOUT = 60.0
FORK_TIMEOUT = 30.0


@dataclasses.dataclass(slots=True)
class Forked:
    """A child forked by a server: its pid, the parent's ends of its output pipes, and a
    way to learn its exit code."""

    pid: int
    stdout: int | None  # None when the child writes to the terminal
    stderr: int | None
    server: ForkServer

    def wait(self) -> int | None:
        """The exit code (``-N`` for signal N); ``None`` when the server ended first."""
        return self.server.wait(self.pid)

    def close(self) -> None:
        """Close the parent's ends of the output pipes."""
        for fd in (self.stdout, self.stderr):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)


#: Bytes of a fork server's stderr kept for the reason it ended.
_STDERR_TAIL = 4000


class ForkServer:
    """One running ``zygote.py``, the thread reading its answers and the one draining its
    stderr."""

    def __init__(
        self, runtime: Runtime, env: Mapping[str, str], launched: Launched | None = None
    ) -> None:
        """Start a server for ``runtime`` with ``env``, or take over ``launched``, one
        already started for it."""
        self.runtime = runtime
        #: started before the session was planned (``prestart.py``), then taken over
        self.early = launched is not None
        launched = launched or launch_server(runtime, env)
        self.proc = launched.proc
        self._sock = launched.sock
        self._send_lock = threading.Lock()
        self._state = threading.Condition()
        self._answers: dict[int, queue.SimpleQueue[int | None]] = {}
        self._exits: dict[int, int] = {}
        self._next_id = 0
        self._ended = False
        self.ready: bool | None = None  # None until the server answered
        self.reason = ""
        self.pytest = ""
        self._stderr_tail = b""
        self._drained = threading.Event()
        threading.Thread(target=self._drain, name="wsenv-forkserver-err", daemon=True).start()
        threading.Thread(target=self._read, name="wsenv-forkserver", daemon=True).start()

    def wait_ready(self, timeout: float = START_TIMEOUT) -> bool:
        with self._state:
            self._state.wait_for(lambda: self.ready is not None or self._ended, timeout)
            return bool(self.ready) and not self._ended

    def spawn(
        self,
        argv: list[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        executable: Path,
        msg_fd: int,
        cmd_fd: int,
        terminal: int | None = None,
    ) -> Forked | None:
        """Fork a child running ``argv`` (``sys.argv`` of the child script, whose message
        and command descriptors are then 3 and 4); ``None`` when the server cannot.

        The child's stdout and stderr are new pipes, or with ``terminal`` (a descriptor of
        the parent's terminal) that terminal, also as its stdin.
        """
        if not self.ready or self._ended:
            return None
        if terminal is not None:
            out_r, out_w, err_r, err_w = None, terminal, None, terminal
            fds = [terminal, terminal, msg_fd, cmd_fd, terminal]
        else:
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            fds = [out_w, err_w, msg_fd, cmd_fd]
        answer: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        request = {"argv": argv, "cwd": str(cwd), "env": dict(env), "executable": str(executable)}
        try:
            with self._send_lock:
                self._next_id += 1
                request_id = self._next_id
                with self._state:
                    self._answers[request_id] = answer
                data = json.dumps({"id": request_id, **request}).encode()
                socket.send_fds(self._sock, [len(data).to_bytes(8, "big")], fds)
                self._sock.sendall(data)
            pid = answer.get(timeout=FORK_TIMEOUT)
        except (OSError, queue.Empty):
            pid = None
        finally:
            if terminal is None:
                os.close(out_w)
                os.close(err_w)
        if pid is None:
            for fd in (out_r, err_r):
                if fd is not None:
                    os.close(fd)
            return None
        return Forked(pid, out_r, err_r, self)

    def wait(self, pid: int) -> int | None:
        with self._state:
            self._state.wait_for(lambda: pid in self._exits or self._ended)
            return self._exits.pop(pid, None)

    def close(self) -> None:
        """Close the control socket (the server exits) and make sure it is gone."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)

    def _drain(self) -> None:
        """Read the server's stderr to its end (so it never blocks on a full pipe),
        keeping the last lines: they say why a server ended before it was ready."""
        assert self.proc.stderr is not None
        try:
            fd = self.proc.stderr.fileno()
            while chunk := os.read(fd, 1 << 14):
                self._stderr_tail = (self._stderr_tail + chunk)[-_STDERR_TAIL:]
        except (OSError, ValueError):
            pass
        finally:
            with contextlib.suppress(OSError):
                self.proc.stderr.close()
            self._drained.set()

    def _last_error_line(self) -> str:
        self._drained.wait(timeout=2.0)
        lines = self._stderr_tail.decode(errors="replace").strip().splitlines()
        return lines[-1].strip() if lines else ""

    def _read(self) -> None:
        pending = b""
        try:
            while True:
                data = self._sock.recv(1 << 16)
                if not data:
                    break
                *lines, pending = (pending + data).split(b"\n")
                for line in lines:
                    self._handle(json.loads(line))
        except (OSError, ValueError):
            pass
        finally:
            with self._state:
                self._ended = True
                if self.ready is None:
                    self.ready = False
                    last = self._last_error_line()
                    self.reason = "the fork server ended before it was ready" + (
                        f" ({last})" if last else ""
                    )
                for answer in self._answers.values():
                    answer.put(None)
                self._answers.clear()
                self._state.notify_all()
            with contextlib.suppress(OSError):
                self._sock.close()

    def _handle(self, message: dict[str, Any]) -> None:
        with self._state:
            if "exited" in message:
                self._exits[int(message["exited"])] = int(message["code"])
            elif "id" in message:
                answer = self._answers.pop(int(message["id"]), None)
                if answer is not None:
                    answer.put(int(message["pid"]))
            elif "ready" in message:
                self.ready = bool(message["ready"])
                self.reason = str(message.get("reason", ""))
                self.pytest = str(message.get("pytest", ""))
            self._state.notify_all()


class ForkServers:
    """The fork servers of one run, one per :attr:`Runtime.key`, started on demand.

    ``early`` are servers started before the run knew whether it needs them (see
    ``prestart.py``): one is taken over when a child's runtime has its key, and the rest
    are closed with the run.
    """

    def __init__(self, early: Iterable[Launched] = ()) -> None:
        self._lock = threading.Lock()
        self._servers: dict[str, ForkServer] = {}
        self._starting: dict[str, threading.Lock] = {}
        self._failed: dict[str, str] = {}
        self._early = {launched.runtime.key: launched for launched in early}
        self.closed = False

    def warm(self, runtime: Runtime, env: Mapping[str, str]) -> ForkServer | None:
        """The ready server for ``runtime``, starting it (and waiting) when needed;
        ``None`` when it cannot serve. Safe from any thread."""
        with self._lock:
            if self.closed:
                return None
            gate = self._starting.setdefault(runtime.key, threading.Lock())
        with gate:
            with self._lock:
                server = self._servers.get(runtime.key)
                if server is None and not self.closed:
                    try:
                        server = ForkServer(runtime, env, self._early.pop(runtime.key, None))
                    except OSError as exc:
                        self._failed[runtime.key] = f"cannot start a fork server: {exc}"
                        return None
                    self._servers[runtime.key] = server
            if server is None or not server.wait_ready():
                return None
            return server

    def ready(self, runtime: Runtime) -> ForkServer | None:
        """The server for ``runtime`` if it is already running and ready (never waits)."""
        with self._lock:
            server = self._servers.get(runtime.key)
        if server is None or not server.ready:
            return None
        return server

    def why_not(self, runtime: Runtime) -> str:
        """Why :meth:`ready` has no server for ``runtime``, in a few words."""
        with self._lock:
            server = self._servers.get(runtime.key)
            failed = self._failed.get(runtime.key)
        if server is not None and server.ready is False:
            return server.reason or "the fork server refused"
        if failed is not None:
            return failed
        if self.closed:
            return "the run is ending"
        return "its fork server is not ready"

    def served(self) -> list[ForkServer]:
        """The servers that became ready, in the order they were started."""
        with self._lock:
            return [server for server in self._servers.values() if server.ready]

    def close(self, *, kill: bool = False) -> None:
        with self._lock:
            self.closed = True
            servers = list(self._servers.values())
            unused = list(self._early.values())
            self._early.clear()
        for launched in unused:
            launched.close()
        for server in servers:
            if kill:
                server.kill()
            else:
                server.close()
