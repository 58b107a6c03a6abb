"""pytest's own rules through isolation: strict config, options that only the member
environments define, ``--ws-*`` values that are paths, selections that name nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_wsenv.config import INI_KEYS

from .conftest import MakeWorkspace
from .test_tooling import plugin_wheel  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

#: This project's own strictness, in the workspace root; alpha's conftest defines
#: --run-slow, the root's dev group brings pytest-tinyplug (--tiny-mode) to every member.
FILES = {
    "pyproject.toml": """
        [tool.uv.workspace]
        members = ["packages/*"]
        [dependency-groups]
        dev = ["pytest", "pytest-tinyplug"]
        [tool.pytest.ini_options]
        addopts = ["--strict-config", "--strict-markers"]
        filterwarnings = ["error"]
        wsenv_isolated = true
        wsenv_max_restarts = "2"
    """,
    "packages/alpha/pyproject.toml": """
        [project]
        name = "alpha"
        version = "0.1.0"
        requires-python = ">=3.11"
        dependencies = []
        {BUILD_SYSTEM}
    """,
    "packages/alpha/src/alpha/__init__.py": "",
    "packages/alpha/tests/conftest.py": """
        import pytest

        def pytest_addoption(parser):
            parser.addoption("--run-slow", action="store_true", default=False)

        def pytest_collection_modifyitems(config, items):
            if not config.getoption("run_slow"):
                for item in items:
                    if "slow" in item.name:
                        item.add_marker(pytest.mark.skip(reason="needs --run-slow"))
    """,
    "packages/alpha/tests/test_alpha.py": """
        def test_fast():
            pass

        def test_slow():
            pass
    """,
    "packages/beta/pyproject.toml": """
        [project]
        name = "beta"
        version = "0.1.0"
        requires-python = ">=3.11"
        dependencies = []
        {BUILD_SYSTEM}
    """,
    "packages/beta/src/beta/__init__.py": "",
    "packages/beta/tests/test_beta.py": """
        def test_mode(tiny):
            assert tiny[0] == "on"
    """,
}


@pytest.fixture
def workspace(
    make_workspace: MakeWorkspace,
    plugin_wheel: Path,  # noqa: F811
    uv_bin: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    root = make_workspace(FILES)
    monkeypatch.chdir(root)
    return root


def test_ini_keys_are_the_plugins(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfig()
    assert sorted(INI_KEYS) == sorted(
        k
        for k in config._parser._inidict  # type: ignore[attr-defined]
        if k.startswith("wsenv_")
    )


def test_strict_config_and_warnings_as_errors_hold_in_children(
    pytester: pytest.Pytester, workspace: Path
) -> None:
    result = pytester.runpytest()
    # wsenv_* keys are known in every child: no "Unknown config option" error
    result.assert_outcomes(passed=1, skipped=1, failed=1)
    result.stdout.no_fnmatch_line("*Unknown config option*")
    result.stdout.fnmatch_lines(["*AssertionError: assert 'off' == 'on'"])


def test_member_env_options_are_forwarded(pytester: pytest.Pytester, workspace: Path) -> None:
    result = pytester.runpytest("--tiny-mode", "on", "--run-slow", "-rs")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        ["wsenv: --run-slow is not defined in the environment of beta*: not passed to its tests"]
    )
    assert result.ret == 0


def test_an_option_nobody_defines_is_one_usage_error(
    pytester: pytest.Pytester, workspace: Path
) -> None:
    result = pytester.runpytest("--no-such-option", "--tiny-mode=on")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: unrecognized arguments: --no-such-option (defined by no plugin and no *"]
    )
    result.stdout.no_fnmatch_line("*passed*")


def test_ws_option_value_that_is_a_path_keeps_the_rootdir(
    pytester: pytest.Pytester, workspace: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "elsewhere" / "cache"
    cache.mkdir(parents=True)
    result = pytester.runpytest("--ws-cache-dir", str(cache), "--tiny-mode=on")
    result.stdout.fnmatch_lines([f"rootdir: {workspace}", "configfile: pyproject.toml"])
    result.assert_outcomes(passed=2, skipped=1)
    assert any(p.name.startswith("beta-py") for p in cache.iterdir())


def test_unknown_group_is_one_usage_error(pytester: pytest.Pytester, workspace: Path) -> None:
    result = pytester.runpytest("--ws-group", "nosuch")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: pytest-wsenv: --ws-group nosuch: neither a selected member nor the "
            "workspace root defines this dependency group (selected: alpha, beta; groups: dev)"
        ]
    )


def test_a_known_group_reaches_the_members(pytester: pytest.Pytester, workspace: Path) -> None:
    result = pytester.runpytest("--ws-group", "dev", "--tiny-mode=on")
    result.assert_outcomes(passed=2, skipped=1)


def test_a_selection_that_runs_nothing_says_why(pytester: pytest.Pytester, workspace: Path) -> None:
    result = pytester.runpytest("--ws-package", "alpha", "packages/beta")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    result.stdout.fnmatch_lines(
        [
            "wsenv: nothing to run: the collection arguments (packages/beta) hold no test "
            "file of --ws-package alpha"
        ]
    )
