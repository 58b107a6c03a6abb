"""How the children's output reaches the user: captured, relayed (``-s``) or on the terminal.

``captured`` (the default): each child's pytest captures its tests' output into their reports,
as pytest does; whatever escapes is kept for crash messages. ``relay`` (``-s`` without a
terminal to hand over, e.g. in CI, or with ``-n``): the parent copies each child's stdout and
stderr to its own as they come, as they are when one child runs at a time, each line prefixed
with the member when several run at once. ``terminal``: the parent was started on a terminal and
runs one child at a time; each child gets that terminal as its standard streams, so ``-s``
output, ``--pdb``, ``--trace`` and ``breakpoint()`` work as in plain pytest. The parent replays
each test as its reports arrive and the child waits for the parent at each test start, so the
two never write to the terminal at the same time.

Which terminal: the one pytest's standard input and output were connected to when it started,
noted by the plugin before pytest's capture replaces them (:func:`note_terminal`).
"""

from __future__ import annotations

import codecs
import os
import signal
import sys
from typing import Any

import pytest

from pytest_wsenv.errors import SelectionError
from pytest_wsenv.runner.members import Member, State
from pytest_wsenv.runner.parts import SessionPart
from pytest_wsenv.runner.process import Exited, OutputOptions
from pytest_wsenv.runner.protocol import OutputMode

__all__ = [
    "TERMINAL",
    "OutputHandling",
    "OutputRelay",
    "check_debugging",
    "child_args",
    "note_terminal",
    "open_terminal",
    "output_mode",
]

#: The path of the terminal pytest was started on (stdin and stdout both), or None.
TERMINAL = pytest.StashKey[str | None]()


def note_terminal(config: pytest.Config) -> None:
    """Remember the terminal on the standard streams; call before capture starts."""
    terminal = None
    try:
        if os.isatty(0) and os.isatty(1) and os.ttyname(0) == os.ttyname(1):
            terminal = os.ttyname(0)
    except OSError:
        terminal = None
    config.stash[TERMINAL] = terminal


def _debugging(config: pytest.Config) -> bool:
    return bool(config.getoption("usepdb", False) or config.getoption("trace", False))


def check_debugging(config: pytest.Config, max_parallel: int) -> None:
    """SelectionError when ``--pdb``/``--trace`` cannot work: they need the terminal, which
    only one child at a time can have."""
    if not _debugging(config):
        return
    option = "--pdb" if config.getoption("usepdb", False) else "--trace"
    if max_parallel > 1:
        raise SelectionError(
            f"{option} needs the terminal, which only one member's child at a time can have; "
            f"drop -n {max_parallel} (or use -n 1)"
        )
    if config.stash.get(TERMINAL, None) is None:
        raise SelectionError(
            f"{option} needs a terminal, and pytest's standard input or output is not one; "
            f"run pytest from a terminal without redirecting it"
        )


def output_mode(config: pytest.Config, max_parallel: int) -> OutputMode:
    """The mode for this session's children (see the module docstring)."""
    terminal = config.stash.get(TERMINAL, None)
    if terminal is not None and max_parallel == 1 and not config.option.collectonly:
        return "terminal"
    if config.getoption("capture", "fd") == "no":
        return "relay"
    return "captured"


def child_args(config: pytest.Config, mode: OutputMode) -> tuple[str, ...]:
    """The parent's output and debugging options, for a child whose output is ``mode``."""
    args: list[str] = []
    if config.getoption("capture", "fd") == "no":
        args.append("--capture=no")
    if mode == "terminal":
        if config.getoption("usepdb", False):
            args.append("--pdb")
        pdbcls = config.getoption("usepdb_cls", None)
        if pdbcls:
            args.append(f"--pdbcls={pdbcls[0]}:{pdbcls[1]}")
        if config.getoption("trace", False):
            args.append("--trace")
    return tuple(args)


def open_terminal(config: pytest.Config) -> int | None:
    """A new descriptor of the session's terminal (the caller closes it), or None."""
    terminal = config.stash.get(TERMINAL, None)
    if terminal is None:
        return None
    try:
        return os.open(terminal, os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return None


class OutputRelay:
    """Writes relayed child output: as it is when one child runs at a time, otherwise line by
    line, each line prefixed with ``[label]``."""

    def __init__(self, config: pytest.Config, *, prefixed: bool) -> None:
        self._config = config
        self._prefixed = prefixed
        self._decoders: dict[tuple[int, int], Any] = {}
        self._partial: dict[tuple[int, int], str] = {}

    def write(self, child: object, label: str, stream: int, data: bytes) -> None:
        key = (id(child), stream)
        decoder = self._decoders.get(key)
        if decoder is None:
            decoder = self._decoders[key] = codecs.getincrementaldecoder("utf-8")("replace")
        text = decoder.decode(data)
        if not self._prefixed:
            out = sys.stdout if stream == 1 else sys.stderr
            out.write(text)
            out.flush()
            return
        *lines, rest = (self._partial.pop(key, "") + text).split("\n")
        if rest:
            self._partial[key] = rest
        for line in lines:
            self._line(label, line)

    def close(self, child: object, label: str) -> None:
        """The child ended: write what is left of its last lines."""
        for stream in (1, 2):
            key = (id(child), stream)
            self._decoders.pop(key, None)
            rest = self._partial.pop(key, "")
            if rest:
                self._line(label, rest)

    def _line(self, label: str, line: str) -> None:
        reporter = self._config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"[{label}] {line}")
        else:
            sys.stdout.write(f"[{label}] {line}\n")


class OutputHandling(SessionPart):
    """Mixin of :class:`~pytest_wsenv.runner.session.IsolatedRun`: how each child is started
    to write its output, and the relay of what it writes."""

    _output: OutputMode
    _ack: bool
    _relay: OutputRelay | None
    _several_pythons: bool

    def _output_options(self) -> OutputOptions:
        """How the next child started writes its output (its terminal descriptor, if any, is
        closed by the pool once the child has it)."""
        terminal = open_terminal(self.config) if self._output == "terminal" else None
        mode = self._output if self._output != "terminal" or terminal is not None else "captured"
        return OutputOptions(
            mode=mode,
            ack=self._ack and mode != "captured",
            terminal=terminal,
            args=child_args(self.config, mode),
            stacks=self._stacks_file(),
        )

    def _interrupt_terminal_child(self) -> bool:
        """Ctrl-C while children may have the terminal: it goes to the running ones (see
        ``signals.py``); False when none runs."""
        taken = False
        for m in self._every_child():
            if m.state is State.RUNNING and m.child is not None and m.child.alive:
                m.child.signal_group(signal.SIGINT)
                taken = True
        return taken

    def on_output(self, m: Member, stream: int, data: bytes) -> None:
        if self._relay is not None and m.child is not None:
            self._relay.write(m.child, self._who(m), stream, data)

    def on_exit(self, m: Member, event: Exited) -> None:
        if self._relay is not None:
            self._relay.close(event.child, self._who(m))
        super().on_exit(m, event)

    def _who(self, m: Member) -> str:
        if self._several_pythons and m.python_label is not None:
            return f"{m.name} {m.python_label}"
        return m.name
