"""``pytest-wsenv combine`` on junit files and coverage data written by real pytest runs."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pytest_wsenv.ci import combine_reports, read_junit, summary_line
from pytest_wsenv.cli import main

from .conftest import MakeWorkspace
from .support.workspaces import write_workspace

TESTS = """
    import pytest

    def test_one():
        pass

    def test_two():
        assert {FAIL} == 0

    @pytest.mark.skip(reason="not here")
    def test_skipped():
        pass

    @pytest.mark.xfail(reason="known")
    def test_xfail():
        assert False
"""


def run_job(
    pytester: pytest.Pytester,
    out: Path,
    name: str | None,
    *,
    fail: bool = False,
    module: str = "test_job",
) -> pytest.RunResult:
    """A real pytest run of the job ``name`` writing its junit report to ``out``."""
    for old in pytester.path.glob("test_*.py"):
        old.unlink()
    pytester.makepyfile(**{module: textwrap.dedent(TESTS).replace("{FAIL}", str(int(fail)))})
    args = [f"--junitxml={out}", "-p", "no:cacheprovider"]
    if name is not None:
        args += ["-o", f"junit_suite_name={name}"]
    return pytester.runpytest(*args)


def combine(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["combine", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_same_tests_on_two_pythons_stay_apart(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = pytester.path / "reports"
    run_job(pytester, reports / "a" / "junit.xml", "seeds py3.11").assert_outcomes(
        passed=2, skipped=1, xfailed=1
    )
    run_job(pytester, reports / "b" / "junit.xml", "seeds py3.12").assert_outcomes(
        passed=2, skipped=1, xfailed=1
    )
    merged = pytester.path / "junit.xml"
    code, out, err = combine(capsys, str(reports), "--junit-xml", str(merged))
    assert code == 0, out + err
    assert out.splitlines()[-1].startswith("4 passed, 2 skipped, 2 xfailed in ")
    assert out.splitlines()[-1].endswith("(2 reports)")

    root = ET.parse(merged).getroot()
    assert root.tag == "testsuites"
    assert {k: root.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": "8",
        "failures": "0",
        "errors": "0",
        "skipped": "4",
    }
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["seeds py3.11", "seeds py3.12"]
    for suite in suites:
        assert suite.get("tests") == "4"
        names = [c.get("name") for c in suite.iter("testcase")]
        assert names == ["test_one", "test_two", "test_skipped", "test_xfail"]
    # the combined file reads back as the same result
    again = combine_reports([merged])
    assert summary_line(again).split(" in ")[0] == "4 passed, 2 skipped, 2 xfailed"


def test_a_failure_fails_the_combination_and_is_named(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    run_job(pytester, pytester.path / "r/ok.xml", "shard 1/2 py3.12")
    run_job(pytester, pytester.path / "r/bad.xml", "seeds[fast] py3.12", fail=True)
    code, out, _ = combine(capsys, str(pytester.path / "r"))
    assert code == 1
    lines = out.splitlines()
    assert "FAILED [seeds[fast] py3.12] test_job::test_two" in lines
    assert lines[-1].startswith("1 failed, 3 passed, 2 skipped, 2 xfailed in ")


def test_errors_count_like_pytest(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(
        test_err="""
        import pytest

        @pytest.fixture
        def broken():
            raise RuntimeError("setup")

        def test_setup_error(broken):
            pass

        def test_fine():
            pass
        """,
        test_collect="import nowhere_to_be_found\n",
    )
    out = pytester.path / "junit.xml"
    result = pytester.runpytest(
        f"--junitxml={out}", "-p", "no:cacheprovider", "--continue-on-collection-errors"
    )
    result.assert_outcomes(passed=1, errors=2)
    code, text, _ = combine(capsys, str(out))
    assert code == 1
    assert text.splitlines()[-1].startswith("1 passed, 2 errors in ")
    assert "ERROR [junit.xml] test_err::test_setup_error" in text


def test_duplicates_are_detected(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    # two shards of one Python that both ran the same tests
    run_job(pytester, pytester.path / "r/1.xml", "shard 1/2 py3.12")
    run_job(pytester, pytester.path / "r/2.xml", "shard 2/2 py3.12")
    # the same tests with other extras or on another Python are no duplicates
    run_job(pytester, pytester.path / "r/3.xml", "seeds[fast] py3.12")
    run_job(pytester, pytester.path / "r/4.xml", "shard 1/2 py3.13")
    code, out, _ = combine(capsys, str(pytester.path / "r"))
    assert code == 1
    dups = [line for line in out.splitlines() if line.startswith("DUPLICATE")]
    assert len(dups) == 4
    assert "DUPLICATE py3.12 test_job::test_one in: shard 1/2 py3.12, shard 2/2 py3.12" in dups
    assert "4 duplicates" in out.splitlines()[-1]

    # one report given twice is an error naming both files
    code, out, err = combine(capsys, str(pytester.path / "r/1.xml"), str(pytester.path / "r/1.xml"))
    assert code == 2
    assert "reports the job 'shard 1/2 py3.12' again" in err
    assert "Traceback" not in err


def _sample_matrix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    files = {"pyproject.toml": '[tool.uv.workspace]\nmembers = ["packages/*"]\n'}
    for name in ("bird-feeder", "seeds"):
        files[f"packages/{name}/pyproject.toml"] = (
            f'[project]\nname = "{name}"\nversion = "1"\nrequires-python = ">=3.11"\n'
        )
    root = write_workspace(tmp_path / "ws", files)
    assert main(["-C", str(root), "matrix", "--format", "github", "--python", "3.12"]) == 0
    plan = tmp_path / "matrix.json"
    plan.write_text(capsys.readouterr().out)
    return plan


def test_a_planned_job_without_report_is_missing(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = _sample_matrix(pytester.path, capsys)
    names = [e["name"] for e in json.loads(plan.read_text())["include"]]
    assert names == ["bird-feeder py3.12", "seeds py3.12"]
    # each member's tests are its own (their ids differ), as in a workspace
    run_job(pytester, pytester.path / "r/seeds.xml", "seeds py3.12", module="test_seeds")
    code, out, _ = combine(capsys, str(pytester.path / "r"), "--matrix", str(plan))
    assert code == 1
    assert "MISSING [bird-feeder py3.12] no report for this planned job" in out
    assert out.splitlines()[-1].startswith("2 passed, 1 skipped, 1 xfailed, 1 missing in ")

    run_job(pytester, pytester.path / "r/feeder.xml", "bird-feeder py3.12", module="test_feeder")
    code, out, _ = combine(capsys, str(pytester.path / "r"), "--matrix", str(plan))
    assert code == 0, out


def test_unnamed_reports_are_labelled_by_path(pytester: pytest.Pytester) -> None:
    run_job(pytester, pytester.path / "job-a" / "junit.xml", None)
    (suite,) = read_junit(pytester.path / "job-a" / "junit.xml", label="job-a/junit.xml")
    assert suite.name == "job-a/junit.xml"
    assert suite.variant == ""
    assert len(suite.cases) == 4


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<coverage/>", "is not a junit XML report (its root element is <coverage>"),
        ("<testsuites>", "cannot read it as junit XML"),
    ],
)
def test_bad_input_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    bad = tmp_path / "report.xml"
    bad.write_text(text)
    code, _, err = combine(capsys, str(bad))
    assert code == 2
    assert err.startswith(f"pytest-wsenv: error: {bad}: {message}")
    assert len(err.splitlines()) == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = combine(capsys, str(empty))
    assert code == 2
    assert "no junit XML report found" in err
    (tmp_path / "matrix.json").write_text('{"jobs": 1}')
    code, _, err = combine(capsys, str(bad), "--matrix", str(tmp_path / "matrix.json"))
    assert code == 2


# -- coverage -----------------------------------------------------------------------------


MODULE = """
def left(x):
    if x:
        return 1
    return 2


def right(x):
    if x:
        return 3
    return 4
"""


def covered_job(tmp_path: Path, job: str, call: str, name: str) -> None:
    """A real ``coverage run -m pytest`` in ``tmp_path`` that calls ``call`` of the module,
    writing ``reports/<job>/junit.xml`` and ``reports/<job>/.coverage``."""
    (tmp_path / "calc.py").write_text(MODULE)
    (tmp_path / f"test_{job}.py").write_text(
        f"import calc\n\ndef test_{job}():\n    assert calc.{call}(1) and calc.{call}(0)\n"
    )
    out = tmp_path / "reports" / job
    out.mkdir(parents=True)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "coverage",
            "run",
            f"--data-file={out / '.coverage'}",
            "--source=calc",
            "-m",
            "pytest",
            f"test_{job}.py",
            f"--junitxml={out / 'junit.xml'}",
            "-o",
            f"junit_suite_name={name}",
            "-p",
            "no:cacheprovider",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_coverage_data_is_merged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("coverage")
    covered_job(tmp_path, "left", "left", "lefty py3.12")
    covered_job(tmp_path, "right", "right", "righty py3.12")
    monkeypatch.chdir(tmp_path)
    code, out, err = combine(capsys, "reports", "--cov-data", "merged.cov", "--cov-xml", "cov.xml")
    assert code == 0, out + err
    assert "coverage: 2 data file(s) combined into merged.cov" in err
    assert out.splitlines()[-1].endswith("(2 reports), coverage 100%")
    cobertura = ET.parse(tmp_path / "cov.xml").getroot()
    assert cobertura.get("line-rate") == "1"
    assert (tmp_path / "reports/left/.coverage").exists()  # inputs are kept

    # one job alone covers the module's two def lines and one function (5 of 8 lines)
    code, out, _ = combine(capsys, "reports/left", "--cov-data", "half.cov")
    assert code == 0
    assert out.splitlines()[-1].endswith("(1 report), coverage 62%")


def test_without_coverage_the_data_is_left_and_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("coverage")
    covered_job(tmp_path, "left", "left", "lefty py3.12")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "coverage", None)  # as if it were not installed
    code, _, err = combine(capsys, "reports")
    assert code == 0
    assert "1 coverage data file(s) left as they are: coverage is not installed" in err
    assert not (tmp_path / ".coverage").exists()
    code, _, err = combine(capsys, "reports", "--cov-xml", "cov.xml")
    assert code == 2
    assert "install coverage to combine them" in err


# -- end to end: isolated shards of a real workspace ----------------------------------------


@pytest.mark.slow
@pytest.mark.uv
@pytest.mark.timeout(600)
def test_isolated_shards_combine_to_the_whole_run(
    pytester: pytest.Pytester,
    make_workspace: MakeWorkspace,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Two ``--ws-shard`` runs of a real workspace, combined, equal one run of everything."""
    from .test_isolated import ALBATROSS

    root = make_workspace(ALBATROSS)
    reports = pytester.path / "reports"

    def isolated(out: Path, *argv: str) -> None:
        pytester.runpytest("--ws-isolated", str(root), f"--junitxml={out}", *argv)
        assert out.is_file()

    isolated(reports / "whole.xml", "-o", "junit_suite_name=all py3.11")
    for k in (1, 2):
        isolated(
            reports / "shards" / f"{k}.xml",
            "--ws-shard",
            f"{k}/2",
            "-o",
            f"junit_suite_name=shard {k}/2 py3.11",
        )
    merged = pytester.path / "merged.xml"
    code, out, _ = combine(capsys, str(reports / "shards"), "--junit-xml", str(merged))
    whole = combine_reports([reports / "whole.xml"])
    shards = combine_reports([merged])
    assert code == 1  # albatross plants a failing test
    assert dict(shards.counts) == dict(whole.counts)
    ids = sorted(c.id for s in whole.suites for c in s.cases)
    assert sorted(c.id for s in shards.suites for c in s.cases) == ids
    assert [s.name for s in shards.suites] == ["shard 1/2 py3.11", "shard 2/2 py3.11"]
    assert all(s.cases for s in shards.suites)
    assert not shards.duplicates
    assert summary_line(shards).split(" in ")[0] == summary_line(whole).split(" in ")[0]
    assert out.splitlines()[-1].startswith(summary_line(whole).split(" in ")[0])
    # the whole run and a shard ran the same tests: reported together they are duplicates
    both = combine_reports([reports / "whole.xml", reports / "shards" / "1.xml"])
    assert both.duplicates
