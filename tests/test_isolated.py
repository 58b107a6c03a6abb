"""End to end: ``pytest --ws-isolated`` on real workspaces, real envs, real children."""

from __future__ import annotations

import json
import os
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from .conftest import MakeWorkspace
from .support.pythons import second_python
from .support.terminal import Terminal

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

ALBATROSS = {
    "pyproject.toml": """
        [project]
        name = "albatross"
        version = "0.1.0"
        requires-python = ">=3.11"
        dependencies = ["bird-feeder", "seeds"]
        [tool.uv.sources]
        bird-feeder = { workspace = true }
        seeds = { workspace = true }
        [tool.uv.workspace]
        members = ["packages/*"]
        [dependency-groups]
        dev = ["pytest"]
        {BUILD_SYSTEM}
    """,
    "tests/test_root.py": """
        import bird_feeder, seeds

        def test_root_sees_everything():
            assert bird_feeder.FED and seeds.SOWN
    """,
    "packages/bird-feeder/pyproject.toml": """
        [project]
        name = "bird-feeder"
        version = "0.1.0"
        requires-python = ">=3.11"
        dependencies = ["tinyleft<2"]
        [project.optional-dependencies]
        extra = ["tinyextra"]
        {BUILD_SYSTEM}
    """,
    "packages/bird-feeder/src/bird_feeder/__init__.py": "FED = True\n",
    "packages/bird-feeder/tests/test_feeder.py": """
        import os, sys
        import bird_feeder, tinyleft

        def test_fed():
            assert bird_feeder.FED and tinyleft.VERSION == "1.0"

        def test_uses_sibling_dependency():
            import tinyright  # only 'seeds' declares it: a leak

        def test_child_environment():
            assert os.environ["PYTEST_WSENV_MEMBER"] == "bird-feeder"
            assert "PYTHONPATH" not in os.environ
            assert os.environ["PATH"].split(os.pathsep)[0] == os.path.dirname(sys.executable)
    """,
    "packages/bird-feeder/tests/test_extra.py": """
        import pytest

        def test_extra_installed_only_on_request():
            pytest.importorskip("tinyextra")
    """,
    "packages/seeds/pyproject.toml": """
        [project]
        name = "seeds"
        version = "0.1.0"
        requires-python = ">=3.11"
        dependencies = ["tinyright"]
        {BUILD_SYSTEM}
    """,
    "packages/seeds/src/seeds/__init__.py": "SOWN = True\n",
    "packages/seeds/tests/test_seeds.py": """
        import seeds, tinyright

        def test_sown():
            assert seeds.SOWN

        def test_no_sibling_leak():
            import importlib.util
            assert importlib.util.find_spec("bird_feeder") is None
    """,
}


@pytest.fixture
def albatross(make_workspace: MakeWorkspace, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The workspace, as the current directory (node ids are shown relative to it)."""
    root = make_workspace(ALBATROSS)
    monkeypatch.chdir(root)
    return root


def test_isolated_run_reports_leak_as_one_session(
    pytester: pytest.Pytester, albatross: Path
) -> None:
    result = pytester.runpytest("--ws-isolated", str(albatross), "-rA")
    result.assert_outcomes(passed=5, failed=1, skipped=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "building bird-feeder-py3.11 (*, * packages) ... *s",
            "collected 7 items",
            "*No module named 'tinyright'*",
            "*wsenv environments*",
            "albatross py3.11*: albatross-py3.11-* built in *, 1 tests",
            "bird-feeder py3.11*: bird-feeder-py3.11-* built in *, 4 tests",
            "seeds py3.11*: seeds-py3.11-* built in *, 2 tests",
            "*FAILED packages/bird-feeder/tests/test_feeder.py::test_uses_sibling_dependency*",
        ]
    )
    assert (albatross / ".wsenv" / "CACHEDIR.TAG").is_file()

    again = pytester.runpytest("--ws-isolated", str(albatross))
    again.assert_outcomes(passed=5, failed=1, skipped=1)
    again.stdout.fnmatch_lines(["bird-feeder py3.11*: bird-feeder-py3.11-* reused, 4 tests"])

    # one collected child may wait: the other members collect again at their turn, and
    # the session is the same
    parked = pytester.runpytest("--ws-isolated", str(albatross), "-o", "wsenv_max_idle=1")
    parked.assert_outcomes(passed=5, failed=1, skipped=1)
    parked.stdout.fnmatch_lines(["collected 7 items"])
    wrong = pytester.runpytest("--ws-isolated", str(albatross), "-o", "wsenv_max_idle=0")
    assert wrong.ret == pytest.ExitCode.USAGE_ERROR
    wrong.stderr.fnmatch_lines(["*wsenv_max_idle = '0': expected a whole number of at least 1*"])


def test_package_and_extra_select_what_is_installed(
    pytester: pytest.Pytester, albatross: Path
) -> None:
    result = pytester.runpytest(
        "--ws-package", "bird-feeder", "--ws-extra", "extra", str(albatross), "-v"
    )
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*test_extra.py::test_extra_installed_only_on_request PASSED*"])
    result.stdout.no_fnmatch_line("*test_seeds.py*")
    result.stdout.fnmatch_lines(["bird-feeder[[]extra[]] py3.11*: bird-feeder+extra-py3.11-*"])


def test_unknown_extra_is_one_usage_error(pytester: pytest.Pytester, albatross: Path) -> None:
    result = pytester.runpytest("--ws-package", "seeds", "--ws-extra", "torch", str(albatross))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--ws-extra torch: no selected member defines this extra*"])
    assert "Traceback" not in result.stderr.str()


def test_unknown_package_is_one_usage_error(pytester: pytest.Pytester, albatross: Path) -> None:
    result = pytester.runpytest("--ws-package", "nope", str(albatross))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*nope*"])
    assert "Traceback" not in result.stderr.str()


def test_keyword_junitxml_and_node_ids(pytester: pytest.Pytester, albatross: Path) -> None:
    xml = pytester.path / "junit.xml"
    result = pytester.runpytest(
        "--ws-isolated", str(albatross), "-k", "sown or fed", f"--junitxml={xml}"
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["collected 7 items / 5 deselected / 2 selected"])
    cases = {
        (case.get("classname"), case.get("name"))
        for case in ET.parse(xml).getroot().iter("testcase")
    }
    assert cases == {
        ("packages.bird-feeder.tests.test_feeder", "test_fed"),
        ("packages.seeds.tests.test_seeds", "test_sown"),
    }

    node_id = "packages/seeds/tests/test_seeds.py::test_sown"
    rerun = pytester.runpytest("--ws-isolated", node_id, "-v")
    rerun.assert_outcomes(passed=1)
    rerun.stdout.fnmatch_lines([f"{node_id} PASSED*"])


def test_last_failed_reruns_only_the_failure_in_its_env(
    pytester: pytest.Pytester, albatross: Path
) -> None:
    first = pytester.runpytest("--ws-isolated", str(albatross), "-p", "cacheprovider")
    first.assert_outcomes(passed=5, failed=1, skipped=1)
    lastfailed = json.loads(
        (albatross / ".pytest_cache" / "v" / "cache" / "lastfailed").read_text()
    )
    assert list(lastfailed) == [
        "packages/bird-feeder/tests/test_feeder.py::test_uses_sibling_dependency"
    ]
    again = pytester.runpytest("--ws-isolated", str(albatross), "--lf", "-v")
    again.assert_outcomes(failed=1)
    again.stdout.fnmatch_lines(["*test_uses_sibling_dependency FAILED*"])


def test_exitfirst_stops_other_members(pytester: pytest.Pytester, albatross: Path) -> None:
    result = pytester.runpytest("--ws-isolated", str(albatross), "-x")
    # root (1 passed), then bird-feeder: test_extra.py (skipped), test_fed, the leak
    result.assert_outcomes(passed=2, failed=1, skipped=1)
    result.stdout.no_fnmatch_line("*test_seeds.py*")
    result.stdout.fnmatch_lines(["*stopping after 1 failures*"])


def test_parallel_children_with_xdist_option(pytester: pytest.Pytester, albatross: Path) -> None:
    result = pytester.runpytest("--ws-isolated", str(albatross), "-n", "2")
    result.assert_outcomes(passed=5, failed=1, skipped=1)
    result.stdout.no_fnmatch_line("*created: *worker*")


@pytest.mark.parametrize(("dist", "children"), [([], 2), (["--dist", "each"], 1)])
def test_a_member_with_many_tests_is_spread_as_dist_says(
    pytester: pytest.Pytester, albatross: Path, dist: list[str], children: int
) -> None:
    many = "import os, time\n\n" + "".join(
        f"def test_{i}():\n    time.sleep(0.1)\n    print('pid', os.getpid())\n\n"
        for i in range(20)
    )
    (albatross / "packages" / "seeds" / "tests" / "test_many.py").write_text(many)
    result = pytester.runpytest(
        "--ws-isolated", str(albatross), "--ws-package", "seeds", "-n", "2", "-rP", *dist
    )
    result.assert_outcomes(passed=22)
    pids = set(re.findall(r"^pid (\d+)$", result.stdout.str(), re.M))
    assert len(pids) == children


def test_streaming_gives_the_results_of_a_whole_collection(
    pytester: pytest.Pytester, albatross: Path
) -> None:
    result = pytester.runpytest("--ws-isolated", str(albatross), "--ws-stream", "-n", "2")
    result.assert_outcomes(passed=5, failed=1, skipped=1)
    # the second time, the progress counts each member still collecting as the tests it
    # had: it only goes up
    again = pytester.runpytest("--ws-isolated", str(albatross), "--ws-stream", "-p", "no:randomly")
    again.assert_outcomes(passed=5, failed=1, skipped=1)
    percents = [int(p) for p in re.findall(r"\[ *(\d+)%\]$", again.stdout.str(), re.M)]
    assert percents == sorted(percents) and percents[-1] == 100, percents
    listed = pytester.runpytest("--ws-isolated", str(albatross), "--ws-stream", "--co")
    listed.stdout.fnmatch_lines(
        [
            "wsenv: --ws-stream waits for every member to collect: --collect-only lists*",
            "*7 tests collected*",
        ]
    )


def test_malformed_member_pyproject_is_one_usage_error(
    pytester: pytest.Pytester, albatross: Path
) -> None:
    (albatross / "packages" / "seeds" / "pyproject.toml").write_text("[project\nname=1\n")
    result = pytester.runpytest("--ws-isolated", str(albatross))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*packages/seeds/pyproject.toml*"])
    assert "Traceback" not in result.stderr.str()


def test_broken_member_env_is_a_collection_error_others_run(
    pytester: pytest.Pytester, albatross: Path
) -> None:
    backend = albatross / "packages" / "seeds" / "_build" / "tiny_backend.py"
    backend.write_text("raise SystemExit('this member cannot be built')\n")
    result = pytester.runpytest(
        "--ws-isolated", str(albatross), "--ws-package", "seeds", "--ws-package", "bird-feeder"
    )
    result.stdout.fnmatch_lines(["*ERROR*seeds*", "*this member cannot be built*"])
    result.stdout.fnmatch_lines(["*test_feeder.py*"])
    assert result.ret in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.TESTS_FAILED)


def test_two_interpreters_give_unique_node_ids(pytester: pytest.Pytester, albatross: Path) -> None:
    other = second_python()
    if other is None:
        pytest.skip("no second CPython (3.12 or 3.13) found")
    result = pytester.runpytest(
        "--ws-package",
        "seeds",
        "--ws-python",
        "3.11",
        "--ws-python",
        other,
        str(albatross),
        "-v",
    )
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "*test_seeds.py::test_sown@py3.11 PASSED*",
            f"*test_seeds.py::test_sown@py{other} PASSED*",
        ]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pdb"], "*--pdb needs a terminal, and pytest's standard input or output is not one*"),
        (
            ["--trace", "-n", "2"],
            "*--trace needs the terminal, which only one member's child*-n 2*",
        ),
    ],
)
def test_debuggers_need_the_terminal(
    pytester: pytest.Pytester, albatross: Path, args: list[str], message: str
) -> None:
    result = pytester.runpytest("--ws-isolated", *args, str(albatross))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_basetemp_is_split_per_member(pytester: pytest.Pytester, albatross: Path) -> None:
    (albatross / "packages" / "seeds" / "tests" / "test_tmp.py").write_text(
        "def test_tmp(tmp_path):\n    assert 'seeds' in str(tmp_path)\n"
    )
    base = pytester.path / "bt"
    result = pytester.runpytest("--ws-package", "seeds", f"--basetemp={base}", str(albatross))
    result.assert_outcomes(passed=3)
    assert (base / "seeds").is_dir()


def test_interpreter_excluded_by_requires_python_is_skipped(
    pytester: pytest.Pytester, albatross: Path
) -> None:
    old = sorted(Path(os.path.expanduser("~/.pyenv/versions")).glob("3.10.*/bin/python3.10"))
    if not (shutil.which("python3.10") or old):
        pytest.skip("no CPython 3.10 found")
    result = pytester.runpytest(
        "--ws-package",
        "seeds",
        "--ws-python",
        "3.11",
        "--ws-python",
        "3.10",
        "-rs",
        str(albatross),
    )
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(["*requires-python >=3.11 excludes Python 3.10*"])


def test_missing_interpreter_is_one_usage_error(pytester: pytest.Pytester, albatross: Path) -> None:
    result = pytester.runpytest("--ws-package", "seeds", "--ws-python", "3.99", str(albatross))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*3.99*"])
    assert "Traceback" not in result.stderr.str()


def _ids(result: pytest.RunResult) -> set[str]:
    return {
        line.split(" ")[0]
        for line in result.outlines
        if " PASSED" in line or " FAILED" in line or " SKIPPED" in line
    }


def test_shards_are_disjoint_and_complete(pytester: pytest.Pytester, albatross: Path) -> None:
    everything = _ids(pytester.runpytest("--ws-isolated", "-v", str(albatross)))
    first = _ids(pytester.runpytest("--ws-shard", "1/2", "-v", str(albatross)))
    second = _ids(pytester.runpytest("--ws-shard", "2/2", "-v", str(albatross)))
    assert first and second
    assert not first & second
    assert first | second == everything


def test_changed_since_runs_changed_members_and_dependents(
    pytester: pytest.Pytester, albatross: Path
) -> None:
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    import subprocess

    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "base"]):
        subprocess.run([git, *args], cwd=albatross, env=env, check=True)
    (albatross / "packages" / "seeds" / "src" / "seeds" / "__init__.py").write_text(
        "SOWN = True\nMORE = 1\n"
    )
    result = pytester.runpytest("--ws-changed-since", "HEAD", "-v", str(albatross))
    # seeds changed; the root depends on seeds; bird-feeder does not
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["wsenv: albatross selected: depends on seeds"])
    result.stdout.fnmatch_lines(["wsenv: seeds selected: files changed: packages/seeds/*"])
    result.stdout.no_fnmatch_line("*test_feeder.py*")


def test_a_second_session_forks_from_a_server_started_while_it_planned(
    pytester: pytest.Pytester, albatross: Path
) -> None:
    """The first session records the runtime its fork server served; the next one starts a
    server for it before planning, and its children are forked from that one."""
    args = ["--ws-isolated", "--ws-package", "seeds", str(albatross)]
    pytester.runpytest(*args).assert_outcomes(passed=2)
    recorded = json.loads((albatross / ".pytest_cache" / "v" / "wsenv" / "forkservers").read_text())
    assert recorded[0]["entries"][0][0] == "pytest"
    early: list[bool] = []

    class Look:
        @pytest.hookimpl(trylast=True)
        def pytest_sessionfinish(self, session: pytest.Session) -> None:
            run = session.config.pluginmanager.get_plugin("wsenv-isolated")
            forks = run._pool.forks  # None when children are not forked
            early.extend(server.early for server in (forks.served() if forks else []))

    pytester.runpytest(*args, plugins=[Look()]).assert_outcomes(passed=2)
    assert early == [True]
    early.clear()
    pytester.runpytest(*args, "--ws-no-fork", plugins=[Look()]).assert_outcomes(passed=2)
    assert early == []


def test_ini_settings_turn_isolation_on(pytester: pytest.Pytester, albatross: Path) -> None:
    pyproject = albatross / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text()
        + '\n[tool.pytest.ini_options]\nwsenv_packages = ["seeds"]\nwsenv_cache_dir = "envs"\n'
    )
    result = pytester.runpytest(str(albatross))
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["wsenv: workspace * isolated members: seeds"])
    assert (albatross / "envs" / "CACHEDIR.TAG").is_file()
    assert not (albatross / ".wsenv").exists()


def test_without_options_the_plugin_does_nothing(
    pytester: pytest.Pytester, albatross: Path
) -> None:
    (albatross / "tests" / "conftest.py").write_text(
        "def pytest_sessionfinish(session):\n"
        "    names = [str(n) for n, _ in session.config.pluginmanager.list_name_plugin()]\n"
        "    print('wsenv plugins:', [n for n in names if n.startswith('wsenv-')])\n"
    )
    result = pytester.runpytest("--collect-only", "-q", "-s", str(albatross / "tests"))
    result.stdout.fnmatch_lines(["wsenv plugins: []"])
    result.stdout.no_fnmatch_line("wsenv: *")
    assert not (albatross / ".wsenv").exists()


def test_pip_backend_and_cache_dir_option(pytester: pytest.Pytester, albatross: Path) -> None:
    cache = pytester.path / "elsewhere"
    result = pytester.runpytest(
        "--ws-package",
        "seeds",
        "--ws-backend",
        "pip",
        "--ws-cache-dir",
        str(cache),
        str(albatross),
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["building seeds-py3.11 (pip, * packages) ... *s"])
    assert [p.name for p in cache.glob("seeds-py3.11-*") if p.is_dir()]


@pytest.mark.parametrize(
    "how",
    [["--ws-timeout", "2"], ["--timeout=2"], ["-o", "wsenv_timeout=2"]],
    ids=["ws-timeout", "pytest-timeout-in-the-parent", "ini"],
)
def test_a_hung_test_times_out(pytester: pytest.Pytester, albatross: Path, how: list[str]) -> None:
    hang = albatross / "packages" / "seeds" / "tests" / "test_hang.py"
    hang.write_text("import time\n\ndef test_hangs():\n    time.sleep(3600)\n")
    result = pytester.runpytest("--ws-package", "seeds", *how, str(albatross), "-rA")
    result.assert_outcomes(passed=2, failed=1)
    source = "--timeout" if how == ["--timeout=2"] else "--ws-timeout"
    result.stdout.fnmatch_lines(
        [f"*test_hang.py::test_hangs timed out after 2.0 s ({source}) in member 'seeds'*"]
    )


def test_a_malformed_timeout_is_one_usage_error(pytester: pytest.Pytester, albatross: Path) -> None:
    result = pytester.runpytest("--ws-isolated", "--ws-timeout", "soon", str(albatross))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--ws-timeout = 'soon': expected a number of seconds*"])


def test_a_build_is_announced_before_it_starts(pytester: pytest.Pytester, albatross: Path) -> None:
    result = pytester.runpytest("--ws-package", "seeds", str(albatross))
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["building seeds-py3.11 (*, * packages) ...", "building seeds-py3.11 (*) ... *s"]
    )


def test_quiet_keeps_one_line_per_build(pytester: pytest.Pytester, albatross: Path) -> None:
    result = pytester.runpytest("--ws-package", "seeds", "-q", str(albatross))
    result.assert_outcomes(passed=2)
    assert len([line for line in result.outlines if line.startswith("building ")]) == 1


def test_builds_show_a_status_line_on_a_terminal(albatross: Path) -> None:
    with Terminal(albatross, "--ws-package", "seeds", "-p", "no:cacheprovider") as term:
        code = term.finish(timeout=120)
    assert code == 0, term.output
    out = term.output
    # after the header, a status line rewritten in place (carriage returns); then, in its
    # place, one line for the build with its time
    assert out.index("test session starts") < out.index("\rbuilding seeds-py3.11 ("), out
    assert re.search(r"\rbuilding seeds-py3\.11 \(.*\) \.\.\. [\d.]+s *\n", out), out


def test_an_env_that_cannot_start_pytest_is_rebuilt_once(
    pytester: pytest.Pytester, albatross: Path
) -> None:
    first = pytester.runpytest("--ws-package", "seeds", str(albatross))
    first.assert_outcomes(passed=2)
    [pytest_init] = (albatross / ".wsenv").glob(
        "seeds-py*/lib/python*/site-packages/_pytest/__init__.py"
    )
    # a new file in place of the old (installers link files from their cache)
    text = pytest_init.read_text()
    pytest_init.unlink()
    pytest_init.write_text(text + "\nthis is not python (\n")
    result = pytester.runpytest("--ws-package", "seeds", str(albatross))
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "seeds-py3.11-* is broken (*SyntaxError*): it will be rebuilt",
            "building seeds-py3.11 (*) ... *s (marked broken: *SyntaxError*)",
        ]
    )
