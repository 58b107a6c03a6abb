"""Benchmark: what pytest-wsenv costs a pytest session that does not use it.

A 500-test project (10 files x 50 tests, no configuration) is run by five commands,
interleaved, ``--runs`` rounds (each round starts one command further along), once as
``pytest -q --collect-only`` (startup and collection: where a plugin's cost lands) and
once as ``pytest -q`` (running the 500 tests):

- ``installed``: a venv with pytest-wsenv (a wheel built from this checkout, as
  ``pip install .`` installs it) and its requirements; no ``--ws-*`` option: the plugin is
  loaded and does nothing;
- ``installed -p no:wsenv``: the same venv, the plugin blocked;
- ``without``: a venv with the same packages except pytest-wsenv itself (pytest-xdist
  and the rest of its requirements stay), so the difference is the plugin alone;
- ``without (again)``: the same command as ``without``, timed as a separate row: the
  difference between the two is pure noise (an A/A check);
- ``pytest only``: a venv with pytest and its own requirements, as before pytest-wsenv
  was installed: the difference also counts pytest-xdist, which pytest-wsenv requires
  (for ``-n``) and which, once installed, registers its plugin in every session.

Reported: each command's median and spread, and for each pair the median of the
per-round differences (paired: both ran in the same round) with their interquartile
range. Every interpreter is started by its real path, with bytecode writing on.
Offline: every wheel is built or repacked locally.

Run from the repository root (needs uv)::

    python bench/bench_noop_plugin.py [--runs 40]
    python bench/bench_noop_plugin.py --quick     # 10 rounds
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    Sample,
    Timer,
    base_python,
    bench_env,
    describe_machine,
    find_uv,
    repack_installed,
    requirement_closure,
    run_checked,
    summary,
    wsenv_wheel,
)

FILES, TESTS_PER_FILE = 10, 50
TESTS = FILES * TESTS_PER_FILE


def _project(root: Path) -> Path:
    for f in range(FILES):
        body = "\n\n".join(
            f"def test_{f:02d}_{t:02d}():\n    assert {t} + 1 == {t + 1}\n"
            for t in range(TESTS_PER_FILE)
        )
        path = root / "tests" / f"test_file{f:02d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    return root


def _venv(
    uv: str, path: Path, wheelhouse: Path, packages: Sequence[str], env: Mapping[str, str]
) -> Path:
    python = path / "bin" / "python"
    run_checked(
        [uv, "venv", "-q", "--python", str(base_python()), str(path)], cwd=path.parent, env=env
    )
    install = [uv, "pip", "install", "-q", "--python", str(python), "--offline", "--no-index"]
    run_checked([*install, "--find-links", str(wheelhouse), *packages], cwd=path.parent, env=env)
    return python


#: Run in a fresh interpreter of the ``installed`` venv: the plugin's own time in one
#: session, measured from inside (import of the plugin module, then its hooks in a
#: ``pytest --collect-only`` under cProfile, which inflates them if anything).
_IN_PROCESS = """
import contextlib, cProfile, io, pstats, sys, time
import pytest
start = time.perf_counter()
import pytest_wsenv.plugin
imported = time.perf_counter() - start
prof = cProfile.Profile()
with contextlib.redirect_stdout(io.StringIO()):
    prof.runcall(pytest.main, ["--collect-only", "-q", "-p", "no:cacheprovider"])
hooks = sum(
    row[3]
    for (filename, _, func), row in pstats.Stats(prof).stats.items()
    if "pytest_wsenv" in filename and func.startswith("pytest_")
)
print(imported * 1000, hooks * 1000)
"""


def _in_process(python: Path, project: Path, env: Mapping[str, str], runs: int) -> str:
    imports, hooks = [], []
    for _ in range(runs):
        out = run_checked([str(python), "-c", _IN_PROCESS], cwd=project, env=env)
        a, b = out.split()[-2:]
        imports.append(float(a))
        hooks.append(float(b))
    return (
        f"in-process, {runs} fresh interpreters: `import pytest_wsenv.plugin` median "
        f"{statistics.median(imports):.2f} ms (max {max(imports):.2f}); its hooks "
        f"(pytest_addoption, pytest_load_initial_conftests, pytest_configure) in a "
        f"`--collect-only` session under cProfile: median {statistics.median(hooks):.2f} ms "
        f"(max {max(hooks):.2f})"
    )


def _paired(a: Sequence[Sample], b: Sequence[Sample]) -> tuple[float, float, float]:
    """Median and interquartile range of the per-round differences ``a - b`` (ms)."""
    diffs = sorted((x.wall - y.wall) * 1000 for x, y in zip(a, b, strict=True))
    q1, _, q3 = statistics.quantiles(diffs, n=4)
    return statistics.median(diffs), q1, q3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="10 rounds")
    args = parser.parse_args()
    runs = 10 if args.quick else args.runs
    uv = find_uv()
    if uv is None:
        print("uv is not installed", file=sys.stderr)
        return 2
    print(f"machine: {describe_machine()}")
    with tempfile.TemporaryDirectory(prefix="wsenv-bench-") as tmp:
        scratch = Path(tmp)
        env = bench_env(scratch)
        wheelhouse = scratch / "wheels"
        deps = [n for n in requirement_closure(["pytest-wsenv"]) if n != "pytest-wsenv"]
        for name in deps:
            repack_installed(wheelhouse, name)
        wsenv_wheel(wheelhouse)
        pythons = {
            "with": _venv(uv, scratch / "with", wheelhouse, ["pytest-wsenv"], env),
            "without": _venv(uv, scratch / "without", wheelhouse, deps, env),
            "bare": _venv(uv, scratch / "bare", wheelhouse, requirement_closure(["pytest"]), env),
        }
        project = _project(scratch / "project")

        def command(python: str, *extra: str) -> Callable[[list[str]], Callable[[], str]]:
            def with_mode(mode: list[str]) -> Callable[[], str]:
                argv = [str(pythons[python]), "-m", "pytest", "-q", *mode, *extra]
                return lambda: run_checked(argv, cwd=project, env=env)

            return with_mode

        commands = {
            "installed": command("with"),
            "installed -p no:wsenv": command("with", "-p", "no:wsenv"),
            "without": command("without"),
            "without (again)": command("without"),
            "pytest only": command("bare"),
        }
        out = run_checked(
            [str(pythons["with"]), "-m", "pytest", "--version", "--version"], cwd=project, env=env
        )
        if "wsenv" not in out:
            raise RuntimeError(f"pytest-wsenv is not registered in the 'with' venv:\n{out}")
        for mode, label, expect in (
            (["--collect-only"], "pytest -q --collect-only", f"{TESTS} tests collected"),
            ([], "pytest -q", f"{TESTS} passed"),
        ):
            actions = {name: make(mode) for name, make in commands.items()}
            for name, action in actions.items():  # warm-up: bytecode, page cache; checks output
                if expect not in action():
                    raise RuntimeError(f"{name}: expected {expect!r}")
            timer = Timer()
            timer.rounds(actions, runs, progress=False)
            print(f"\n### `{label}` on {TESTS} tests, {runs} interleaved rounds\n")
            print("| command | median ms | min-max ms | CPU ms | load |")
            print("| --- | ---: | ---: | ---: | ---: |")
            for name, samples in timer.samples.items():
                row = summary(samples)
                print(
                    f"| {name} | {row['median'] * 1000:.0f} | {row['min'] * 1000:.0f}-"
                    f"{row['max'] * 1000:.0f} | {row['cpu'] * 1000:.0f} | {row['load']:.1f} |"
                )
            print()
            for a, b in (
                ("installed", "without"),
                ("installed", "installed -p no:wsenv"),
                ("without (again)", "without"),
                ("without", "pytest only"),
                ("installed", "pytest only"),
            ):
                median, q1, q3 = _paired(timer.samples[a], timer.samples[b])
                print(
                    f"- {a} - {b}: median {median:+.1f} ms per session "
                    f"(interquartile range {q1:+.1f} to {q3:+.1f} ms)"
                )
        print()
        print(_in_process(pythons["with"], project, env, min(runs, 20)))
        print(f"\n(1-minute load average at the end {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
