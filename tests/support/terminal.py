"""A program on a new pty (a real terminal): read what it prints, type answers."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["Terminal"]

#: Makes standard input (the pty) the controlling terminal of the new session, then becomes
#: pytest: ``python -c TAKE_TERMINAL -m pytest ...``.
_TAKE_TERMINAL = (
    "import fcntl, os, sys, termios\n"
    "fcntl.ioctl(0, termios.TIOCSCTTY, 0)\n"
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])\n"
)


class Terminal:
    """``python -m pytest`` on a new pty: read what it prints, type answers."""

    def __init__(self, cwd: Path, *args: str, controlling: bool = False) -> None:
        """Run ``python -m pytest *args`` in ``cwd`` on a new terminal; with
        ``controlling``, as the terminal's foreground process (Ctrl-C, :meth:`interrupt`,
        then sends it SIGINT, as a shell's terminal does)."""
        master, slave = pty.openpty()
        env = {**os.environ, "COLUMNS": "200", "TERM": "dumb", "PYTHONUNBUFFERED": "1"}
        env.pop("PYTEST_ADDOPTS", None)
        start = ["-c", _TAKE_TERMINAL] if controlling else []
        self.proc = subprocess.Popen(
            [sys.executable, *start, "-m", "pytest", *args],
            cwd=cwd,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        self.master = master
        self.output = ""

    def expect(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{text!r} not seen; the terminal shows:\n{self.output}")
            ready, _, _ = select.select([self.master], [], [], remaining)
            if ready:
                try:
                    data = os.read(self.master, 4096)
                except OSError:
                    data = b""
                if not data:
                    raise AssertionError(f"{text!r} not seen before the end:\n{self.output}")
                self.output += data.decode(errors="replace").replace("\r\n", "\n")
        return self.output

    def send(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\n")

    def interrupt(self) -> None:
        """Type Ctrl-C."""
        os.write(self.master, b"\x03")

    def finish(self, timeout: float = 30.0) -> int:
        """Read the rest until the terminal closes (every process on it is gone)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.5)
            if not ready:
                continue
            try:
                data = os.read(self.master, 4096)
            except OSError:  # EIO: nothing holds the terminal open any more
                break
            if not data:
                break
            self.output += data.decode(errors="replace").replace("\r\n", "\n")
        os.close(self.master)
        return self.proc.wait(timeout=5)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        """Whatever happened, nothing started on the terminal outlives the test."""
        self.kill()
