"""Benchmark: ``pytest --ws-isolated`` against the shared ``.venv`` on a real uv workspace.

Not run in CI: it needs a checkout of a public uv workspace and the package index. Given
the checkout, for each member (or the ``--member`` subset):

- **shared**: ``uv sync --all-packages --all-extras`` at the root (once), the
  ``--shared-with`` requirements installed into that ``.venv`` (for workspaces that keep
  their test tooling outside uv), then ``pytest <member dir>`` per member with that
  ``.venv``'s interpreter, from the root, nested members' directories ignored;
- **isolated**: pytest-wsenv installed into the same ``.venv`` (as a user adds it to the
  workspace's dev tooling; the parent then reads the root's pytest configuration with the
  plugins it names), then ``pytest --ws-isolated --ws-package <member> <member dir>`` per
  member, with no other flag (``--isolated-arg`` adds some).

The shared column runs first, before pytest-wsenv is installed into the ``.venv``. Both
columns run from the workspace root with the same paths, so node ids match. Outcomes are
counted from ``--junitxml`` files (never from terminal output): per member passed, failed,
errors, skipped; per test, the ones whose outcome differs between the columns, and whether
the isolated report carries a pytest-wsenv note (``wsenv: missing module: ...`` after a
failure, ``[wsenv: ...]`` after a skip's reason). Prints a Markdown table and the notes;
``--json FILE`` writes everything.

Usage::

    git --git-dir <mirror> archive <commit> | tar -x -C /tmp/otel
    python bench/real_workspaces.py /tmp/otel --member opentelemetry-api \\
        --shared-with -r --shared-with dev-requirements.txt
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pytest_wsenv.workspace import Member, Workspace  # noqa: E402

_NOTE = re.compile(r"wsenv: missing module: (.+)|\[wsenv: (.+?)\]\s*$", re.MULTILINE)
_OUTCOMES = ("passed", "failed", "errors", "skipped")


@dataclass
class Column:
    """One member's run in one column."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_OUTCOMES, 0))
    tests: dict[str, str] = field(default_factory=dict)  # test id -> outcome
    notes: dict[str, str] = field(default_factory=dict)  # test id -> wsenv note
    returncode: int | None = None
    seconds: float = 0.0
    problem: str = ""  # no report: why (the last line pytest wrote)


@dataclass
class MemberResult:
    member: str
    path: str
    shared: Column
    isolated: Column

    def differences(self) -> list[tuple[str, str, str, str]]:
        """(test id, shared outcome, isolated outcome, note) for every test that differs."""
        found = []
        for test in sorted(set(self.shared.tests) | set(self.isolated.tests)):
            before = self.shared.tests.get(test, "absent")
            after = self.isolated.tests.get(test, "absent")
            if before != after:
                found.append((test, before, after, self.isolated.notes.get(test, "")))
        return found


def _outcome(case: ET.Element) -> tuple[str, str]:
    """(outcome, the text pytest wrote for it) of one junit ``testcase``."""
    for tag, outcome in (("error", "errors"), ("failure", "failed"), ("skipped", "skipped")):
        child = case.find(tag)
        if child is not None:
            return outcome, f"{child.get('message', '')}\n{child.text or ''}"
    return "passed", ""


def read_junit(path: Path, column: Column) -> None:
    """Count a junit XML file into ``column``; each test once (an error in teardown after a
    pass counts as the error)."""
    tree = ET.parse(path)
    rank = {"passed": 0, "skipped": 1, "failed": 2, "errors": 3}
    for case in tree.iter("testcase"):
        test = f"{case.get('classname', '')}::{case.get('name', '')}"
        outcome, text = _outcome(case)
        if rank[outcome] >= rank.get(column.tests.get(test, "passed"), 0):
            column.tests[test] = outcome
        note = next((a or b for a, b in _NOTE.findall(text)), "")
        if note:
            column.notes[test] = note.strip()
    column.counts = dict.fromkeys(_OUTCOMES, 0)
    column.counts.update(Counter(column.tests.values()))


def _run(
    command: Sequence[str], cwd: Path, log: Path, timeout: float, env: dict[str, str]
) -> tuple[int, float]:
    start = time.perf_counter()
    with log.open("w") as out:
        try:
            code = subprocess.run(
                list(command),
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                timeout=timeout,
                check=False,
            ).returncode
        except subprocess.TimeoutExpired:
            code = -1
    return code, time.perf_counter() - start


def _last_line(log: Path) -> str:
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1][:200] if lines else "no output"


def _pytest(
    python: Path,
    args: Sequence[str],
    *,
    junit: Path,
    root: Path,
    log: Path,
    timeout: float,
    env: dict[str, str],
) -> Column:
    column = Column()
    junit.unlink(missing_ok=True)
    command = [str(python), "-m", "pytest", *args, f"--junitxml={junit}", "-p", "no:cacheprovider"]
    column.returncode, column.seconds = _run(command, root, log, timeout, env)
    if junit.is_file():
        read_junit(junit, column)
    else:
        column.problem = "timed out" if column.returncode == -1 else _last_line(log)
    return column


def _paths(workspace: Workspace, member: Member) -> tuple[str, list[str]]:
    """(the member's directory, ``--ignore`` options for the members nested in it)."""
    root = workspace.root
    ignores = [
        f"--ignore={os.path.relpath(m.path, root)}"
        for m in workspace.members.values()
        if m.name != member.name and member.path in m.path.parents
    ]
    return os.path.relpath(member.path, root), ignores


def _uv(args: Sequence[str], root: Path, log: Path, env: dict[str, str]) -> None:
    code, seconds = _run([sys.executable, "-m", "uv", *args], root, log, 3600, env)
    print(f"uv {' '.join(args)}: rc {code} in {seconds:.0f}s", flush=True)
    if code != 0:
        raise SystemExit(f"uv {' '.join(args)} failed; see {log}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path, help="Root of the uv workspace's checkout")
    parser.add_argument("--member", action="append", default=[], help="Only this member")
    parser.add_argument("--python", default=None, help="Interpreter for the shared .venv")
    parser.add_argument(
        "--shared-with",
        action="append",
        default=[],
        metavar="ARG",
        help="Arguments of `uv pip install` into the shared .venv after the sync "
        "(test tooling kept outside uv, e.g. -r dev-requirements.txt)",
    )
    parser.add_argument(
        "--isolated-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="Add this argument to the isolated runs (default: none)",
    )
    parser.add_argument(
        "--sync-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="Add this argument to `uv sync` (e.g. --no-install-package NAME for a member "
        "that does not build here)",
    )
    parser.add_argument("--timeout", type=float, default=1200, help="Seconds per pytest run")
    parser.add_argument("--out", type=Path, default=None, help="Logs and junit files")
    parser.add_argument("--json", type=Path, default=None, help="Write the results here")
    parser.add_argument(
        "--skip-sync",
        action="store_true",
        help="Reuse the existing .venv (and the pytest-wsenv installed into it)",
    )
    args = parser.parse_args(argv)

    workspace = Workspace.discover(args.checkout.resolve())
    root = workspace.root
    out = (args.out or root / ".wsenv-bench").resolve()
    out.mkdir(parents=True, exist_ok=True)
    members = [workspace.member(m) for m in args.member] or list(workspace.members.values())
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env.pop("PYTEST_ADDOPTS", None)
    python = root / ".venv" / "bin" / "python"
    # as under `uv run`: the shared environment's scripts (and `python`) come first on PATH
    env["PATH"] = os.pathsep.join([str(python.parent), env.get("PATH", "")])

    if not args.skip_sync:
        interpreter = ["--python", args.python] if args.python else []
        _uv(
            ["sync", "--all-packages", "--all-extras", *interpreter, *args.sync_arg],
            root,
            out / "sync.log",
            env,
        )
        if args.shared_with:
            _uv(
                ["pip", "install", "--python", str(python), *args.shared_with],
                root,
                out / "shared-with.log",
                env,
            )
    results: list[MemberResult] = []
    for member in members:
        path, ignores = _paths(workspace, member)
        shared = _pytest(
            python,
            [path, *ignores],
            junit=out / f"shared-{member.name}.xml",
            root=root,
            log=out / f"shared-{member.name}.log",
            timeout=args.timeout,
            env=env,
        )
        print(f"shared   {member.name}: {shared.counts} {shared.problem}", flush=True)
        results.append(MemberResult(member.name, path, shared, Column()))
    if not args.skip_sync:
        _uv(
            ["pip", "install", "--python", str(python), "-e", str(ROOT)],
            root,
            out / "install-wsenv.log",
            env,
        )
    for result in results:
        isolated = _pytest(
            python,
            ["--ws-isolated", "--ws-package", result.member, result.path, *args.isolated_arg],
            junit=out / f"isolated-{result.member}.xml",
            root=root,
            log=out / f"isolated-{result.member}.log",
            timeout=args.timeout,
            env=env,
        )
        result.isolated = isolated
        print(f"isolated {result.member}: {isolated.counts} {isolated.problem}", flush=True)

    for line in table(results):
        print(line)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1))
    return 0


def _cell(column: Column) -> str:
    if column.problem:
        return f"no report ({column.problem})"
    return " / ".join(str(column.counts[o]) for o in _OUTCOMES)


def table(results: Sequence[MemberResult]) -> list[str]:
    """The Markdown table (passed / failed / errors / skipped) and the notes per member."""
    lines = [
        "| member | shared .venv | --ws-isolated | tests that differ | with a wsenv note |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in results:
        diff = r.differences()
        noted = sum(1 for d in diff if d[3])
        lines.append(
            f"| {r.member} | {_cell(r.shared)} | {_cell(r.isolated)} | {len(diff)} | {noted} |"
        )
    for r in results:
        diff = r.differences()
        if not diff:
            continue
        lines.append("")
        lines.append(f"{r.member}:")
        notes = Counter((before, after, note) for _test, before, after, note in diff)
        for (before, after, note), count in notes.most_common():
            lines.append(f"  {count} x {before} -> {after}: {note or '(no wsenv note)'}")
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
