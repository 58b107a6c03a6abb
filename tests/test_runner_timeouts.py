"""Time limits: a hung test is failed with its stacks and the member goes on; a member that
runs too long is stopped; a grandchild holding the pipes does not hold the session."""

from __future__ import annotations

import contextlib
import os
import signal

import pytest

from tests._runner_workspace import Member, write_workspace

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "300")


HANGING = {
    "tests/test_hang.py": (
        "import time\n\n"
        "def test_before():\n    pass\n\n"
        "def wait_forever():\n    time.sleep(3600)\n\n"
        "def test_hangs():\n    wait_forever()\n\n"
        "def test_after():\n    pass\n"
    )
}


@pytest.mark.parametrize("fork", [False, True], ids=["new-interpreter", "forked"])
def test_a_test_past_its_limit_fails_with_its_stacks_and_the_rest_runs(
    pytester: pytest.Pytester, fork: bool
) -> None:
    write_workspace(
        pytester,
        Member("alpha", HANGING),
        Member("beta", {"tests/test_b.py": "def test_b():\n    pass\n"}),
        fork=fork,
        limits={"test": 2.0},
    )
    # the test sleeps for an hour: the session ends only because the limit works
    result = pytester.runpytest_subprocess("-rA", timeout=60)
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*alpha/tests/test_hang.py::test_hangs timed out after 2.0 s (--ws-timeout) "
            "in member 'alpha'*",
            "*stacks of the child's threads:*",
            "*in wait_forever*",
            "*the member's remaining 1 test(s) continue in a new child*",
        ]
    )
    result.stdout.fnmatch_lines(["PASSED alpha/tests/test_hang.py::test_after"])


def test_a_member_past_its_limit_is_stopped(pytester: pytest.Pytester) -> None:
    slow = "".join(f"def test_{i}():\n    time.sleep(0.6)\n\n" for i in range(10))
    write_workspace(
        pytester,
        Member("alpha", {"tests/test_slow.py": "import time\n\n" + slow}),
        Member("beta", {"tests/test_b.py": "def test_b():\n    pass\n"}),
        limits={"member": 2.0},
    )
    result = pytester.runpytest_subprocess("-rA")
    outcomes = result.parseoutcomes()
    # alpha: some pass, the one running at the limit fails, the rest are errors "not run"
    ran = outcomes["passed"] - 1  # less beta's
    assert 1 <= ran < 9
    assert outcomes["failed"] == 1
    assert outcomes["errors"] == 10 - ran - 1
    result.stdout.fnmatch_lines(
        ["*member 'alpha' ran out of time: its tests took longer than 2.0 s in all*"]
    )
    result.stdout.fnmatch_lines(["*not run: member 'alpha' ran out of time*"])
    result.stdout.fnmatch_lines(["PASSED beta/tests/test_b.py::test_b"])


def test_a_grandchild_holding_the_pipes_does_not_hold_the_session(
    pytester: pytest.Pytester,
) -> None:
    member = Member(
        "alpha",
        {
            "tests/test_fork.py": (
                "import os, time\n\n"
                "def test_leaves_a_grandchild():\n"
                "    if os.fork() == 0:\n"
                "        with open(os.environ['GRANDCHILD_PID'], 'w') as f:\n"
                "            f.write(str(os.getpid()))\n"
                "        time.sleep(3600)\n"
                "        os._exit(0)\n"
            )
        },
    )
    write_workspace(pytester, member)
    pid_file = pytester.path / "grandchild.pid"
    # the grandchild sleeps for an hour; the session must not wait for it
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRANDCHILD_PID", str(pid_file))
        result = pytester.runpytest_subprocess(timeout=60)
    try:
        result.assert_outcomes(passed=1)
    finally:  # as after a plain pytest, the grandchild is left running: end it here
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
