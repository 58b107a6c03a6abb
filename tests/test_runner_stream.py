"""--ws-stream: members run as soon as they have collected, while later members collect."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from ._runner_workspace import Member, write_workspace

#: A conftest.py whose collection waits (up to a minute) for a file that a test of another
#: member writes: it finishes collecting only if that member runs first.
WAITS_FOR_FLAG = """
import os, time

def pytest_collection_modifyitems(items):
    deadline = time.monotonic() + 60
    while not os.path.exists(os.environ["FLAG"]) and time.monotonic() < deadline:
        time.sleep(0.05)
"""

WRITES_FLAG = """
import os

def test_first():
    open(os.environ["FLAG"], "w").close()
"""


@pytest.fixture
def flag(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    path = tmp_path / "flag"
    monkeypatch.setenv("FLAG", str(path))
    return path


def test_a_member_runs_while_a_later_one_is_still_collecting(
    pytester: pytest.Pytester, flag: Path
) -> None:
    first = Member("alpha", {"tests/test_a.py": WRITES_FLAG})
    waiting = Member(
        "beta",
        {"tests/conftest.py": WAITS_FOR_FLAG, "tests/test_b.py": "def test_b():\n    pass\n"},
    )
    write_workspace(pytester, first, waiting, fork=True, stream=True)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v", timeout=120)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*collected 1 item",
            "wsenv: 1 more member is collected while tests run (--ws-stream)*",
            "alpha/tests/test_a.py::test_first PASSED*",
            "beta/tests/test_b.py::test_b PASSED*",
        ]
    )
    # the flag came from alpha's test, before beta's collection ended
    assert flag.exists()


def test_progress_reaches_100_percent_only_at_the_end(pytester: pytest.Pytester) -> None:
    members = [
        Member(name, {"tests/test_x.py": "def test_1():\n    pass\n\ndef test_2():\n    pass\n"})
        for name in ("alpha", "beta", "gamma", "delta")
    ]
    write_workspace(pytester, *members, fork=True, stream=True, collect_parallel=1)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=8)
    progress = [line for line in result.outlines if line.endswith("%]")]
    assert len(progress) == 4
    assert [line.endswith("[100%]") for line in progress] == [False, False, False, True]


#: A test that writes how many children of this session are alive (started as new
#: interpreters: their command line names child.py) to the file $ALIVE_LOG.
COUNTS_CHILDREN = """
import os

def test_count():
    marker = os.environ["SESSION_MARKER"].encode()
    alive = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{pid}/environ", "rb") as f:
                environ = f.read()
        except OSError:
            continue
        if b"child.py" in cmdline and marker in environ:
            alive += 1
    with open(os.environ["ALIVE_LOG"], "a") as log:
        log.write(f"{alive}\\n")
"""


@pytest.mark.parametrize(("stream", "bounded"), [(True, True), (False, False)])
def test_streaming_keeps_no_child_waiting_for_its_turn(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    stream: bool,
    bounded: bool,
) -> None:
    log = tmp_path / "alive"
    monkeypatch.setenv("ALIVE_LOG", str(log))
    monkeypatch.setenv("SESSION_MARKER", f"wsenv-{uuid.uuid4()}")
    members = [Member(f"m{i:02d}", {"tests/test_c.py": COUNTS_CHILDREN}) for i in range(10)]
    write_workspace(pytester, *members, fork=False, stream=stream, collect_parallel=2)
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=10)
    peak = max(int(n) for n in log.read_text().split())
    if bounded:  # the collect slots: a member holds one from its start to its end
        assert peak <= 2
    else:  # every member collected first, then each waits alive for its turn
        assert peak >= 5


def test_a_collection_error_of_a_later_member_interrupts_the_session(
    pytester: pytest.Pytester, flag: Path
) -> None:
    first = Member("alpha", {"tests/test_a.py": WRITES_FLAG})
    broken = Member(
        "beta",
        {
            "tests/conftest.py": WAITS_FOR_FLAG,
            "tests/test_b.py": "def test_b():\n    pass\n",
            "tests/test_broken.py": "import no_such_module_anywhere\n",
        },
    )
    third = Member("gamma", {"tests/test_c.py": "def test_c():\n    pass\n"})
    write_workspace(pytester, first, broken, third, fork=True, stream=True, collect_parallel=2)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        ["*ERROR collecting beta/tests/test_broken.py*", "*Interrupted: 1 error during collection*"]
    )
    assert "test_b" not in result.stdout.str().split("short test summary")[0].split("ERRORS")[0]


def test_last_failed_waits_for_every_member_and_says_why(pytester: pytest.Pytester) -> None:
    members = [
        Member("alpha", {"tests/test_a.py": "def test_a():\n    assert False\n"}),
        Member("beta", {"tests/test_b.py": "def test_b():\n    pass\n"}),
    ]
    write_workspace(pytester, *members, fork=True, stream=True)
    pytester.runpytest_subprocess().assert_outcomes(passed=1, failed=1)
    result = pytester.runpytest_subprocess("--lf")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["wsenv: --ws-stream waits for every member to collect: --lf selects and orders*"]
    )


def test_exitfirst_stops_members_that_are_still_to_collect(pytester: pytest.Pytester) -> None:
    members = [Member("alpha", {"tests/test_a.py": "def test_a():\n    assert False\n"})] + [
        Member(f"m{i}", {"tests/test_ok.py": "def test_ok():\n    pass\n"}) for i in range(6)
    ]
    write_workspace(pytester, *members, fork=True, stream=True, collect_parallel=1)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-x")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*stopping after 1 failures*"])


def test_no_tests_anywhere_is_exit_code_5(pytester: pytest.Pytester) -> None:
    members = [Member(n, {"tests/test_none.py": "X = 1\n"}) for n in ("alpha", "beta", "gamma")]
    write_workspace(pytester, *members, fork=True, stream=True, collect_parallel=1)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_keyword_deselection_is_counted_in_the_end(pytester: pytest.Pytester) -> None:
    tests = "def test_keep():\n    pass\n\ndef test_drop():\n    pass\n"
    members = [Member(n, {"tests/test_k.py": tests}) for n in ("alpha", "beta", "gamma")]
    write_workspace(pytester, *members, fork=True, stream=True, collect_parallel=1)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-k", "keep")
    result.assert_outcomes(passed=3, deselected=3)


def test_recorded_tests_are_counted_for_the_deepest_member() -> None:
    from pytest_wsenv.runner.collection import _recorded_counts
    from pytest_wsenv.runner.members import Member as RunMember
    from pytest_wsenv.runner.spec import ChildRequest

    def member(key: str, prefix: str, suffix: str = "") -> RunMember:
        return RunMember(
            ChildRequest(
                key=key,
                member=key,
                prepare=lambda: None,  # type: ignore[arg-type,return-value]
                nodeid_prefix=prefix,
                nodeid_suffix=suffix,
            )
        )

    members = [
        member("root", ""),
        member("outer", "packages/outer"),
        member("inner", "packages/outer/inner"),
        member("two@py3.12", "packages/two", "@py3.12"),
        member("two@py3.13", "packages/two", "@py3.13"),
    ]
    durations = {
        "tests/test_root.py::t": 0.1,
        "packages/outer/tests/test_o.py::t1": 0.1,
        "packages/outer/tests/test_o.py::t2[a@b]": 0.1,
        "packages/outer/inner/tests/test_i.py::t": 0.1,
        "packages/two/tests/test_t.py::t@py3.12": 0.1,
        "packages/two/tests/test_t.py::u@py3.12": 0.1,
        "packages/two/tests/test_t.py::t@py3.13": 0.1,
        "elsewhere/test_x.py::t": 0.1,
    }
    assert _recorded_counts(members, durations) == {
        "outer": 2,
        "inner": 1,
        "two@py3.12": 2,
        "two@py3.13": 1,
    }


def test_a_member_that_fails_to_build_while_others_run_is_one_error(
    pytester: pytest.Pytester,
) -> None:
    members = [
        Member(
            "alpha", {"tests/test_a.py": "def test_1():\n    pass\n\ndef test_2():\n    pass\n"}
        ),
        Member("beta", {"tests/test_b.py": "def test_b():\n    pass\n"}, build_error="no wheel"),
    ]
    write_workspace(pytester, *members, fork=True, stream=True, collect_parallel=1)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*member 'beta': could not prepare its environment: no wheel*"])
