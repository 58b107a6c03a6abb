"""Children that die: during a test (any phase), between restarts, before collecting."""

from __future__ import annotations

import sys

import pytest

from tests._runner_workspace import Member, write_workspace

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Short summary lines are cut at the terminal width; make them whole."""
    monkeypatch.setenv("COLUMNS", "300")


CRASHES = {
    "exit1": "os._exit(1)",
    "segv": "os.kill(os.getpid(), signal.SIGSEGV)",
}
EXPECTED = {"exit1": "exit code 1", "segv": "signal 11, SIGSEGV"}


def crashing_member(how: str, when: str) -> Member:
    crash = CRASHES[how]
    fixture_body = {
        "setup": f"    {crash}\n    yield",
        "call": "    yield",
        "teardown": f"    yield\n    {crash}",
    }[when]
    test_body = f"    {crash}" if when == "call" else "    pass"
    return Member(
        "bird-feeder",
        {
            "tests/test_crash.py": (
                "import os, signal\n"
                "import pytest\n\n"
                "def test_before():\n    pass\n\n"
                "@pytest.fixture\n"
                f"def boom():\n{fixture_body}\n\n"
                f"def test_crash(boom):\n{test_body}\n\n"
                "def test_after():\n    pass\n\n"
                "def test_last():\n    pass\n"
            )
        },
        directory="packages/bird-feeder",
    )


@pytest.mark.slow
@pytest.mark.parametrize("fork", [False, True], ids=["new-interpreter", "forked"])
@pytest.mark.parametrize("when", ["setup", "call", "teardown"])
@pytest.mark.parametrize("how", ["exit1", "segv"])
def test_crash_is_reported_and_the_rest_runs(
    pytester: pytest.Pytester, how: str, when: str, fork: bool
) -> None:
    other = Member("other", {"tests/test_o.py": "def test_other():\n    pass\n"})
    write_workspace(pytester, crashing_member(how, when), other, print_summary=True, fork=fork)
    result = pytester.runpytest("-rA")
    nodeid = "packages/bird-feeder/tests/test_crash.py::test_crash"
    if when == "call":
        result.assert_outcomes(passed=4, failed=1)
        result.stdout.fnmatch_lines([f"FAILED {nodeid} - member 'bird-feeder' crashed while*"])
    else:
        # setup: the test errors; teardown: it passed, then its teardown errored.
        result.assert_outcomes(passed=5 if when == "teardown" else 4, errors=1)
        result.stdout.fnmatch_lines([f"ERROR {nodeid} - member 'bird-feeder' crashed while*"])
    result.stdout.fnmatch_lines(
        [
            f"member 'bird-feeder' crashed while running '{nodeid}' ({EXPECTED[how]})",
            "*the member's remaining 2 test(s) continue in a new child (restart 1 of 3)",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "PASSED packages/bird-feeder/tests/test_crash.py::test_after",
            "PASSED packages/bird-feeder/tests/test_crash.py::test_last",
            "PASSED other/tests/test_o.py::test_other",
        ]
    )
    result.stdout.fnmatch_lines([f"wsenv-summary key=bird-feeder *restarts=1 *forked={fork}"])
    if how == "segv":
        # pytest's faulthandler in the child wrote the Python stack to stderr.
        result.stdout.fnmatch_lines(["last output of the child (stderr):", "*Fatal Python error*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.timeout(60)
def test_crash_in_call_quick(pytester: pytest.Pytester) -> None:
    write_workspace(pytester, crashing_member("exit1", "call"))
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "packages/bird-feeder/tests/test_crash.py::test_before PASSED*",
            "packages/bird-feeder/tests/test_crash.py::test_crash FAILED*",
            "packages/bird-feeder/tests/test_crash.py::test_after PASSED*",
            "packages/bird-feeder/tests/test_crash.py::test_last PASSED*[[]100%]",
        ]
    )


@pytest.mark.slow
def test_restart_limit_reports_the_rest_as_not_run(pytester: pytest.Pytester) -> None:
    tests = "import os\n\n" + "".join(f"def test_{i}():\n    os._exit(3)\n\n" for i in range(4))
    crashy = Member("crashy", {"tests/test_c.py": tests})
    write_workspace(pytester, crashy, max_restarts=2, print_summary=True)
    result = pytester.runpytest("-rA")
    result.assert_outcomes(failed=3, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*no restart left (2 allowed): the member's remaining 1 test(s) are not run",
            "*short test summary info*",
            "ERROR crashy/tests/test_c.py::test_3 - not run: member 'crashy' crashed 3 time(s)"
            " and no restart is left (2 allowed)",
            "FAILED crashy/tests/test_c.py::test_0 - member 'crashy' crashed while running*",
            "FAILED crashy/tests/test_c.py::test_1 - *",
            "FAILED crashy/tests/test_c.py::test_2 - *",
        ]
    )
    result.stdout.fnmatch_lines(["wsenv-summary key=crashy member=crashy run=4 *restarts=2 *"])


@pytest.mark.timeout(60)
def test_crash_during_collection(pytester: pytest.Pytester) -> None:
    doomed = Member(
        "doomed",
        {
            "conftest.py": "import os\nos._exit(7)\n",
            "tests/test_d.py": "def test_d():\n    pass\n",
        },
    )
    fine = Member("fine", {"tests/test_f.py": "def test_f():\n    pass\n"})
    write_workspace(pytester, doomed, fine)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR collecting doomed _*",
            "member 'doomed': its pytest exited (exit code 7) before collecting its tests",
            # pytest was capturing the conftest import: that output died with the process.
            "the child wrote nothing to stdout or stderr",
        ]
    )


@pytest.mark.timeout(60)
def test_child_usage_error_is_a_member_failure(pytester: pytest.Pytester) -> None:
    odd = Member("odd", {"tests/test_o.py": "def test_o():\n    pass\n"}, args=["no/such/path"])
    write_workspace(pytester, odd)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "member 'odd': its pytest exited (exit code 4) before collecting its tests",
            "*file or directory not found: no/such/path*",
        ]
    )


@pytest.mark.timeout(60)
def test_missing_interpreter_is_a_member_failure(pytester: pytest.Pytester) -> None:
    ghost = Member("ghost", {}, python="/nonexistent/bin/python")
    write_workspace(pytester, ghost)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["member 'ghost': cannot start /nonexistent/bin/python: *"])


@pytest.mark.timeout(60)
def test_a_restarted_child_does_not_replay_its_collection_again(
    pytester: pytest.Pytester,
) -> None:
    """The restarted child collects again; its skipped modules and collection warnings
    were replayed by the first child and are not counted twice."""
    member = Member(
        "m",
        {
            "tests/test_a.py": (
                "import os, warnings\n"
                "warnings.warn(UserWarning('at import'))\n\n"
                "def test_0():\n    os._exit(3)\n\n"
                "def test_1():\n    pass\n"
            ),
            "tests/test_skip.py": "import pytest\npytest.importorskip('no_such_module_here')\n",
        },
    )
    write_workspace(pytester, member, print_summary=True)
    result = pytester.runpytest("-rA")
    result.assert_outcomes(failed=1, passed=1, skipped=1, warnings=1)
    result.stdout.fnmatch_lines(["wsenv-summary key=m *restarts=1 *"])


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fork", [False, True], ids=["new-interpreter", "forked"])
def test_a_parked_member_that_crashes_is_restarted(pytester: pytest.Pytester, fork: bool) -> None:
    """A member parked after collecting (max_idle=1) collects again at its turn; a crash
    there is handled like any other: reported, and the rest runs in a restarted child."""
    first = Member("aaa", {"tests/test_a.py": "def test_a():\n    pass\n"})
    crashing = crashing_member("exit1", "call")
    log = pytester.path / "collections.log"
    # collected last (so it is the one parked), and every collection noted
    crashing.files["conftest.py"] = (
        f"import time\ntime.sleep(0.5)\nwith open({str(log)!r}, 'a') as f:\n    f.write('x')\n"
    )
    write_workspace(pytester, first, crashing, max_idle=1, fork=fork, print_summary=True)
    result = pytester.runpytest("-rA")
    assert log.read_text() == "xxx"  # collected, parked; collected at its turn; restarted
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(
        ["*the member's remaining 2 test(s) continue in a new child (restart 1 of 3)"]
    )
    result.stdout.fnmatch_lines(["wsenv-summary key=bird-feeder *run=4 *restarts=1 *"])


@pytest.mark.timeout(60)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts /proc/self/fd")
def test_running_out_of_descriptors_says_what_to_change(pytester: pytest.Pytester) -> None:
    """With few descriptors left, the members that cannot start fail with a message that
    names wsenv_max_idle and `ulimit -n`; the others run."""
    members = [Member(f"m{i}", {"tests/test_x.py": "def test_x():\n    pass\n"}) for i in range(12)]
    write_workspace(
        pytester,
        *members,
        max_idle=100,
        root_files={
            "limit.py": (
                "import os, resource\n"
                "def pytest_configure(config):\n"
                "    used = len(os.listdir('/proc/self/fd'))\n"
                "    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]\n"
                "    resource.setrlimit(resource.RLIMIT_NOFILE, (used + 24, hard))\n"
            )
        },
    )
    result = pytester.runpytest_subprocess("-p", "limit", "-q")
    result.stdout.fnmatch_lines(
        [
            "*Too many open files (each live child holds 5 of this process's descriptors: "
            "run with --ws-stream, which keeps no collected child waiting, or lower the ini "
            "setting wsenv_max_idle, now *, or raise `ulimit -n`)*"
        ]
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 1 and outcomes.get("errors", 0) >= 1, outcomes

    # the advice works: streaming, the same members run within the same limit
    write_workspace(pytester, *members, max_idle=100, stream=True, collect_parallel=2)
    pytester.runpytest_subprocess("-p", "limit", "-q").assert_outcomes(passed=12)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_many_members_run_within_a_low_descriptor_limit(pytester: pytest.Pytester) -> None:
    """150 members under `ulimit -n 256`: the idle children are bounded by the limit, and an
    exited child leaves no descriptor behind."""
    members = [
        Member(f"m{i:03}", {"tests/test_x.py": "def test_x():\n    pass\n"}) for i in range(150)
    ]
    write_workspace(
        pytester,
        *members,
        fork=True,
        root_files={
            "limit.py": (
                "import resource\n"
                "hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]\n"
                "resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))\n"
            )
        },
    )
    result = pytester.runpytest_subprocess("-p", "limit", "-q")
    result.assert_outcomes(passed=150)
