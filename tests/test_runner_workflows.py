"""pytest's everyday workflows through the runner: interrupts, output, who ran what."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET

import pytest

from tests._runner_workspace import Member, write_workspace

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "300")


@pytest.mark.parametrize("fork", [False, True], ids=["new-interpreter", "forked"])
def test_keyboard_interrupt_in_a_test_interrupts_the_session(
    pytester: pytest.Pytester, fork: bool
) -> None:
    member = Member(
        "bird-feeder",
        {
            "tests/test_k.py": (
                "def test_before():\n    pass\n\n"
                "def test_interrupt():\n    raise KeyboardInterrupt\n\n"
                "def test_after():\n    pass\n"
            )
        },
    )
    other = Member("other", {"tests/test_o.py": "def test_other():\n    pass\n"})
    write_workspace(pytester, member, other, fork=fork)
    result = pytester.runpytest_subprocess("-rA")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    # as in pytest: the test before passed, the interrupted one has no result, nothing after ran
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*! Interrupted: KeyboardInterrupt in member 'bird-feeder' at "
            "bird-feeder/tests/test_k.py:5 !*"
        ]
    )
    result.stdout.no_fnmatch_line("*crashed*")
    result.stdout.no_fnmatch_line("*test_other*")


def test_exitfirst_stops_at_the_first_collection_error(pytester: pytest.Pytester) -> None:
    broken = [
        Member(name, {"tests/test_broken.py": "import not_installed_anywhere\n"})
        for name in ("alpha", "beta", "gamma")
    ]
    fine = Member("delta", {"tests/test_fine.py": "def test_fine():\n    pass\n"})
    write_workspace(pytester, *broken, fine)
    result = pytester.runpytest("-x")
    # like pytest in one directory: one error, then "stopping after 1 failures"; nothing runs
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["ERROR alpha/tests/test_broken.py*", "*! stopping after 1 failures !*"]
    )
    result.stdout.no_fnmatch_line("*beta*")
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_exitfirst_stops_at_the_first_collection_error_of_a_member(
    pytester: pytest.Pytester,
) -> None:
    broken = {f"tests/test_b{i}.py": "import not_installed_anywhere\n" for i in range(4)}
    write_workspace(pytester, Member("alpha", broken))
    result = pytester.runpytest("-x")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*! stopping after 1 failures !*"])


def test_maxfail_counts_collection_errors_like_pytest(pytester: pytest.Pytester) -> None:
    broken = [
        Member(name, {"tests/test_broken.py": "import not_installed_anywhere\n"})
        for name in ("alpha", "beta", "gamma")
    ]
    write_workspace(pytester, *broken)
    result = pytester.runpytest("--maxfail=2")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*! stopping after 2 failures !*"])
    result.stdout.no_fnmatch_line("*gamma*")


FAILING = {"tests/test_f.py": "def test_same_name():\n    assert False\n"}


def test_junit_says_which_member_and_python_ran_each_test(pytester: pytest.Pytester) -> None:
    write_workspace(
        pytester,
        Member("alpha", FAILING),
        Member("beta", {"tests/test_p.py": "def test_same_name():\n    pass\n"}),
    )
    result = pytester.runpytest("--junitxml=junit.xml")
    result.assert_outcomes(passed=1, failed=1)
    root = ET.parse(pytester.path / "junit.xml").getroot()
    found = {
        case.get("classname"): {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in root.iter("testcase")
    }
    python = ".".join(map(str, sys.version_info[:3]))
    assert found == {
        "alpha.tests.test_f": {"wsenv.member": "alpha", "wsenv.python": python},
        "beta.tests.test_p": {"wsenv.member": "beta", "wsenv.python": python},
    }


def test_failure_headers_name_the_member_and_python_when_there_are_several(
    pytester: pytest.Pytester,
) -> None:
    write_workspace(
        pytester,
        Member("alpha", FAILING, key="alpha@a", suffix="@py3.x"),
        Member("beta", FAILING),
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=2)
    minor = "py{}.{}".format(*sys.version_info[:2])
    result.stdout.fnmatch_lines(
        [
            f"*_ test_same_name (member alpha, {minor}) _*",
            f"*_ test_same_name (member beta, {minor}) _*",
        ]
    )


def test_failure_headers_stay_plain_with_one_member(pytester: pytest.Pytester) -> None:
    write_workspace(pytester, Member("alpha", FAILING))
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*_ test_same_name _*"])


PRINTING = {
    "tests/test_print.py": (
        "import sys\n\n"
        "def test_one():\n    print('out of one')\n    print('err of one', file=sys.stderr)\n\n"
        "def test_two():\n    print('out of two')\n"
    )
}


@pytest.mark.parametrize("fork", [False, True], ids=["new-interpreter", "forked"])
def test_capture_no_shows_output_as_pytest_does(pytester: pytest.Pytester, fork: bool) -> None:
    write_workspace(pytester, Member("alpha", PRINTING), fork=fork)
    result = pytester.runpytest_subprocess("-s")
    result.assert_outcomes(passed=2)
    # the same lines, in the same order, as `pytest -s` in the member's directory
    result.stdout.fnmatch_lines(["alpha/tests/test_print.py out of one", ".out of two", "."])
    result.stderr.fnmatch_lines(["err of one"])
    result.stdout.no_fnmatch_line("*test session starts*test session starts*")
    assert result.stdout.str().count("test session starts") == 1


def test_capture_no_with_parallel_children_prefixes_each_line(pytester: pytest.Pytester) -> None:
    write_workspace(
        pytester,
        Member("alpha", PRINTING),
        Member("beta", {"tests/test_b.py": "def test_b():\n    print('out of beta')\n"}),
        max_parallel=2,
    )
    result = pytester.runpytest_subprocess("-s")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines_random(
        [
            "*[[]alpha[]] out of one",
            "*[[]alpha[]] err of one",
            "*[[]alpha[]] out of two",
            "*[[]beta[]] out of beta",
        ]
    )


def test_breakpoint_without_a_terminal_fails_the_test_and_says_why(
    pytester: pytest.Pytester,
) -> None:
    member = Member(
        "alpha",
        {
            "tests/test_bp.py": (
                "def test_stops():\n    breakpoint()\n\ndef test_after():\n    pass\n"
            )
        },
    )
    write_workspace(pytester, member)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*breakpoint() needs the terminal*without -n*"])


def test_parallel_progress_stays_on_one_line(pytester: pytest.Pytester) -> None:
    tests = "".join(f"def test_{i}():\n    pass\n\n" for i in range(4))
    write_workspace(
        pytester,
        Member("alpha", {"tests/test_a.py": tests}),
        Member("beta", {"tests/test_b.py": tests}),
        max_parallel=2,
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=8)
    result.stdout.fnmatch_lines(["collected 8 items", "........ *[[]100%]"])
    result.stdout.no_fnmatch_line("alpha/tests/test_a.py *")


def test_a_conftest_that_widens_sys_path_is_warned_about_once(pytester: pytest.Pytester) -> None:
    widening = (
        "import sys, pathlib\n"
        "sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / 'vendor'))\n"
    )
    members = [
        Member(
            name,
            {"tests/test_v.py": "def test_v():\n    import vendored\n"},
            directory=f"packages/{name}",
        )
        for name in ("alpha", "beta")
    ]
    write_workspace(
        pytester,
        *members,
        root_files={
            "pytest.ini": "[pytest]\n",
            "packages/conftest.py": widening,
            "vendor/vendored.py": "",
        },
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)  # the hole: vendored is importable in isolation
    result.stdout.fnmatch_lines(
        ["*PathWidened: packages/conftest.py puts vendor on sys.path in every member's child*"]
    )
    assert result.stdout.str().count("puts vendor on sys.path") == 1
