"""Parent side of the wire protocol spoken with ``child.py``.

Transport: the child writes JSON lines to a dedicated pipe (``msg_fd``) and reads JSON-line
commands from another (``cmd_fd``); its stdout/stderr are ordinary output, kept as a bounded tail
for crash messages. ``child.py`` is shipped with the parent, so the schema only changes with this
package; what can differ is the child's pytest, whose serialized reports the parent must read:
any report the parent's ``pytest_report_from_serializable`` cannot rebuild, an unknown message or
a line that is not JSON raises :class:`~pytest_wsenv.errors.ChildProtocolError` naming the
member and both pytest versions.

Reports keep pytest's own serialization (``pytest_report_to_serializable``); before rebuilding
them the parent rewrites node ids and locations to its own form and makes traceback paths
relative to its own working directory, as in-process pytest would print them.

Wire format: one JSON object per line. The child writes messages to ``msg_fd`` (a pipe only the
parent reads; stdout/stderr stay ordinary output) and reads commands from ``cmd_fd`` (stdin is
left to the tests). Every message has a ``kind``:

``hello``         first, before pytest starts: ``schema``, ``pytest``, ``python``, ``pid``,
                  ``executable``
``session``       at session start: ``rootpath`` (the child's rootdir; node ids are relative to
                  it), ``timeout`` (pytest-timeout is active here)
``collectreport`` a collector that failed or was skipped: ``report`` (pytest_report_to_serializable)
``warning``       ``warning`` (message, category, filename, lineno, line), ``when``, ``nodeid``
``collected``     collection done: ``items`` ``[[nodeid, name, path, [relpath, lineno, domain],
                  parent index, kind]]``, ``collectors`` ``[[nodeid, kind, name, path,
                  parent index]]`` (for ``--collect-only`` trees), ``deselected`` ``[nodeid]``,
                  ``groups`` ``{nodeid: name}`` of the tests marked ``xdist_group``
``more``          the child is about to run the last tests it was given: the parent answers
                  with the next ``run``
``logstart``      ``nodeid``, ``location``
``testreport``    ``report``
``logfinish``     ``nodeid``, ``location``
``internalerror`` ``text``
``interrupted``   a test (or the session) raised KeyboardInterrupt: ``where`` (``path:lineno``
                  of the crash line, or empty); or called ``pytest.exit()``: ``exit`` (the
                  message), ``returncode``
``interact``      a debugger is about to take the terminal (``terminal`` mode with ``ack``)
``syspath``       a ``conftest.py`` outside the member directory put ``entries`` on ``sys.path``
                  that are outside the member directory and its environment: ``conftest``
``finished``      at session finish: ``exitstatus``, ``shouldfail``, ``shouldstop``

After ``collected`` the child waits for a command: ``{"cmd": "run", "ids": [...] or null}`` runs
the given node ids in the given order (all, in collection order, if null); ``{"cmd": "exit"}``
ends the session without running anything. With ``"more": true`` the tests come in batches
(a member spread over several children): when two tests of a batch are left the child sends
``more``, and it runs its last test only once the next ``run`` has named that test's successor
(for fixture teardown, as pytest-xdist's workers do); a ``run`` without ``more`` is the last.
While running, ``{"cmd": "stop"}`` or end of file on ``cmd_fd`` (the parent went away) stops
after the current test. The parent decides when to
stop across members, so ``--maxfail``/``-x`` are neutralised here.

Output (``mode`` in the options): ``captured``, the default: pytest's terminal output and
whatever escapes capture go to stdout/stderr, which the parent keeps for crash messages.
``relay`` (``-s``) and ``terminal`` (the standard streams are the parent's terminal): the
parent shows the child's output to the user, so this side's terminal reporter writes nowhere
(except the traceback that ``--pdb`` prints before the debugger starts). With ``ack`` set,
the child waits for ``{"cmd": "go"}`` after each ``logstart`` and before a debugger takes the
terminal (after sending ``interact``), so that the parent has written everything before it and
the output comes in the order plain pytest would print it. ``--pdb`` is neutralised unless the
mode is ``terminal``.
"""

from __future__ import annotations

import builtins
import json
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, TypedDict

import pytest

from pytest_wsenv.errors import ChildProtocolError

__all__ = [
    "BOOTSTRAP",
    "CHILD_SCRIPT",
    "SCHEMA_VERSION",
    "CollectedMsg",
    "Command",
    "HelloMsg",
    "OutputMode",
    "decode_line",
    "encode_command",
    "rebuild_report",
    "rebuild_warning",
]

#: Version of the message schema; ``child.py`` sends the same number in ``hello``.
SCHEMA_VERSION = 1

#: The child script, run by path (never imported) in the member's interpreter.
CHILD_SCRIPT = Path(__file__).with_name("child.py")

#: ``python -c`` program that starts the child: ``-c`` puts ``''`` (the working directory) first
#: on ``sys.path``; it is removed so neither the member directory nor this package's directory
#: shadows the member's imports. ``argv[1]`` is the script, the rest its arguments.
BOOTSTRAP = (
    "import sys,runpy\n"
    "if sys.path and sys.path[0]=='':del sys.path[0]\n"
    "sys.argv=sys.argv[1:]\n"
    "runpy.run_path(sys.argv[0],run_name='__main__')\n"
)

ReportKind = Literal["hello", "session", "collectreport", "warning", "collected"]


class HelloMsg(TypedDict):
    kind: Literal["hello"]
    schema: int
    pytest: str
    python: str
    pid: int
    executable: str


class CollectedMsg(TypedDict):
    kind: Literal["collected"]
    #: ``[nodeid, name, abspath, [relpath, lineno, domain], collector index, kind]``
    items: list[list[Any]]
    #: ``[nodeid, kind, name, abspath, parent index]``
    collectors: list[list[Any]]
    deselected: list[str]
    #: ``{nodeid: xdist_group name}``
    groups: dict[str, str]


class Command(TypedDict, total=False):
    cmd: Literal["run", "stop", "exit", "go"]
    ids: list[str] | None
    more: bool


#: How a child's output reaches the user (``mode`` in the child's options):
#: ``captured`` (pytest captures it into reports; the rest is kept for crash messages),
#: ``relay`` (``-s``: the parent copies it to its own output as it comes) or ``terminal``
#: (the child has the parent's terminal as its standard streams, for ``-s`` and debuggers).
OutputMode = Literal["captured", "relay", "terminal"]


def encode_command(command: Command) -> bytes:
    return json.dumps(command, separators=(",", ":")).encode() + b"\n"


def decode_line(line: bytes) -> dict[str, Any] | None:
    """Decode one message line; ``None`` when it is not a JSON object with a ``kind``.

    Never raises: it runs in the reader thread.
    """
    try:
        value = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if isinstance(value, dict) and isinstance(value.get("kind"), str):
        return value
    return None


def protocol_error(member: str, child_pytest: str | None, detail: str) -> ChildProtocolError:
    return ChildProtocolError(
        f"member {member!r}: cannot read the results of its pytest "
        f"(child pytest {child_pytest or 'unknown'}, parent pytest {pytest.__version__}): "
        f"{detail}. Use a pytest release in the member's environment whose reports this pytest "
        "can read (the same major version is safest)"
    )


# --- reports ---------------------------------------------------------------------------------


class PathMapper:
    """Rewrites child paths and ids into the parent's form."""

    def __init__(
        self,
        *,
        prefix: str,
        suffix: str,
        child_cwd: Path,
        child_root: Path,
        parent_root: Path,
        parent_cwd: Path,
    ) -> None:
        self.prefix = prefix
        self.suffix = suffix
        self.child_cwd = child_cwd
        self.child_root = child_root
        self.parent_root = parent_root
        self.parent_cwd = parent_cwd

    def nodeid(self, child_nodeid: str) -> str:
        if not self.prefix:
            return child_nodeid + self.suffix
        if not child_nodeid:
            return self.prefix + self.suffix
        return f"{self.prefix}/{child_nodeid}{self.suffix}"

    def location_path(self, relpath: str) -> str:
        """A path relative to the child's rootdir, made relative to the parent's rootdir."""
        if not self.prefix:
            return relpath
        return os.path.normpath(os.path.join(self.prefix, relpath))

    def display_path(self, path: str) -> str:
        """A path as pytest prints it in tracebacks: relative to the cwd when shorter."""
        absolute = path if os.path.isabs(path) else os.path.join(self.child_cwd, path)
        absolute = os.path.normpath(absolute)
        try:
            relative = os.path.relpath(absolute, self.parent_cwd)
        except ValueError:
            return absolute
        return relative if len(relative) < len(absolute) else absolute

    def absolute(self, path: str) -> str:
        return path if os.path.isabs(path) else os.path.normpath(os.path.join(self.child_cwd, path))


def _rewrite_traceback(data: Any, mapper: PathMapper) -> None:
    if not isinstance(data, dict):
        return
    for entry in data.get("reprentries") or ():
        fileloc = entry.get("data", {}).get("reprfileloc") if isinstance(entry, dict) else None
        if isinstance(fileloc, dict) and isinstance(fileloc.get("path"), str):
            fileloc["path"] = mapper.display_path(fileloc["path"])


def _rewrite_longrepr(longrepr: Any, mapper: PathMapper) -> Any:
    if isinstance(longrepr, list) and len(longrepr) == 3 and isinstance(longrepr[0], str):
        # A skip: (path, lineno, reason); pytest expects a tuple.
        return (mapper.absolute(longrepr[0]), longrepr[1], longrepr[2])
    if isinstance(longrepr, dict):
        _rewrite_traceback(longrepr.get("reprtraceback"), mapper)
        for link in longrepr.get("chain") or ():
            if isinstance(link, list) and link:
                _rewrite_traceback(link[0], mapper)
    return longrepr


def rebuild_report(
    config: pytest.Config,
    data: Any,
    mapper: PathMapper,
    *,
    member: str,
    key: str,
    child_pytest: str | None,
) -> pytest.TestReport | pytest.CollectReport:
    """Rebuild a serialized child report as a parent report with parent-form ids."""
    if not isinstance(data, dict) or not isinstance(data.get("nodeid"), str):
        raise protocol_error(member, child_pytest, f"malformed report {str(data)[:200]!r}")
    data["nodeid"] = mapper.nodeid(data["nodeid"])
    location = data.get("location")
    if isinstance(location, list) and len(location) == 3:
        data["location"] = (mapper.location_path(str(location[0])), location[1], location[2])
    data["longrepr"] = _rewrite_longrepr(data.get("longrepr"), mapper)
    sections = data.get("sections")
    if isinstance(sections, list):
        data["sections"] = [tuple(s) if isinstance(s, list) else s for s in sections]
    props = data.get("user_properties")
    if isinstance(props, list):
        data["user_properties"] = [tuple(p) if isinstance(p, list) else p for p in props]
    data["wsenv_member"] = key
    try:
        report = config.hook.pytest_report_from_serializable(config=config, data=data)
    except Exception as exc:
        raise protocol_error(
            member, child_pytest, f"{type(exc).__name__}: {exc} in report {data['nodeid']!r}"
        ) from exc
    if not isinstance(report, (pytest.TestReport, pytest.CollectReport)):
        raise protocol_error(
            member, child_pytest, f"unknown report type {data.get('$report_type')!r}"
        )
    return report


# --- warnings --------------------------------------------------------------------------------

_SYNTHETIC: dict[tuple[str, str], type[Warning]] = {}


def _category(spec: Any) -> type[Warning]:
    """The warning class named by the child, without importing member code.

    Builtins and classes of modules the parent already imported are used as they are; any other
    class is stood in for by a ``Warning`` subclass of the same module and name, which is all the
    warnings summary shows.
    """
    if not (isinstance(spec, list) and len(spec) == 2):
        return UserWarning
    module, qualname = str(spec[0]), str(spec[1])
    found: Any = builtins if module == "builtins" else sys.modules.get(module)
    for part in qualname.split("."):
        found = getattr(found, part, None) if found is not None else None
    if isinstance(found, type) and issubclass(found, Warning):
        return found
    key = (module, qualname)
    if key not in _SYNTHETIC:
        name = qualname.rpartition(".")[2]
        _SYNTHETIC[key] = type(name, (Warning,), {"__module__": module, "__qualname__": qualname})
    return _SYNTHETIC[key]


def rebuild_warning(data: Any) -> warnings.WarningMessage:
    data = data if isinstance(data, dict) else {}
    category = _category(data.get("category"))
    text = str(data.get("message", ""))
    try:
        message: Warning = category(text)
    except Exception:
        message = Warning(text)
    lineno = data.get("lineno")
    return warnings.WarningMessage(
        message,
        category,
        str(data.get("filename", "")),
        lineno if isinstance(lineno, int) else 0,
        None,
        data.get("line") if isinstance(data.get("line"), str) else None,
    )


def collected_ids(items: Sequence[Sequence[Any]], rewrite: Callable[[str], str]) -> list[str]:
    return [rewrite(str(entry[0])) for entry in items]
