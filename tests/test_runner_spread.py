"""One member's tests spread over several children with -n (pytest-xdist's --dist modes)."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest

from pytest_wsenv.runner.spread import group_tests, spreadable

from ._runner_workspace import Member, write_workspace

SMALL = Member("small", {"tests/test_s.py": "def test_s():\n    pass\n"})


def _logging_test(name: str, sleep: float, body: str = "", indent: str = "") -> str:
    """A test that records which process ran it, after ``sleep`` seconds."""
    return (
        f"{indent}def {name}({'self' if indent else ''}):\n"
        f"{indent}    time.sleep({sleep})\n"
        f"{indent}    with open(os.environ['PIDLOG'], 'a') as log:\n"
        f"{indent}        log.write(f'{{__name__}}::{name} {{os.getpid()}}\\n')\n"
        + (f"{indent}    {body}\n" if body else "")
        + "\n"
    )


def _big(modules: int = 3, per: int = 8, sleep: float = 0.1, extra: str = "") -> Member:
    files = {}
    for mod in range(modules):
        tests = "".join(_logging_test(f"test_{i}", sleep) for i in range(per))
        files[f"tests/test_m{mod}.py"] = "import os\nimport time\n\n" + tests
    if extra:
        files["tests/test_extra.py"] = "import os\nimport time\n\nimport pytest\n\n" + extra
    return Member("big", files)


def _pids(log: Path) -> dict[str, str]:
    """``{module::test: pid}`` from the tests' log."""
    found = {}
    for line in log.read_text().splitlines():
        test, pid = line.split()
        found[test] = pid
    return found


@pytest.fixture
def pidlog(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    log = tmp_path / "pids"
    monkeypatch.setenv("PIDLOG", str(log))
    return log


def _junit(path: Path) -> list[tuple[str, str, str]]:
    text = path.read_text()
    cases = re.findall(
        r'<testcase classname="([^"]+)" name="([^"]+)"[^>]*?(/>|>.*?</testcase>)', text, re.S
    )
    return sorted(
        (classname, name, "failure" if "<failure" in rest else "passed")
        for classname, name, rest in cases
    )


def test_a_big_member_runs_in_two_children_with_the_results_of_one(
    pytester: pytest.Pytester, pidlog: Path
) -> None:
    write_workspace(pytester, _big(), SMALL, max_parallel=2, fork=True, print_summary=True)
    spread = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--junitxml=spread.xml")
    spread.assert_outcomes(passed=25)
    # the summary adds up the member's children
    spread.stdout.fnmatch_lines(["wsenv-summary key=big member=big run=24 passed=24 restarts=0 *"])
    pids = _pids(pidlog)
    assert len(pids) == 24
    assert len(set(pids.values())) == 2

    pidlog.unlink()
    write_workspace(pytester, _big(), SMALL, max_parallel=1, fork=True)
    serial = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--junitxml=serial.xml")
    serial.assert_outcomes(passed=25)
    assert len(set(_pids(pidlog).values())) == 1
    assert _junit(pytester.path / "spread.xml") == _junit(pytester.path / "serial.xml")


def test_a_member_with_few_tests_stays_in_one_child(
    pytester: pytest.Pytester, pidlog: Path
) -> None:
    write_workspace(pytester, _big(modules=1, per=5), SMALL, max_parallel=2, fork=True)
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=6)
    assert len(set(_pids(pidlog).values())) == 1


@pytest.mark.parametrize("dist", ["loadfile", "loadscope"])
def test_loadfile_and_loadscope_keep_a_module_in_one_child(
    pytester: pytest.Pytester, pidlog: Path, dist: str
) -> None:
    write_workspace(pytester, _big(), SMALL, max_parallel=2, fork=True, dist=dist)
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=25)
    by_module: dict[str, set[str]] = defaultdict(set)
    for test, pid in _pids(pidlog).items():
        by_module[test.split("::")[0]].add(pid)
    assert all(len(pids) == 1 for pids in by_module.values()), by_module
    assert len(set().union(*by_module.values())) == 2


def test_loadscope_keeps_a_class_in_one_child(pytester: pytest.Pytester, pidlog: Path) -> None:
    classes = "".join(
        f"class TestC{c}:\n"
        + "".join(_logging_test(f"test_{c}_{i}", 0.1, indent="    ") for i in range(6))
        for c in range(4)
    )
    member = Member("big", {"tests/test_classes.py": "import os\nimport time\n\n" + classes})
    write_workspace(pytester, member, SMALL, max_parallel=2, fork=True, dist="loadscope")
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=25)
    by_class: dict[str, set[str]] = defaultdict(set)
    for test, pid in _pids(pidlog).items():
        by_class[test.split("::")[1].rsplit("_", 1)[0]].add(pid)
    assert all(len(pids) == 1 for pids in by_class.values()), by_class
    assert len(set().union(*by_class.values())) == 2


def test_loadgroup_keeps_an_xdist_group_in_one_child(
    pytester: pytest.Pytester, pidlog: Path
) -> None:
    grouped = "".join(
        "@pytest.mark.xdist_group('db')\n" + _logging_test(f"test_db_{i}", 0.1) for i in range(6)
    )
    write_workspace(
        pytester, _big(extra=grouped), SMALL, max_parallel=2, fork=True, dist="loadgroup"
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=31)
    pids = _pids(pidlog)
    assert len({pid for test, pid in pids.items() if "test_db_" in test}) == 1
    assert len(set(pids.values())) == 2


def test_a_crash_in_a_spread_member_fails_one_test_and_the_others_run(
    pytester: pytest.Pytester, pidlog: Path
) -> None:
    crash = _logging_test("test_crash", 0.1, body="os._exit(3)")
    write_workspace(pytester, _big(extra=crash), SMALL, max_parallel=2, fork=True)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rf")
    result.assert_outcomes(passed=25, failed=1)
    result.stdout.fnmatch_lines(["*member 'big' crashed while running *test_crash*"])
    assert len(_pids(pidlog)) == 25


def test_exitfirst_stops_every_child_of_a_spread_member(
    pytester: pytest.Pytester, pidlog: Path
) -> None:
    failing = _logging_test("test_fails", 0.2, body="assert False")
    write_workspace(pytester, _big(extra=failing), SMALL, max_parallel=2, fork=True)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-x")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*stopping after 1 failures*"])
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] == 1
    assert outcomes.get("passed", 0) < 25


def test_without_a_spreading_dist_mode_a_member_stays_whole(
    pytester: pytest.Pytester, pidlog: Path
) -> None:
    write_workspace(pytester, _big(), SMALL, max_parallel=2, fork=True, dist="each")
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=25)
    assert len(set(_pids(pidlog).values())) == 1


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("load", [["a.py::t1"], ["a.py::t2[x::y]"], ["a.py::C::t3"], ["b.py::t4"]]),
        ("worksteal", [["a.py::t1"], ["a.py::t2[x::y]"], ["a.py::C::t3"], ["b.py::t4"]]),
        ("loadfile", [["a.py::t1", "a.py::t2[x::y]", "a.py::C::t3"], ["b.py::t4"]]),
        ("loadscope", [["a.py::t1", "a.py::t2[x::y]"], ["a.py::C::t3"], ["b.py::t4"]]),
        ("loadgroup", [["a.py::t1", "b.py::t4"], ["a.py::t2[x::y]"], ["a.py::C::t3"]]),
    ],
)
def test_tests_are_grouped_as_dist_says(mode: str, expected: list[list[str]]) -> None:
    ids = ["a.py::t1", "a.py::t2[x::y]", "a.py::C::t3", "b.py::t4"]
    marks = {"a.py::t1": "g", "b.py::t4": "g"}
    assert group_tests(ids, mode, marks) == expected


def test_only_members_with_enough_work_are_spread() -> None:
    assert not spreadable([["a"]], 100.0)  # one group cannot be shared
    assert not spreadable([[str(i)] for i in range(15)], 0.0)
    assert spreadable([[str(i)] for i in range(16)], 0.0)
    assert spreadable([["a"], ["b"]], 5.0)  # few tests, but slow ones (recorded)


def test_last_failed_reruns_only_the_failures_of_a_spread_member(
    pytester: pytest.Pytester, pidlog: Path
) -> None:
    failing = _logging_test("test_fails_a", 0.1, body="assert False") + _logging_test(
        "test_fails_b", 0.1, body="assert False"
    )
    write_workspace(pytester, _big(extra=failing), SMALL, max_parallel=2, fork=True)
    pytester.runpytest_subprocess().assert_outcomes(passed=25, failed=2)
    assert len(set(_pids(pidlog).values())) == 2
    again = pytester.runpytest_subprocess("--lf")
    again.assert_outcomes(failed=2, deselected=25)
