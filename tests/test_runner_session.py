"""End-to-end behaviour of the runner: children replayed into one pytest session."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from tests._runner_workspace import Member, write_workspace

pytestmark = pytest.mark.timeout(60)

ALPHA = Member(
    "alpha",
    {
        "tests/test_a.py": """
            import pytest

            def test_one():
                pass

            def test_two():
                assert 1 == 2

            @pytest.mark.skip(reason="not today")
            def test_skipped():
                pass
        """
    },
)
BETA = Member(
    "beta",
    {
        "tests/test_b.py": """
            import pytest

            @pytest.mark.parametrize("x", [1, 2])
            def test_param(x):
                pass

            @pytest.mark.xfail(reason="known")
            def test_xfail():
                assert 0
        """
    },
)
PASSING = Member(
    "gamma",
    {"tests/test_g.py": "def test_g1():\n    pass\n\ndef test_g2():\n    pass\n"},
    directory="packages/gamma",
)


def test_outcomes_ids_and_exit_code_1(pytester: pytest.Pytester) -> None:
    write_workspace(pytester, ALPHA, BETA)
    result = pytester.runpytest("-rA")
    result.assert_outcomes(passed=3, failed=1, skipped=1, xfailed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "collected 6 items",
            "",
            "alpha/tests/test_a.py .Fs * [[] 50%]",
            "beta/tests/test_b.py ..x * [[]100%]",
            "*= FAILURES =*",
            "*_ test_two (member alpha) _*",
            "*def test_two():",
            "*assert 1 == 2",
            "alpha/tests/test_a.py:8: AssertionError",
            "*short test summary info*",
            "PASSED alpha/tests/test_a.py::test_one",
            "PASSED beta/tests/test_b.py::test_param[[]1]",
            "PASSED beta/tests/test_b.py::test_param[[]2]",
            "SKIPPED [[]1] alpha/tests/test_a.py:10: not today",
            "XFAIL beta/tests/test_b.py::test_xfail - known",
            "FAILED alpha/tests/test_a.py::test_two - assert 1 == 2",
        ]
    )


def test_all_passing_exit_0_quiet(pytester: pytest.Pytester) -> None:
    write_workspace(pytester, PASSING)
    result = pytester.runpytest("-q")
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines([".. * [[]100%]", "2 passed in *"])


def test_verbose_lines_use_parent_ids(pytester: pytest.Pytester) -> None:
    write_workspace(pytester, PASSING, ALPHA)
    result = pytester.runpytest("-v")
    result.stdout.fnmatch_lines(
        [
            "packages/gamma/tests/test_g.py::test_g1 PASSED * [[] 20%]",
            "packages/gamma/tests/test_g.py::test_g2 PASSED * [[] 40%]",
            "alpha/tests/test_a.py::test_one PASSED * [[] 60%]",
            "alpha/tests/test_a.py::test_two FAILED * [[] 80%]",
            "alpha/tests/test_a.py::test_skipped SKIPPED (not today) * [[]100%]",
        ]
    )


def test_in_process_tests_coexist(pytester: pytest.Pytester) -> None:
    write_workspace(pytester, PASSING, root_files={"test_root.py": "def test_here():\n    pass\n"})
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "*collected 3 items",
            "test_root.py::test_here PASSED*",
            "packages/gamma/tests/test_g.py::test_g1 PASSED*",
            "packages/gamma/tests/test_g.py::test_g2 PASSED*[[]100%]",
        ]
    )


def test_no_tests_exit_5(pytester: pytest.Pytester) -> None:
    write_workspace(pytester, Member("empty", {"tests/test_nothing.py": "X = 1\n"}))
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    result.stdout.fnmatch_lines(["collected 0 items", "*no tests ran*"])


def test_collection_error_in_a_member_exit_2(pytester: pytest.Pytester) -> None:
    broken = Member("broken", {"tests/test_bad.py": "import not_a_module_anywhere\n"})
    write_workspace(pytester, broken, PASSING)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        [
            "collected 2 items / 1 error",
            "*= ERRORS =*",
            "*_ ERROR collecting broken/tests/test_bad.py _*",
            "ImportError while importing test module '*/broken/tests/test_bad.py'.",
            "E   ModuleNotFoundError: No module named 'not_a_module_anywhere'",
            "*short test summary info*",
            "ERROR broken/tests/test_bad.py - ImportError while importing test module*",
            "*Interrupted: 1 error during collection*",
        ]
    )
    result.stdout.no_fnmatch_line("*test_g.py*.*")


def test_continue_on_collection_errors_runs_the_rest(pytester: pytest.Pytester) -> None:
    broken = Member("broken", {"tests/test_bad.py": "import not_a_module_anywhere\n"})
    write_workspace(pytester, broken, PASSING)
    result = pytester.runpytest("--continue-on-collection-errors")
    result.assert_outcomes(passed=2, errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_junitxml_two_members(pytester: pytest.Pytester) -> None:
    write_workspace(pytester, ALPHA, BETA)
    result = pytester.runpytest("--junitxml=out.xml")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    suite = ET.parse(pytester.path / "out.xml").getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("6", "1", "2")
    cases = {(c.get("classname"), c.get("name")): c for c in suite.iter("testcase")}
    assert set(cases) == {
        ("alpha.tests.test_a", "test_one"),
        ("alpha.tests.test_a", "test_two"),
        ("alpha.tests.test_a", "test_skipped"),
        ("beta.tests.test_b", "test_param[1]"),
        ("beta.tests.test_b", "test_param[2]"),
        ("beta.tests.test_b", "test_xfail"),
    }
    failure = cases[("alpha.tests.test_a", "test_two")].find("failure")
    assert failure is not None and "assert 1 == 2" in (failure.get("message") or "")


FAIL_FIRST = Member(
    "first",
    {
        "tests/test_f.py": """
            def test_f1():
                pass

            def test_f2():
                assert False

            def test_f3():
                assert False

            def test_f4():
                pass
        """
    },
)
SECOND = Member(
    "second",
    {"tests/test_s.py": "def test_s1():\n    assert False\n\ndef test_s2():\n    pass\n"},
)


def test_exitfirst_stops_other_members(pytester: pytest.Pytester) -> None:
    write_workspace(pytester, FAIL_FIRST, SECOND)
    result = pytester.runpytest("-x")
    result.assert_outcomes(passed=1, failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*! stopping after 1 failures !*"])
    result.stdout.no_fnmatch_line("*test_s.py*")


def test_maxfail_counts_across_members(pytester: pytest.Pytester) -> None:
    only_one = Member(
        "first",
        {"tests/test_f.py": "def test_f1():\n    pass\n\ndef test_f2():\n    assert False\n"},
    )
    write_workspace(pytester, only_one, SECOND)
    result = pytester.runpytest("--maxfail=2", "-v")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "first/tests/test_f.py::test_f2 FAILED*",
            "second/tests/test_s.py::test_s1 FAILED*",
            "*! stopping after 2 failures !*",
        ]
    )
    result.stdout.no_fnmatch_line("*test_s2*")


MARKED = Member(
    "marked",
    {
        "pyproject.toml": """
            [project]
            name = "marked"
            version = "0"

            [tool.pytest.ini_options]
            markers = ["slowish: slow-ish"]
        """,
        "tests/test_m.py": """
            import pytest

            def test_apple():
                pass

            def test_banana():
                pass

            @pytest.mark.slowish
            def test_cherry():
                pass
        """,
    },
)


def test_keyword_deselection_counts(pytester: pytest.Pytester) -> None:
    write_workspace(pytester, MARKED, PASSING)
    result = pytester.runpytest("-k", "apple or g1")
    result.assert_outcomes(passed=2, deselected=3)
    result.stdout.fnmatch_lines(["collected 5 items / 3 deselected / 2 selected"])


def test_marker_deselection_counts(pytester: pytest.Pytester) -> None:
    write_workspace(pytester, MARKED)
    result = pytester.runpytest("-m", "slowish", "-v")
    result.assert_outcomes(passed=1, deselected=2)
    result.stdout.fnmatch_lines(["marked/tests/test_m.py::test_cherry PASSED*"])


def test_all_deselected_exit_5(pytester: pytest.Pytester) -> None:
    write_workspace(pytester, MARKED)
    result = pytester.runpytest("-k", "nothing_matches")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    result.assert_outcomes(deselected=3)


def test_collect_only_tree_and_ids(pytester: pytest.Pytester) -> None:
    write_workspace(pytester, ALPHA, PASSING)
    result = pytester.runpytest("--collect-only")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "collected 5 items",
            "",
            f"<Dir {pytester.path.name}>",
            "  <Dir alpha>",
            "    <Dir tests>",
            "      <Module test_a.py>",
            "        <Function test_one>",
            "        <Function test_two>",
            "        <Function test_skipped>",
            "  <Dir packages>",
            "    <Dir gamma>",
            "      <Dir tests>",
            "        <Module test_g.py>",
            "          <Function test_g1>",
            "          <Function test_g2>",
            "",
            "*= 5 tests collected in *",
        ]
    )
    quiet = pytester.runpytest("--collect-only", "-q")
    quiet.stdout.fnmatch_lines(
        [
            "alpha/tests/test_a.py::test_one",
            "alpha/tests/test_a.py::test_two",
            "alpha/tests/test_a.py::test_skipped",
            "packages/gamma/tests/test_g.py::test_g1",
            "packages/gamma/tests/test_g.py::test_g2",
            "",
            "5 tests collected in *",
        ]
    )
    counts = pytester.runpytest("--collect-only", "-qq")
    counts.stdout.fnmatch_lines(["alpha/tests/test_a.py: 3", "packages/gamma/tests/test_g.py: 2"])


def test_durations(pytester: pytest.Pytester) -> None:
    slowish = Member(
        "sleepy", {"tests/test_z.py": "import time\n\ndef test_nap():\n    time.sleep(0.3)\n"}
    )
    write_workspace(pytester, slowish)
    result = pytester.runpytest("--durations=3", "--durations-min=0.2")
    result.stdout.fnmatch_lines(
        ["*slowest 3 durations*", "0.[3-9]*s call     sleepy/tests/test_z.py::test_nap"]
    )


def test_warning_in_child_reaches_summary(pytester: pytest.Pytester) -> None:
    warner = Member(
        "warner",
        {
            "tests/test_w.py": """
                import warnings

                class MemberOwnWarning(UserWarning):
                    pass

                def test_warns():
                    warnings.warn(MemberOwnWarning("mind the gap"))

                def test_builtin():
                    warnings.warn(DeprecationWarning("old stuff"))
            """
        },
    )
    write_workspace(pytester, warner)
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, warnings=2)
    result.stdout.fnmatch_lines(
        [
            "*= warnings summary =*",
            "warner/tests/test_w.py::test_warns",
            "*test_w.py:8: MemberOwnWarning: mind the gap",
            "*",
            "warner/tests/test_w.py::test_builtin",
            "*test_w.py:11: DeprecationWarning: old stuff",
        ]
    )


def test_env_build_error_fails_only_that_member(pytester: pytest.Pytester) -> None:
    broken = Member("nobuild", {}, build_error="cannot build the environment of 'nobuild'")
    write_workspace(pytester, broken, PASSING)
    result = pytester.runpytest("-rA")
    result.assert_outcomes(passed=2, errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "collected 2 items / 1 error",
            "packages/gamma/tests/test_g.py .. *",
            "*_ ERROR collecting nobuild _*",
            "member 'nobuild': could not prepare its environment: cannot build the "
            "environment of 'nobuild'",
            "resolver said no",
            "last log line",
            "*short test summary info*",
            "ERROR nobuild - member 'nobuild': could not prepare its environment:*",
        ]
    )
    result.stdout.no_fnmatch_line("*Interrupted*")


def test_member_error_with_exitfirst_runs_nothing(pytester: pytest.Pytester) -> None:
    broken = Member("nobuild", {}, build_error="no env for you")
    write_workspace(pytester, broken, PASSING)
    result = pytester.runpytest("-x")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*! stopping after 1 failures !*"])


def test_same_member_twice_with_suffixes(pytester: pytest.Pytester) -> None:
    files = {"tests/test_t.py": "def test_t():\n    pass\n\ndef test_u():\n    pass\n"}
    first = Member("twin", files, key="twin@a", suffix="@a")
    second = Member("twin", files, key="twin@b", suffix="@b")
    write_workspace(pytester, first, second)
    result = pytester.runpytest("-rA", "--junitxml=out.xml")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "twin/tests/test_t.py ....*[[]100%]",
            "PASSED twin/tests/test_t.py::test_t@a",
            "PASSED twin/tests/test_t.py::test_u@a",
            "PASSED twin/tests/test_t.py::test_t@b",
            "PASSED twin/tests/test_t.py::test_u@b",
        ]
    )
    names = sorted(
        c.get("name") or "" for c in ET.parse(pytester.path / "out.xml").iter("testcase")
    )
    assert names == ["test_t@a", "test_t@b", "test_u@a", "test_u@b"]


def test_child_rootdir_from_workspace_ini(pytester: pytest.Pytester) -> None:
    """A member without its own pytest config uses the workspace root's (rootdir = root)."""
    write_workspace(
        pytester,
        PASSING,
        root_files={"pyproject.toml": "[tool.pytest.ini_options]\naddopts = '-p no:randomly'\n"},
    )
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["packages/gamma/tests/test_g.py::test_g1 PASSED*"])


def test_last_failed_round_trip(pytester: pytest.Pytester) -> None:
    write_workspace(pytester, ALPHA, BETA)
    pytester.runpytest("-p", "cacheprovider").assert_outcomes(
        passed=3, failed=1, skipped=1, xfailed=1
    )
    result = pytester.runpytest("-p", "cacheprovider", "--lf", "-v")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["alpha/tests/test_a.py::test_two FAILED*"])


def test_traceback_paths_relative_to_parent(pytester: pytest.Pytester) -> None:
    helper = Member(
        "deep",
        {
            "src/deep_helper.py": "def check(x):\n    assert x == 1\n",
            "tests/test_d.py": """
                import sys, pathlib
                sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "src"))
                from deep_helper import check

                def test_deep():
                    check(2)
            """,
        },
    )
    write_workspace(pytester, helper)
    result = pytester.runpytest("--tb=short")
    result.stdout.fnmatch_lines(
        ["deep/tests/test_d.py:7: in test_deep", "deep/src/deep_helper.py:2: in check"]
    )


def _counted_member(name: str, log: str, *, fail: bool = False, slow_exit: bool = False) -> Member:
    """A member whose test module notes every import (one per collection) in ``log``."""
    slow = {"conftest.py": "import time\n\ndef pytest_unconfigure():\n    time.sleep(1)\n"}
    return Member(
        name,
        {
            **(slow if slow_exit else {}),
            "tests/test_m.py": f"""
                import os, warnings
                with open({log!r}, "a") as f:
                    f.write("{name} " + str(os.getpid()) + "\\n")
                warnings.warn(UserWarning("collected {name}"))

                def test_first():
                    assert not {fail!r}

                def test_second():
                    pass

                def test_other_k():
                    pass
            """,
            "tests/test_skipped.py": "import pytest\npytest.importorskip('no_such_mod')\n",
        },
    )


def test_members_beyond_max_idle_are_parked_and_collect_again(
    pytester: pytest.Pytester,
) -> None:
    """With max_idle=1 one collected child waits; every other member's child exits after
    collecting, and a new one collects again and runs its selected tests at its turn.
    Nothing is counted twice."""
    log = pytester.path / "imports.log"
    names = ["m1", "m2", "m3", "m4", "m5"]
    write_workspace(
        pytester, *(_counted_member(n, str(log)) for n in names), max_idle=1, print_summary=True
    )
    result = pytester.runpytest("-k", "not other_k", "-rA")
    result.assert_outcomes(passed=10, skipped=5, deselected=5, warnings=5)
    imports = log.read_text().split()
    counts = sorted(imports[0::2].count(n) for n in names)
    assert counts == [1, 2, 2, 2, 2], imports  # one waited; four were parked
    for n in names:
        result.stdout.fnmatch_lines([f"PASSED {n}/tests/test_m.py::test_first"], consecutive=False)
        result.stdout.fnmatch_lines([f"wsenv-summary key={n} *run=2 *restarts=0 *"])
    assert result.ret == pytest.ExitCode.OK


def test_parked_members_are_not_started_again_after_exitfirst(
    pytester: pytest.Pytester,
) -> None:
    """-x stops the run while parked children are still exiting (they take a second):
    they end as done, nothing waits for them, none starts again."""
    log = pytester.path / "imports.log"
    first = _counted_member("m1", str(log), fail=True)
    rest = [_counted_member(n, str(log), slow_exit=True) for n in ("m2", "m3", "m4")]
    write_workspace(pytester, first, *rest, max_idle=1)
    result = pytester.runpytest("-x")
    result.assert_outcomes(failed=1, skipped=4, warnings=4)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    imports = log.read_text().split()[0::2]
    # m1 collected again only if it was parked; the others' turns never came
    assert [imports.count(n) for n in ("m2", "m3", "m4")] == [1, 1, 1], imports
    assert imports.count("m1") in (1, 2), imports
    result.stdout.fnmatch_lines(["*! stopping after 1 failures !*"])
