"""End to end: ``pytest --ws-isolated --cov`` with real coverage.py and pytest-cov.

A two-member workspace: ``alpha`` names coverage in its own ``dev`` group, ``beta`` has no
coverage anywhere in its env (the root's tooling is pytest alone), so its child imports
coverage from the layer at the parent's version. The parent runs in a subprocess, as a user
would start it.
"""

from __future__ import annotations

import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from .conftest import MakeWorkspace
from .support.pythons import second_python
from .support.wheels import repack_installed

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

WORKSPACE = {
    "pyproject.toml": """
        [tool.uv.workspace]
        members = ["packages/*"]
        [tool.uv]
        find-links = ["{WHEELHOUSE}"]
        [dependency-groups]
        dev = ["pytest"]
    """,
    "packages/alpha/pyproject.toml": """
        [project]
        name = "alpha"
        version = "0.1.0"
        requires-python = ">=3.11"
        [dependency-groups]
        dev = ["coverage"]
        {BUILD_SYSTEM}
    """,
    "packages/alpha/src/alpha/__init__.py": """
        def used(flag):
            if flag:
                return "yes"
            return "no"


        def unused():
            return 1
    """,
    "packages/alpha/tests/test_alpha.py": """
        import sys

        import alpha
        import pytest

        def test_used():
            assert alpha.used(True) == "yes"

        def test_coverage_comes_from_the_member_env():
            if "coverage" not in sys.modules:
                pytest.skip("not measuring")
            assert sys.modules["coverage"].__file__.startswith(sys.prefix)
    """,
    "packages/beta/pyproject.toml": """
        [project]
        name = "beta"
        version = "0.1.0"
        requires-python = ">=3.11"
        {BUILD_SYSTEM}
    """,
    "packages/beta/src/beta/__init__.py": """
        def double(x):
            return 2 * x
    """,
    "packages/beta/tests/test_beta.py": """
        import sys

        import beta
        import pytest

        def test_double():
            assert beta.double(2) == 4

        def test_coverage_comes_from_the_layer():
            if "coverage" not in sys.modules:
                pytest.skip("not measuring")
            assert not sys.modules["coverage"].__file__.startswith(sys.prefix)
    """,
}

ALPHA = "packages/alpha/src/alpha/__init__.py"
BETA = "packages/beta/src/beta/__init__.py"
PACKAGES = ("--cov=alpha", "--cov=beta")


@pytest.fixture(scope="module")
def _coverage_wheels(wheelhouse: Path) -> None:
    """coverage and pytest-cov as installed here, in the offline wheelhouse, and coverage
    without its compiled tracer for the other Pythons."""
    for name in ("coverage", "pytest-cov"):
        repack_installed(wheelhouse, name)
    repack_installed(wheelhouse, "coverage", pure=True)  # for other Pythons than this one


@pytest.fixture
def workspace(
    _coverage_wheels: None, make_workspace: MakeWorkspace, monkeypatch: pytest.MonkeyPatch
) -> Path:
    root = make_workspace(WORKSPACE)
    monkeypatch.chdir(root)
    monkeypatch.setenv("COLUMNS", "200")
    return root


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "--ws-isolated", "--ws-offline", "-p", "no:cacheprovider", *args
    )


def test_one_report_over_both_members(pytester: pytest.Pytester, workspace: Path) -> None:
    result = run(pytester, *PACKAGES, "--cov-report=term-missing")
    result.assert_outcomes(passed=4)
    python = "{}.{}.{}-{}-{}".format(*sys.version_info[:5])
    result.stdout.fnmatch_lines(
        [
            "*= tests coverage =*",
            f"*_ coverage: platform {sys.platform}, python {python} _*",
            "Name * Stmts * Miss * Cover * Missing",
            f"{ALPHA} * 6 * 2 * 67% * 5, 9",
            f"{BETA} * 2 * 0 * 100%",
            "TOTAL * 8 * 2 * 75%",
        ]
    )
    # the parent's own data and every child's were combined into the one data file
    assert [p.name for p in workspace.glob(".coverage*")] == [".coverage"]
    assert not list(workspace.glob("packages/*/.coverage*"))


def test_plain_cov_measures_member_code_and_tests_not_the_runner(
    pytester: pytest.Pytester, workspace: Path
) -> None:
    result = run(pytester, "--cov", "--ws-no-fork")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            f"{ALPHA} * 6 * 2 * 67%",
            "packages/alpha/tests/test_alpha.py * 9 * 1 * 89%",
            f"{BETA} * 2 * 0 * 100%",
        ]
    )
    result.stdout.fnmatch_lines(["TOTAL * 26 * 4 * 85%"])  # the four files above, nothing else
    forked = run(pytester, "--cov")  # children forked from a server that imported pytest
    forked.assert_outcomes(passed=4)
    forked.stdout.fnmatch_lines([f"{BETA} * 2 * 0 * 100%"])
    forked.stdout.no_fnmatch_line("*_pytest*")
    forked.stdout.no_fnmatch_line("*child.py*")


def test_xml_and_json_reports(pytester: pytest.Pytester, workspace: Path) -> None:
    result = run(
        pytester, *PACKAGES, "--cov-report=xml:cov.xml", "--cov-report=json:cov.json", "-n", "2"
    )
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["Coverage XML written to file cov.xml", "Coverage JSON written*"])
    files = json.loads((workspace / "cov.json").read_text())["files"]
    assert {name: data["summary"]["missing_lines"] for name, data in files.items()} == {
        ALPHA: 2,
        BETA: 0,
    }
    assert files[ALPHA]["missing_lines"] == [5, 9]
    root = ET.parse(workspace / "cov.xml").getroot()
    assert root.get("line-rate") == "0.75"
    classes = {c.get("filename"): c.get("line-rate") for c in root.iter("class")}
    assert classes == {ALPHA: "0.6667", BETA: "1"}


def test_fail_under_fails_the_run(pytester: pytest.Pytester, workspace: Path) -> None:
    result = run(pytester, *PACKAGES, "--cov-fail-under=80")
    result.assert_outcomes(passed=4)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["*FAIL Required test coverage of 80% not reached. Total coverage: 75.00%"]
    )
    enough = run(pytester, *PACKAGES, "--cov-fail-under=75")
    assert enough.ret == pytest.ExitCode.OK
    enough.stdout.fnmatch_lines(["*Required test coverage of 75% reached. Total coverage: 75.00%"])


def test_branch_coverage(pytester: pytest.Pytester, workspace: Path) -> None:
    result = run(pytester, *PACKAGES, "--cov-branch", "--cov-report=term-missing")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "Name*Stmts*Miss*Branch*BrPart*Cover*Missing",
            f"{ALPHA} * 6 * 2 * 2 * 1 * 62% * 5, 9",
            f"{BETA} * 2 * 0 * 0 * 0 * 100%",
        ]
    )


def test_tool_coverage_configuration_is_honoured(
    pytester: pytest.Pytester, workspace: Path
) -> None:
    pyproject = workspace / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text()
        + '\n[tool.coverage.run]\nsource = ["packages/alpha/src"]\nbranch = true\n'
        + '[tool.coverage.report]\nexclude_also = ["def unused"]\nshow_missing = true\n'
        + "fail_under = 90\n"
    )
    result = run(pytester, "--cov")
    result.assert_outcomes(passed=4)
    # only alpha's sources (a directory, relative to the root), branches, unused() excluded
    result.stdout.fnmatch_lines(
        [
            "Name*Stmts*Miss*Branch*BrPart*Cover*Missing",
            f"{ALPHA} * 4 * 1 * 2 * 1 * 67% * 5",
            "TOTAL * 4 * 1 * 2 * 1 * 67%",
            "FAIL Required test coverage of 90.0% not reached. Total coverage: 66.67%",
        ]
    )
    result.stdout.no_fnmatch_line(f"{BETA}*")
    result.stdout.no_fnmatch_line("*CoverageWarning*")  # beta measured nothing: no news
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_without_cov_nothing_is_measured(pytester: pytest.Pytester, workspace: Path) -> None:
    result = run(pytester)
    result.assert_outcomes(passed=2, skipped=2)
    result.stdout.no_fnmatch_line("*coverage*")
    assert not list(workspace.rglob(".coverage*"))


def test_one_report_over_two_pythons(pytester: pytest.Pytester, workspace: Path) -> None:
    second = second_python()
    if second is None:
        pytest.skip("needs a second CPython (3.12 or 3.13)")
    this = "{}.{}".format(*sys.version_info[:2])
    result = run(pytester, *PACKAGES, "--ws-python", this, "--ws-python", second)
    result.assert_outcomes(passed=8)
    # as pytest-cov with xdist workers on two Pythons: one header line per interpreter
    result.stdout.fnmatch_lines(
        [
            "*_ coverage _*",
            f"* platform {sys.platform}, python {this}.*-final-0 *",
            f"* platform {sys.platform}, python {second}.*-final-0 *",
            f"{ALPHA} * 6 * 2 * 67%",
            f"{BETA} * 2 * 0 * 100%",
        ]
    )


def test_member_installed_without_editable_is_reported_at_its_source(
    pytester: pytest.Pytester,
    _coverage_wheels: None,
    make_workspace: MakeWorkspace,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = dict(WORKSPACE)
    files["packages/beta/pyproject.toml"] = """
        [project]
        name = "beta"
        version = "0.1.0"
        requires-python = ">=3.11"
        dependencies = ["alpha"]
        [tool.uv.sources]
        alpha = { workspace = true, editable = false }
        {BUILD_SYSTEM}
    """
    files["packages/beta/tests/test_uses_alpha.py"] = """
        import alpha

        def test_installed_copy():
            assert "site-packages" in alpha.__file__
            assert alpha.used(False) == "no"
    """
    root = make_workspace(files)
    monkeypatch.chdir(root)
    monkeypatch.setenv("COLUMNS", "200")
    result = run(pytester, "--ws-package", "beta", "--cov=alpha", "--cov-report=term-missing")
    result.assert_outcomes(passed=3)
    # measured in beta's site-packages, reported as the workspace file
    result.stdout.fnmatch_lines([f"{ALPHA} * 6 * 2 * 67% * 4, 9", "TOTAL * 6 * 2 * 67%"])
    result.stdout.no_fnmatch_line("*site-packages*")


def test_test_contexts_name_the_tests_as_the_session_shows_them(
    pytester: pytest.Pytester, workspace: Path
) -> None:
    """``--cov-context=test``: each line is recorded for the tests that ran it, one context
    per phase, with the node ids of the parent's session."""
    from coverage import CoverageData

    result = run(pytester, *PACKAGES, "--cov-context=test", "--cov-report=")
    result.assert_outcomes(passed=4)
    data = CoverageData(str(workspace / ".coverage"))
    data.read()
    alpha_test = "packages/alpha/tests/test_alpha.py::test_used"
    beta_test = "packages/beta/tests/test_beta.py::test_double"
    contexts = data.measured_contexts()
    assert {f"{alpha_test}|run", f"{beta_test}|run"} <= contexts
    assert all(c == "" or c.startswith("packages/") for c in contexts)

    def line(path: str, text: str) -> list[str]:
        number = (workspace / path).read_text().splitlines().index(text) + 1
        return sorted(data.contexts_by_lineno(str(workspace / path))[number])

    assert line(ALPHA, "    if flag:") == [f"{alpha_test}|run"]
    assert line(ALPHA, "def used(flag):") == [""]  # run at import, before any test
    assert line(BETA, "    return 2 * x") == [f"{beta_test}|run"]


def test_no_cover_marker_is_honoured(pytester: pytest.Pytester, workspace: Path) -> None:
    (workspace / "packages/beta/tests/test_unmeasured.py").write_text(
        "import beta\nimport pytest\n\n\n@pytest.mark.no_cover\n"
        "def test_unmeasured():\n    assert beta.triple(1) == 3\n"
    )
    (workspace / BETA).write_text(
        "def double(x):\n    return 2 * x\n\n\ndef triple(x):\n    return 3 * x\n"
    )
    result = run(pytester, "--cov=beta", "--cov-report=term-missing", "-W", "error")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines([f"{BETA} * 4 * 1 * 75% * 6"])


def test_a_child_that_dies_is_named(pytester: pytest.Pytester, workspace: Path) -> None:
    (workspace / "packages/beta/tests/test_zz_dies.py").write_text(
        "import os\n\n\ndef test_dies():\n    os._exit(3)\n"
    )
    result = run(pytester, *PACKAGES)
    result.assert_outcomes(passed=4, failed=1)
    # alpha is measured; beta's child never saved its data, and the run says so
    result.stdout.fnmatch_lines(
        [
            "wsenv: coverage: beta saved no coverage data (its child ended before its session did)",
            f"{ALPHA} * 6 * 2 * 67%",
            "TOTAL * 6 * 2 * 67%",
        ]
    )


def test_a_member_spread_over_two_children_is_measured_in_both(
    pytester: pytest.Pytester, workspace: Path
) -> None:
    """Each test runs a function of its own: 100% means every worker's data was combined."""
    alpha = workspace / "packages" / "alpha"
    (alpha / "src" / "alpha" / "spread.py").write_text(
        "".join(f"def f{i}():\n    return {i}\n\n\n" for i in range(20))
    )
    (alpha / "tests" / "test_spread.py").write_text(
        "import os, time\n\nfrom alpha import spread\n\n"
        + "".join(
            f"def test_{i}():\n    time.sleep(0.1)\n    print('pid', os.getpid())\n"
            f"    assert spread.f{i}() == {i}\n\n"
            for i in range(20)
        )
    )
    result = run(
        pytester,
        *("--ws-package", "alpha", "--cov=alpha", "--cov-report=term-missing", "-n", "2", "-rP"),
    )
    result.assert_outcomes(passed=22)
    result.stdout.fnmatch_lines(["packages/alpha/src/alpha/spread.py * 40 * 0 * 100%"])
    assert len(set(re.findall(r"^pid (\d+)$", result.stdout.str(), re.M))) == 2
