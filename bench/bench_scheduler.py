"""Benchmark: how soon results stream, what a run holds, one big member against xdist.

Figures for the scheduler of ``pytest --ws-isolated -n 2``, on generated warm workspaces
(members of 5 tests each from ``_common.write_members_workspace``; every environment is
built by an untimed warm-up run, which also checks that every test passes). Four parts,
chosen with ``--parts`` (default all), each printing a markdown table:

- ``latency``: seconds from starting ``pytest --ws-isolated -n 2 -v`` to the first test
  result on its output (read from the pipe as it comes: the first ``PASSED``-like word),
  at 16, 50 and 150 members, and that time as a fraction of the whole run;
- ``memory``: peak memory of the whole process tree (parent, fork servers, children:
  summed proportional set size from ``/proc/<pid>/smaps_rollup``, sampled every 50 ms),
  the peak number of processes in it and the parent's peak open descriptors
  (``/proc/<pid>/fd``), at 16, 48, 150 and 500 members, with the default bound on idle
  collected children and with ``-o wsenv_max_idle=4``; then whether the largest size
  passes under ``ulimit -n 256`` (``RLIMIT_NOFILE`` lowered for the measured command);
- ``big``: one member with 2,000 small tests in 20 modules plus 10 members of 5 tests:
  ``pytest --ws-isolated -n 2`` against ``pytest -n 2`` (pytest-xdist) and plain
  ``pytest`` in the shared ``.venv`` at the root (``uv sync --all-packages --frozen``, as
  in ``bench_isolated_run.py``, plus pytest-xdist);
- ``whole``: a warm run over 48 members, ``pytest --ws-isolated -n 2`` against the shared
  ``.venv``'s ``pytest`` and ``pytest -n 2``, and against a floor for any runner that
  gives each member a pytest session of its own: one pytest per member forked from a
  warm interpreter in the shared ``.venv``, two at a time, nothing else
  (``FORKED_FLOOR``).

The ``latency``, ``memory`` and ``whole`` parts also measure ``--ws-stream`` (members run
as they collect) beside the default; ``--no-stream`` leaves those rows out, for versions
without the option. In ``big`` the member is spread over both workers where the measured
version can (``-n 2`` alone).

Within a part the commands (and sizes) run interleaved: each round runs every one once,
starting one further along. ``--python`` names the interpreter whose pytest-wsenv is
measured (default: the one running this script), so the same script measures any
installed version; everything else (wheels, workspaces, uv) comes from this checkout and
runs offline. Run from the repository root::

    env -u PYTHONDONTWRITEBYTECODE python bench/bench_scheduler.py [--parts latency,memory]
        [--runs 3] [--large-runs 1] [--python PATH]

Sizes of ``LARGE`` members or more run ``--large-runs`` rounds. All parts with the
defaults take about 15 minutes on a 2-CPU machine, most of it at 500 members.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BUILD_SYSTEM,
    REQUIRES_PYTHON,
    Timer,
    bench_env,
    describe_machine,
    find_uv,
    make_wheelhouse,
    repack_installed,
    run_checked,
    summary,
    uv_lock,
    write_members_workspace,
    write_workspace,
)
from bench_isolated_run import _passed, _pss_kib

PARTS = ("latency", "memory", "big", "whole")
#: Sizes from this many members on run ``--large-runs`` rounds.
LARGE = 300
#: The descriptor limit of the ``ulimit -n`` row.
LOW_NOFILE = 256
#: A test result word of pytest's ``-v`` output.
_RESULT = re.compile(rb" (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b")


@dataclass(slots=True)
class Run:
    """What one measured command did."""

    returncode: int
    output: str
    wall: float
    cpu: float  # user + system seconds of the command's process tree (waited-for processes)
    first: float | None = None  # seconds from start to the first test result
    pss_mib: float = 0.0  # peak summed PSS of the process tree
    processes: int = 0  # peak number of processes in the tree
    fds: int = 0  # peak open descriptors of the started process


def _descendants(root: int) -> list[int]:
    """``root`` and every process below it (by parent pid, from ``/proc/*/stat``)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            ppid = int(stat.rsplit(b")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def _children_cpu() -> float:
    """User + system time of this process's finished children (not of its own threads, so
    the sampler's work is left out)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


class _Sampler(threading.Thread):
    """Every ``interval`` seconds: the tree's summed PSS and size, the root's descriptors."""

    def __init__(self, root: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.done = threading.Event()
        self.pss_kib = self.processes = self.fds = 0

    def run(self) -> None:
        while True:
            pids = _descendants(self.root)
            self.pss_kib = max(self.pss_kib, sum(_pss_kib(p) for p in pids))
            self.processes = max(self.processes, len(pids))
            self.fds = max(self.fds, _open_fds(self.root))
            if self.done.wait(self.interval):
                return


def measure(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    sample: bool = False,
    nofile: int | None = None,
) -> Run:
    """Run ``argv``, reading its output as it comes: when the first test result appeared,
    and (``sample``) the peaks of its process tree; ``nofile`` lowers its ``ulimit -n``."""

    def lower_limit() -> None:
        assert nofile is not None
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        soft = nofile if hard == resource.RLIM_INFINITY else min(nofile, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    before = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # no thread of ours runs yet (the sampler starts after), so preexec_fn is safe here
        preexec_fn=lower_limit if nofile is not None else None,  # noqa: PLW1509
    )
    sampler = _Sampler(proc.pid) if sample else None
    if sampler is not None:
        sampler.start()
    assert proc.stdout is not None
    buffer = bytearray()
    first = None
    while chunk := os.read(proc.stdout.fileno(), 1 << 16):
        searched = max(0, len(buffer) - 16)
        buffer += chunk
        if first is None and _RESULT.search(buffer, searched):
            first = time.perf_counter() - start
    returncode = proc.wait()
    wall = time.perf_counter() - start
    proc.stdout.close()
    cpu = _children_cpu() - before
    run = Run(returncode, buffer.decode(errors="replace"), wall, cpu, first)
    if sampler is not None:
        sampler.done.set()
        sampler.join()
        run.pss_mib, run.processes, run.fds = sampler.pss_kib / 1024, sampler.processes, sampler.fds
    return run


@dataclass
class Bench:
    """The workspaces (made and warmed once each) and every measured run, by row name."""

    scratch: Path
    python: str
    uv: str
    runs: int
    large_runs: int
    wheelhouse: Path = field(init=False)
    env: dict[str, str] = field(init=False)
    made: dict[str, Path] = field(default_factory=dict)
    record: dict[str, list[Run]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.wheelhouse = make_wheelhouse(self.scratch / "wheels")
        for dist in ("pytest-xdist", "execnet"):  # for `pytest -n` in the shared .venv
            repack_installed(self.wheelhouse, dist)
        self.env = bench_env(self.scratch)

    def ours(self, *options: str) -> list[str]:
        return [self.python, "-m", "pytest", "--ws-isolated", "-n", "2", *options]

    def members(self, count: int) -> Path:
        """A warm workspace of ``count`` members of 5 tests."""
        key = f"ws{count}"
        if key not in self.made:
            ws = self.scratch / key
            print(f"{count} members: writing, locking, building", file=sys.stderr, flush=True)
            write_members_workspace(ws, self.wheelhouse, count)
            self._warm(ws, 5 * count)
            self.made[key] = ws
        return self.made[key]

    def big(self, modules: int = 20, per_module: int = 100, small: int = 10) -> Path:
        """A warm workspace: ``small`` members of 5 tests and ``big`` of modules x tests."""
        if "big" not in self.made:
            ws = self.scratch / "big"
            print("big member: writing, locking, building", file=sys.stderr, flush=True)
            write_members_workspace(ws, self.wheelhouse, small)
            files = {
                "packages/big/pyproject.toml": (
                    f'[project]\nname = "big"\nversion = "0.1.0"\n'
                    f'requires-python = "{REQUIRES_PYTHON}"\ndependencies = ["tinyleft"]\n'
                    f'[dependency-groups]\ndev = ["pytest"]\n{BUILD_SYSTEM}'
                ),
                "packages/big/src/big/__init__.py": 'NAME = "big"\n',
            }
            for m in range(modules):
                files[f"packages/big/tests/test_big{m:02d}.py"] = "".join(
                    f"\n\ndef test_{i:03d}():\n    assert {i} + {m} == {i + m}\n"
                    for i in range(per_module)
                ).lstrip()
            write_workspace(ws, files)
            uv_lock(ws, self.wheelhouse)
            self._warm(ws, modules * per_module + 5 * small)
            self.made["big"] = ws
        return self.made["big"]

    def shared(self, ws: Path) -> Path:
        """``ws``'s shared ``.venv`` (every member, pytest-xdist); its python."""
        python = ws / ".venv" / "bin" / "python"
        if not python.exists():
            run_checked([self.uv, "sync", "--all-packages", "--frozen"], cwd=ws, env=self.env)
            run_checked(
                [
                    self.uv,
                    "pip",
                    "install",
                    "--python",
                    str(python),
                    "--offline",
                    "--no-index",
                    "--find-links",
                    str(self.wheelhouse),
                    "pytest-xdist",
                ],
                cwd=ws,
                env=self.env,
            )
        return python

    def _warm(self, ws: Path, tests: int) -> None:
        run = measure(self.ours("-q"), cwd=ws, env=self.env)
        if run.returncode != 0 or not _passed(tests)(run.output):
            raise RuntimeError(f"warm-up in {ws} exited {run.returncode}:\n{run.output[-3000:]}")

    def action(
        self, name: str, argv: Sequence[str], ws: Path, tests: int, *, sample: bool = False
    ) -> Callable[[], Run]:
        """A timed action: run ``argv`` in ``ws``, check that all ``tests`` passed, keep it."""

        def act() -> Run:
            run = measure(argv, cwd=ws, env=self.env, sample=sample)
            if run.returncode != 0 or not _passed(tests)(run.output):
                raise RuntimeError(f"{name} exited {run.returncode}:\n{run.output[-3000:]}")
            self.record.setdefault(name, []).append(run)
            return run

        return act

    def interleave(
        self, actions: Mapping[str, Callable[[], Run]], runs: int, *, warm: bool = True
    ) -> Timer:
        """``runs`` interleaved rounds, after an untimed one if ``warm`` (bytecode caches;
        the members' environments are built by :meth:`members` already)."""
        if warm:
            for act in actions.values():
                act()
            for name in actions:
                self.record.pop(name, None)
        timer = Timer()
        timer.rounds(dict(actions), runs)
        return timer

    def rounds_for(self, count: int) -> int:
        return self.large_runs if count >= LARGE else self.runs


def _span(values: Sequence[float], fmt: str = ".2f") -> str:
    """``median (min-max)``."""
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"


def _load(timer: Timer) -> str:
    loads = [s.load for samples in timer.samples.values() for s in samples]
    return f"{min(loads):.1f}-{max(loads):.1f}"


def part_latency(bench: Bench, sizes: Sequence[int], stream: bool) -> str:
    actions = {
        f"{n} members": bench.action(f"{n} members", bench.ours("-v"), bench.members(n), 5 * n)
        for n in sizes
    }
    if stream:
        for n in sizes:
            name = f"{n} members, `--ws-stream`"
            actions[name] = bench.action(
                name, bench.ours("-v", "--ws-stream"), bench.members(n), 5 * n
            )
    timer = bench.interleave(actions, bench.runs, warm=False)
    lines = [
        f"### Latency to the first result: `pytest --ws-isolated -n 2 -v`, "
        f"{bench.runs} rounds, load {_load(timer)}",
        "",
        "| members x 5 tests | first result s | whole run s | first / whole | CPU s |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name in actions:
        runs = bench.record[name]
        firsts = [r.first or r.wall for r in runs]
        lines.append(
            f"| {name} | {_span(firsts)} | {_span([r.wall for r in runs])} | "
            f"{_span([f / r.wall for f, r in zip(firsts, runs, strict=True)], '.0%')} | "
            f"{statistics.median(r.cpu for r in runs):.2f} |"
        )
    return "\n".join(lines)


def part_memory(bench: Bench, sizes: Sequence[int], idle: int, stream: bool) -> str:
    rows: dict[str, Callable[[], Run]] = {}
    for n in sizes:
        ws = bench.members(n)
        if stream:
            rows[f"{n}, `--ws-stream`"] = bench.action(
                f"{n}, `--ws-stream`", bench.ours("-q", "--ws-stream"), ws, 5 * n, sample=True
            )
        rows[f"{n}, default bound"] = bench.action(
            f"{n}, default bound", bench.ours("-q"), ws, 5 * n, sample=True
        )
        rows[f"{n}, wsenv_max_idle={idle}"] = bench.action(
            f"{n}, wsenv_max_idle={idle}",
            bench.ours("-q", "-o", f"wsenv_max_idle={idle}"),
            ws,
            5 * n,
            sample=True,
        )
    loads = []
    for runs in sorted({bench.rounds_for(n) for n in sizes}):
        group = {k: v for k, v in rows.items() if bench.rounds_for(int(k.split(",")[0])) == runs}
        loads.append(_load(bench.interleave(group, runs, warm=False)))
    lines = [
        f"### Peak memory and descriptors: `pytest --ws-isolated -n 2 -q`, load {', '.join(loads)}",
        "",
        "| members x 5 tests, bound | runs | wall s | CPU s | peak PSS MiB, whole tree | "
        "peak processes | parent's peak descriptors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in rows:
        runs_ = bench.record[name]
        lines.append(
            f"| {name} | {len(runs_)} | {_span([r.wall for r in runs_])} | "
            f"{statistics.median(r.cpu for r in runs_):.2f} | "
            f"{_span([r.pss_mib for r in runs_], '.0f')} | "
            f"{_span([float(r.processes) for r in runs_], '.0f')} | "
            f"{_span([float(r.fds) for r in runs_], '.0f')} |"
        )
    biggest = max(sizes)
    lines.append("")
    for label, options in (("", ()), (" with `--ws-stream`", ("--ws-stream",))):
        if options and not stream:
            continue
        low = measure(
            bench.ours("-q", *options),
            cwd=bench.members(biggest),
            env=bench.env,
            sample=True,
            nofile=LOW_NOFILE,
        )
        ok = low.returncode == 0 and _passed(5 * biggest)(low.output)
        last = low.output.strip().splitlines()[-1] if low.output.strip() else "(no output)"
        lines.append(
            f"Under `ulimit -n {LOW_NOFILE}`, {biggest} members{label}: "
            f"{'passed' if ok else 'FAILED'} (exit {low.returncode}, `{last.strip('= ')}`; "
            f"one run: {low.wall:.2f} s, CPU {low.cpu:.2f} s, {low.pss_mib:.0f} MiB, "
            f"{low.processes} processes, {low.fds} descriptors)"
        )
    return "\n".join(lines)


#: One pytest session per member, each forked from one interpreter that imported pytest
#: (as a fork server does), two at a time, in the shared .venv: what a session per member
#: costs with no environment of its own, no reuse check and no replay. Prints the sum of
#: the members' passed tests; exits 1 if a member's pytest did not pass.
FORKED_FLOOR = """
import importlib, os, sys
import pytest
from _pytest.config import default_plugins
for name in default_plugins:
    try:
        importlib.import_module("_pytest." + name)
    except ImportError:
        pass

class Count:
    passed = 0
    def pytest_runtest_logreport(self, report):
        self.passed += report.when == "call" and report.passed

read, write = os.pipe()
running = failed = 0
def reap():
    global running, failed
    _, status = os.wait()
    running -= 1
    failed += os.waitstatus_to_exitcode(status) != 0
for member in sys.argv[1:]:
    if running == 2:
        reap()
    if os.fork() == 0:
        os.close(read)
        os.chdir(member)
        count = Count()
        code = pytest.main(["-q", "-p", "no:cacheprovider", "tests"], plugins=[count])
        os.write(write, b"%d\\n" % count.passed)
        os._exit(int(code))
    running += 1
while running:
    reap()
os.close(write)
with os.fdopen(read, "rb") as counts:
    print(sum(int(line) for line in counts), "passed")
sys.exit(1 if failed else 0)
"""


def _versus(
    bench: Bench,
    *,
    title: str,
    ws: Path,
    tests: int,
    ours_name: str,
    peers: Sequence[str],
    stream: bool = False,
    forked_floor: bool = False,
) -> str:
    python = str(bench.shared(ws))
    argv = {
        ours_name: bench.ours("-q"),
        **({f"{ours_name[:-1]} --ws-stream`": bench.ours("-q", "--ws-stream")} if stream else {}),
        "shared .venv `pytest`": [python, "-m", "pytest", "-q"],
        "shared .venv `pytest -n 2`": [python, "-m", "pytest", "-q", "-n", "2"],
    }
    if forked_floor:
        members = sorted(str(d) for d in (ws / "packages").iterdir() if (d / "tests").is_dir())
        argv["forked floor: a pytest per member, 2 at a time"] = [
            python,
            "-c",
            FORKED_FLOOR,
            *members,
        ]
    actions = {name: bench.action(name, a, ws, tests) for name, a in argv.items()}
    timer = bench.interleave(actions, bench.runs)
    rows = {name: summary(samples) for name, samples in timer.samples.items()}
    lines = [
        f"### {title}, {bench.runs} rounds, load {_load(timer)}",
        "",
        "| command | median s | min-max s | CPU s | " + " | ".join(f"/ {p}" for p in peers) + " |",
        "| --- | ---: | ---: | ---: |" + " ---: |" * len(peers),
    ]
    for name, row in rows.items():
        ratios = " | ".join(f"{row['median'] / rows[p]['median']:.2f}x" for p in peers)
        lines.append(
            f"| {name} | {row['median']:.2f} | {row['min']:.2f}-{row['max']:.2f} | "
            f"{row['cpu']:.2f} | {ratios} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable, help="interpreter measured")
    parser.add_argument(
        "--parts", default=",".join(PARTS), help="comma-separated: " + ", ".join(PARTS)
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--large-runs", type=int, default=1, help=f"rounds at {LARGE}+ members")
    parser.add_argument("--latency-members", type=int, nargs="+", default=[16, 50, 150])
    parser.add_argument("--memory-members", type=int, nargs="+", default=[16, 48, 150, 500])
    parser.add_argument("--idle", type=int, default=4, help="wsenv_max_idle of the second row")
    parser.add_argument(
        "--no-stream",
        dest="stream",
        action="store_false",
        help="leave out the --ws-stream rows (for versions without the option)",
    )
    args = parser.parse_args()
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if unknown := sorted(set(parts) - set(PARTS)):
        parser.error(f"unknown parts {unknown}; choose from {', '.join(PARTS)}")
    uv = find_uv()
    if uv is None:
        print("uv is not installed", file=sys.stderr)
        return 2
    where = subprocess.run(
        [
            args.python,
            "-c",
            "import importlib.metadata as m, pytest_wsenv as p; "
            "print(m.version('pytest-wsenv'), p.__file__)",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if where.returncode != 0:
        print(f"{args.python}: pytest-wsenv is not importable:\n{where.stderr}", file=sys.stderr)
        return 2
    print(f"machine: {describe_machine()}")
    print(f"measured: pytest-wsenv {where.stdout.strip()} ({args.python})\n", flush=True)
    with tempfile.TemporaryDirectory(prefix="wsenv-bench-") as tmp:
        bench = Bench(Path(tmp), args.python, uv, args.runs, args.large_runs)
        for part in PARTS:
            if part not in parts:
                continue
            if part == "latency":
                table = part_latency(bench, args.latency_members, args.stream)
            elif part == "memory":
                table = part_memory(bench, args.memory_members, args.idle, args.stream)
            elif part == "big":
                table = _versus(
                    bench,
                    title="One member of 2,000 tests (20 modules) and 10 of 5",
                    ws=bench.big(),
                    tests=2050,
                    ours_name="ours `--ws-isolated -n 2`",
                    peers=["shared .venv `pytest -n 2`", "shared .venv `pytest`"],
                )
            else:
                table = _versus(
                    bench,
                    title="Whole warm run, 48 members x 5 tests",
                    ws=bench.members(48),
                    tests=240,
                    ours_name="ours `--ws-isolated -n 2`",
                    peers=["shared .venv `pytest`", "shared .venv `pytest -n 2`"],
                    stream=args.stream,
                    forked_floor=True,
                )
            print(table + "\n", flush=True)
    print(f"(1-minute load average at the end {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
