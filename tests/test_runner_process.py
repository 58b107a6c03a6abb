"""Process-level behaviour: Ctrl-C, protocol errors, parallel children, other interpreters."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_wsenv.errors import InterpreterNotFoundError
from tests._runner_workspace import Member, alive, fork_servers_with, kill_quietly, write_workspace

from .support.workspaces import find_uv

SLEEPER = """
    import os, pathlib, subprocess, sys, time

    def test_sleep():
        grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
        out = pathlib.Path(os.environ["WSENV_PID_DIR"]) / f"{os.getpid()}.pids"
        out.write_text(f"{os.getpid()} {grandchild.pid}")
        time.sleep(300)
"""


#: pytest, with Ctrl-C raising KeyboardInterrupt even when this process was started with
#: SIGINT ignored (as a shell without job control starts a background command).
_PYTEST_WITH_CTRL_C = (
    "import signal, sys, pytest; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.exit(pytest.console_main())"
)


def _wait_for(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
@pytest.mark.timeout(90)
@pytest.mark.parametrize("fork", [False, True], ids=["new-interpreter", "forked"])
def test_ctrl_c_stops_every_child_and_grandchild(
    pytester: pytest.Pytester, tmp_path: Path, fork: bool
) -> None:
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    write_workspace(
        pytester,
        Member("one", {"tests/test_one.py": SLEEPER}),
        Member("two", {"tests/test_two.py": SLEEPER}),
        Member("idle", {"tests/test_idle.py": "def test_idle():\n    pass\n"}),
        max_parallel=2,
        grace=5.0,
        fork=fork,
    )
    env = {**os.environ, "WSENV_PID_DIR": str(pid_dir)}
    env.pop("PYTEST_ADDOPTS", None)
    parent = subprocess.Popen(
        [sys.executable, "-c", _PYTEST_WITH_CTRL_C, "-p", "no:cacheprovider"],
        cwd=pytester.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    pids: list[int] = []
    try:
        assert _wait_for(lambda: len(list(pid_dir.glob("*.pids"))) == 2, 60), "children never ran"
        time.sleep(0.2)
        pids = [int(p) for f in pid_dir.glob("*.pids") for p in f.read_text().split()]
        assert bool(fork_servers_with(str(pid_dir))) == fork
        parent.send_signal(signal.SIGINT)
        # the children sleep for an hour: ending at all is the point (no timed assertion)
        output, _ = parent.communicate(timeout=30)
        assert parent.returncode == pytest.ExitCode.INTERRUPTED, output
        assert "!! KeyboardInterrupt !!" in output
        assert _wait_for(lambda: not any(alive(pid) for pid in pids), 10), [
            pid for pid in pids if alive(pid)
        ]
        # the fork server, which has no test of its own to record its pid, is gone too
        assert _wait_for(lambda: not fork_servers_with(str(pid_dir)), 10)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.communicate()
        for pid in pids:
            kill_quietly(pid)


@pytest.mark.timeout(60)
def test_garbage_on_the_result_pipe_is_a_clear_error(pytester: pytest.Pytester) -> None:
    noisy = Member(
        "noisy",
        {
            "conftest.py": """
                import json, os, sys
                os.write(json.loads(sys.argv[1])["msg_fd"], b"this is not json\\n")
            """,
            "tests/test_n.py": "def test_n():\n    pass\n",
        },
    )
    write_workspace(pytester, noisy)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: member 'noisy': cannot read the results of its pytest (child pytest "
            f"{pytest.__version__}, parent pytest {pytest.__version__}): its result pipe "
            "carried b'this is not json'*"
        ]
    )


@pytest.mark.timeout(60)
def test_messages_read_with_garbage_are_handled_up_to_it(pytester: pytest.Pytester) -> None:
    """Messages are read in bursts; the ones before a garbage line in the same read are
    still handled, in order, before the error."""
    noisy = Member(
        "noisy",
        {
            "tests/test_n.py": """
                import json, os, sys

                def test_a():
                    pass

                def test_b():
                    os.write(json.loads(sys.argv[1])["msg_fd"], b"this is not json\\n")
            """,
        },
    )
    write_workspace(pytester, noisy)
    result = pytester.runpytest("-v")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(["*test_n.py::test_a PASSED*"])
    result.stderr.fnmatch_lines(["*its result pipe carried b'this is not json'*"])


@pytest.mark.timeout(60)
def test_unreadable_report_names_both_pytest_versions(pytester: pytest.Pytester) -> None:
    """A child whose pytest serializes reports in a form this pytest does not know."""
    future = Member(
        "future",
        {
            "conftest.py": """
                import pytest

                @pytest.hookimpl(tryfirst=True)
                def pytest_report_to_serializable(config, report):
                    return {"$report_type": "TestReportV2", "nodeid": report.nodeid}
            """,
            "tests/test_f.py": "def test_f():\n    pass\n",
        },
    )
    write_workspace(pytester, future)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: member 'future': cannot read the results of its pytest (child pytest "
            f"{pytest.__version__}, parent pytest {pytest.__version__}): *TestReportV2*"
            "Use a pytest release in the member's environment whose reports this pytest can read*"
        ]
    )


PARALLEL_MEMBERS = [
    Member(
        f"m{i}",
        {
            f"tests/test_m{i}.py": "import time\n\n"
            + "".join(
                f"def test_{j}():\n    time.sleep(0.02)\n    assert {j} != 3\n\n" for j in range(6)
            )
        },
    )
    for i in range(3)
]


@pytest.mark.timeout(90)
def test_parallel_children_well_formed_and_exact(pytester: pytest.Pytester) -> None:
    write_workspace(pytester, *PARALLEL_MEMBERS, max_parallel=2, print_summary=True)
    result = pytester.runpytest("-v", "--junitxml=out.xml")
    result.assert_outcomes(passed=15, failed=3)
    lines = [line for line in result.outlines if " PASSED " in line or " FAILED " in line]
    assert len(lines) == 18
    for line in lines:
        assert line.startswith("m"), line
        assert line.rstrip().endswith("%]"), line
    assert lines[-1].rstrip().endswith("[100%]")
    for i in range(3):
        result.stdout.fnmatch_lines([f"wsenv-summary key=m{i} member=m{i} run=6 *"])
    assert (pytester.path / "out.xml").read_text().count("<testcase ") == 18


@pytest.mark.timeout(90)
def test_parallel_exitfirst_counts(pytester: pytest.Pytester) -> None:
    write_workspace(pytester, *PARALLEL_MEMBERS, max_parallel=2)
    result = pytester.runpytest("-x", "-q")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed") == 1
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*! stopping after 1 failures !*"])
    # Every reported test is in the counts, and nothing is reported after the stop.
    progress = result.outlines[0].split()[0]
    assert progress == "." * outcomes.get("passed", 0) + "F"


def _python(version: str) -> str:
    from pytest_wsenv.envs.interpreters import find_interpreter

    try:
        return str(find_interpreter(version).executable)
    except InterpreterNotFoundError:
        pytest.skip(f"no Python {version} on this machine")


@pytest.mark.slow
@pytest.mark.uv
@pytest.mark.timeout(180)
@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_child_on_another_interpreter(
    pytester: pytest.Pytester, wheelhouse: Path, tmp_path: Path, version: str
) -> None:
    uv = find_uv()
    if uv is None:
        pytest.skip("uv is not installed")
    python = _python(version)
    venv = tmp_path / "venv"
    env = {**os.environ, "UV_CACHE_DIR": str(tmp_path / "uv-cache"), "UV_NO_CONFIG": "1"}
    subprocess.run([uv, "venv", "-q", "-p", python, str(venv)], check=True, env=env)
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "-q",
            "--offline",
            "--no-index",
            "--find-links",
            str(wheelhouse),
            "--python",
            str(venv / "bin" / "python"),
            "pytest",
        ],
        check=True,
        env=env,
    )
    other = Member(
        "elsewhere",
        {
            "tests/test_e.py": """
                import sys, warnings

                def test_version():
                    warnings.warn(UserWarning("from afar"))
                    assert sys.version_info[:2] == (0, 0)
            """
        },
        python=str(venv / "bin" / "python"),
    )
    write_workspace(pytester, other, print_summary=True)
    result = pytester.runpytest("-rA")
    result.assert_outcomes(failed=1, warnings=1)
    major, minor = version.split(".")
    result.stdout.fnmatch_lines(
        [
            f"*assert ({major}, {minor}) == (0, 0)*",
            f"wsenv-summary key=elsewhere *python={version}.*",
            "FAILED elsewhere/tests/test_e.py::test_version - *",
        ]
    )
