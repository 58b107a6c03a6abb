"""Debuggers and ``-s`` on a real terminal: the child gets the parent's terminal (a pty here)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests._runner_workspace import Member, write_workspace
from tests.support.terminal import Terminal

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pty"),
]

#: A plugin loaded with -p (before capture starts) that notes the terminal, as pytest-wsenv's
#: plugin does when isolation is on.
NOTE_TERMINAL = """
import pytest
from pytest_wsenv.runner.output import note_terminal

@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_load_initial_conftests(early_config):
    note_terminal(early_config)
    return (yield)
"""


NOTED = ("-p", "note_terminal_plugin", "-p", "no:cacheprovider")


def on_terminal(pytester: pytest.Pytester, files: dict[str, str]) -> Path:
    """A workspace of one member ``alpha`` of ``files``, forked, with the plugin that notes
    the terminal."""
    root = write_workspace(pytester, Member("alpha", files), fork=True)
    (root / "note_terminal_plugin.py").write_text(NOTE_TERMINAL)
    return root


@pytest.fixture
def terminal_workspace(pytester: pytest.Pytester) -> Path:
    return on_terminal(
        pytester,
        {
            "tests/test_debug.py": (
                "def test_passes():\n    pass\n\n"
                "def test_fails():\n    secret = 41\n    assert secret + 1 == 43\n\n"
                "def test_breaks():\n"
                "    value = 'seen in pdb'\n    breakpoint()\n    print(value)\n\n"
                "def test_last():\n    pass\n"
            )
        },
    )


def test_pdb_gets_the_terminal_and_the_run_goes_on(terminal_workspace: Path) -> None:
    with Terminal(terminal_workspace, *NOTED, "--pdb") as term:
        term.expect("alpha/tests/test_debug.py .F")
        term.expect("(Pdb) ")
        term.send("p secret")
        term.expect("41")
        term.send("c")
        term.expect("(Pdb) ")  # breakpoint() in test_breaks
        term.send("p value")
        term.expect("'seen in pdb'")
        term.send("c")
        code = term.finish()
    out = term.output
    assert code == 1, out
    assert "1 failed, 3 passed" in out, out
    # the parent's "F" comes before pytest's traceback and the debugger, as in plain pytest
    assert out.index(".F") < out.index(">>> traceback >>>") < out.index("(Pdb) ")
    assert out.count("test session starts") == 1, out


def test_breakpoint_without_pdb_gets_the_terminal(terminal_workspace: Path) -> None:
    with Terminal(terminal_workspace, *NOTED) as term:
        term.expect("(Pdb) ")
        term.send("p value")
        term.expect("'seen in pdb'")
        term.send("c")
        code = term.finish()
    assert code == 1, term.output
    assert "1 failed, 3 passed" in term.output, term.output


def test_quitting_the_debugger_ends_the_session(terminal_workspace: Path) -> None:
    with Terminal(terminal_workspace, *NOTED) as term:
        term.expect("(Pdb) ")
        term.send("q")
        code = term.finish()
    assert code == 2, term.output
    assert "Quitting debugger" in term.output, term.output
    assert "test_last" not in term.output.split("Quitting debugger")[-1]


def test_ctrl_c_at_the_pdb_prompt_is_the_debuggers(terminal_workspace: Path) -> None:
    """As in a plain pytest: the debugger says so and stays; the session goes on."""
    with Terminal(terminal_workspace, *NOTED, controlling=True) as term:
        term.expect("(Pdb) ")
        term.interrupt()
        term.expect("--KeyboardInterrupt--")
        term.expect("(Pdb) ")
        term.send("p value")
        term.expect("'seen in pdb'")
        term.send("c")
        term.expect("1 failed, 3 passed")
        assert term.finish() == 1
    assert "Interrupted" not in term.output


def test_ctrl_c_in_a_test_on_the_terminal_ends_the_session(pytester: pytest.Pytester) -> None:
    root = on_terminal(
        pytester,
        {
            "tests/test_slow.py": (
                "import time\n\n"
                "def test_slow():\n    print('started', flush=True)\n    time.sleep(60)\n\n"
                "def test_after():\n    pass\n"
            )
        },
    )
    with Terminal(root, *NOTED, "-s", controlling=True) as term:
        term.expect("started")
        term.interrupt()
        term.expect("Interrupted")
        assert term.finish() == pytest.ExitCode.INTERRUPTED
    assert "test_after" not in term.output


def test_capture_no_on_a_terminal_prints_as_pytest_does(pytester: pytest.Pytester) -> None:
    root = on_terminal(
        pytester,
        {
            "tests/test_print.py": (
                "def test_one():\n    print('out of one')\n\n"
                "def test_two():\n    print('out of two')\n"
            )
        },
    )
    with Terminal(root, *NOTED, "-s") as term:
        code = term.finish()
    assert code == 0, term.output
    # the child writes to the terminal itself, between the parent's progress characters
    assert "alpha/tests/test_print.py out of one\n.out of two\n." in term.output, term.output


def test_trace_stops_at_the_start_of_each_test(terminal_workspace: Path) -> None:
    with Terminal(terminal_workspace, *NOTED, "--trace", "-k", "passes") as term:
        term.expect("PDB runcall")
        term.expect("(Pdb) ")
        term.send("c")
        code = term.finish()
    assert code == 0, term.output
    assert "1 passed, 3 deselected" in term.output, term.output
