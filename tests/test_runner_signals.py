"""No orphans: whatever ends the parent, its children end too (real processes, /proc)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests._runner_workspace import Member, alive, write_workspace

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(sys.platform != "linux", reason="parent-death signals are Linux's"),
]


def hanging_member(pidfile: Path) -> Member:
    return Member(
        "alpha",
        {
            "tests/test_hang.py": (
                "import os, time\n\n"
                "def test_first():\n    pass\n\n"
                "def test_hangs():\n"
                f"    open({str(pidfile)!r}, 'w').write(str(os.getpid()))\n"
                "    time.sleep(3600)\n"
            )
        },
    )


def start(root: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )


def wait_for_pid(pidfile: Path, proc: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if pidfile.is_file() and pidfile.read_text():
            return int(pidfile.read_text())
        assert proc.poll() is None, proc.communicate()[0].decode()
        time.sleep(0.05)
    raise AssertionError("the test never started")


def gone_soon(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("fork", [False, True], ids=["new-interpreter", "forked"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_stop_the_session_like_ctrl_c(
    pytester: pytest.Pytester, signum: int, fork: bool
) -> None:
    pidfile = pytester.path / "child.pid"
    root = write_workspace(pytester, hanging_member(pidfile), fork=fork)
    proc = start(root)
    try:
        child = wait_for_pid(pidfile, proc)
        proc.send_signal(signum)
        out = proc.communicate(timeout=30)[0].decode()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out
    assert f"Terminated: received {signal.Signals(signum).name}" in out, out
    assert "1 passed" in out, out  # pytest's summary, with what ran before
    assert gone_soon(child), f"the child {child} outlived its parent"


@pytest.mark.parametrize("fork", [False, True], ids=["new-interpreter", "forked"])
def test_children_die_with_a_killed_parent(pytester: pytest.Pytester, fork: bool) -> None:
    pidfile = pytester.path / "child.pid"
    root = write_workspace(pytester, hanging_member(pidfile), fork=fork)
    proc = start(root)
    try:
        child = wait_for_pid(pidfile, proc)
        proc.kill()  # SIGKILL: the parent cannot clean up
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert gone_soon(child), f"the child {child} outlived its killed parent"


#: A plugin for the parent: once the child's test has started (its pid file exists), a
#: thread of the parent sends SIGINT to itself. The kernel then delivers it to that thread,
#: not to the main thread, as it may deliver a terminal's Ctrl-C or a SIGTERM.
SIGNAL_FROM_A_THREAD = """
import os, signal, threading, time

def _send(pidfile):
    while not (os.path.exists(pidfile) and open(pidfile).read()):
        time.sleep(0.05)
    signal.pthread_kill(threading.get_ident(), signal.SIGINT)

def pytest_sessionstart(session):
    threading.Thread(target=_send, args=(os.environ["PIDFILE"],), daemon=True).start()
"""


def test_a_signal_that_reaches_another_thread_still_stops_the_session(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pidfile = pytester.path / "child.pid"
    root = write_workspace(
        pytester,
        hanging_member(pidfile),
        fork=True,
        root_files={"signal_from_a_thread.py": SIGNAL_FROM_A_THREAD},
    )
    monkeypatch.setenv("PIDFILE", str(pidfile))
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "signal_from_a_thread"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**env, "PYTHONPATH": str(root)},
        start_new_session=True,
    )
    child = wait_for_pid(pidfile, proc)
    try:
        output = proc.communicate(timeout=30)[0].decode()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, output
    assert "KeyboardInterrupt" in output
    assert gone_soon(child)
