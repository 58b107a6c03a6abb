"""Benchmark: a warm ``pytest --ws-isolated -n 2`` over many members, with and without
the bound on idle collected children (``wsenv_max_idle``).

Every member is collected before the first test runs; a collected child then waits for
its turn. At most ``wsenv_max_idle`` (default 64) wait at once: a member collected
beyond that is parked, its child exits, and a new child collects it again at its turn.
For a workspace of ``--members`` members (default 150, 5 tests each, generated offline
by ``_common.write_members_workspace``; every environment built by a warm-up run), each
round times, interleaved:

- ``ours -n 2``: the default bound (64);
- ``ours -n 2, max_idle 16``: a tighter bound;
- ``ours -n 2, unbounded``: ``wsenv_max_idle`` above the number of members (the
  behaviour before the bound existed);
- ``floor -P 2``: one bare ``python -m pytest -q`` per member, two at a time, with the
  interpreter of the member's environment: what any per-member isolation pays.

An extra run of each ``ours`` row counts the children alive at once (peak) and their
summed proportional set size. The descriptor limit matters too: without the bound, a
run over 300 members under ``ulimit -n 1024`` cannot start about a third of them; this
script does not lower the limit. Run from the repository root::

    python bench/bench_many_members.py [--members 150] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    Timer,
    bench_env,
    describe_machine,
    find_uv,
    make_wheelhouse,
    run_checked,
    summary,
    write_members_workspace,
)
from bench_isolated_run import _each_passed, _passed, _peak_children, floor


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=150)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if find_uv() is None:
        print("uv is not installed", file=sys.stderr)
        return 2
    count = args.members
    print(f"machine: {describe_machine()}")
    with tempfile.TemporaryDirectory(prefix="wsenv-bench-") as tmp:
        scratch = Path(tmp)
        ws = scratch / "ws"
        names = write_members_workspace(ws, make_wheelhouse(scratch / "wheels"), count)
        env = bench_env(scratch)
        total = 5 * count
        parent = [sys.executable, "-m", "pytest", "--ws-isolated", "-q", "-n", "2"]

        def ours(max_idle: int | None) -> Callable[[], str]:
            option = [] if max_idle is None else ["-o", f"wsenv_max_idle={max_idle}"]
            return lambda: run_checked([*parent, *option], cwd=ws, env=env)

        actions: dict[str, Callable[[], str]] = {
            "ours -n 2": ours(None),
            "ours -n 2, max_idle 16": ours(16),
            "ours -n 2, unbounded": ours(count + 1),
            "floor -P 2": lambda: floor(ws, names, env, 2),
        }
        checks = {name: _passed(total) for name in actions}
        checks["floor -P 2"] = _each_passed(count)
        # warm-up: the first run builds every environment, which the floor then uses
        print(f"{count} members: warm-up (builds every environment once)", file=sys.stderr)
        for name, action in actions.items():
            if not checks[name](action()):
                raise RuntimeError(f"{name}: not every test passed")
        timer = Timer()
        timer.rounds(dict(actions), args.runs)
        rows = {name: summary(samples) for name, samples in timer.samples.items()}
        floor2 = rows["floor -P 2"]["median"]
        print(f"\n### {count} members x 5 tests, {args.runs} interleaved rounds\n")
        print("| command | median s | min-max s | CPU s | load | / floor -P 2 | peak children |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
        for name, row in rows.items():
            peak = ""
            if name.startswith("ours"):
                children, pss = _peak_children(actions[name])
                peak = f"{children}, {pss:.0f} MiB PSS"
            print(
                f"| {name} | {row['median']:.2f} | {row['min']:.2f}-{row['max']:.2f} | "
                f"{row['cpu']:.2f} | {row['load']:.1f} | {row['median'] / floor2:.2f}x | {peak} |"
            )
        print(f"\n(1-minute load average at the end {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
