"""Benchmark: a warm ``pytest --ws-isolated`` run against the other ways to isolate members.

For each workspace size (default 16 and 48 members, 5 tests each, generated offline by
``_common.write_members_workspace``), every environment is built once (warm-up round,
which also checks that every command passes every test), then these commands are timed
round-robin, ``--runs`` rounds, each round starting one command further along:

- ``ours``: ``pytest --ws-isolated -q`` with the parent interpreter (pytest-wsenv
  installed); ``ours -n 2``: the same with ``-n 2``; ``ours -n 2 --ws-no-fork``: every
  child a new interpreter instead of forked from a warm one;
- ``uv-run loop``: a shell loop over the members of ``cd packages/M && uv run --frozen
  --isolated --package M -- python -m pytest -q``; ``uv-run xargs -P 2``: the same loop
  two at a time;
- ``tox``: tox with tox-uv's ``uv-venv-lock-runner``, one environment per member
  (``uv sync --frozen --package M``), warm; ``tox -p 2``: the same, two at a time;
- ``nox -R``: one session parametrized over the members that runs ``uv sync --frozen
  --package M`` into its own environment, reused (``-R``: reuse, skip installs);
- ``shared .venv``: plain ``pytest -q`` at the root, in one environment holding every
  member (``uv sync --all-packages --frozen``): no isolation, for scale;
- ``parent alone``: the parent interpreter's ``pytest -q`` on one trivial test, no
  isolation: the fixed cost of starting the parent session;
- ``floor``: one bare ``python -m pytest -q`` per member, started directly with the
  interpreter of the member's cached pytest-wsenv environment, in the member's
  directory, one after another (``floor -P 2``: two at a time). This is what any
  per-member isolation must pay at least; ``ours - floor`` is the parent's own cost.

Every command runs offline (``UV_OFFLINE=1``, a private ``UV_CACHE_DIR``), with
bytecode writing on (``PYTHONDONTWRITEBYTECODE`` removed) and the real interpreter
(``UV_PYTHON``). tox and nox are not dependencies of this project: install them in a
throwaway environment and pass its ``bin`` directory (without it they are skipped)::

    uv venv "$PEERS" --python "$(python -c 'import sys; print(sys._base_executable)')"
    uv pip install --python "$PEERS/bin/python" tox tox-uv nox
    python bench/bench_isolated_run.py --peers "$PEERS/bin" [--members 16 48] [--runs 5]
    python bench/bench_isolated_run.py --peers "$PEERS/bin" --quick

``--quick`` is 8 members, 3 rounds (about 2 minutes; a smoke run, not a figure).
``--members 16`` takes about 5 minutes on a 2-CPU machine; the default (16 and 48
members, 5 rounds) about 17 minutes: each round starts one pytest per member for every
per-member command, and ``uv run --isolated`` alone takes 30 s per round at 48 members.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    Timer,
    base_python,
    bench_env,
    describe_machine,
    find_uv,
    make_wheelhouse,
    run_checked,
    summary,
    write_members_workspace,
)

Check = Callable[[str], bool]


def _passed(count: int) -> Check:
    return lambda out: f"{count} passed" in out and "failed" not in out and "error" not in out


def _each_passed(members: int, per_member: int = 5) -> Check:
    return lambda out: out.count(f"{per_member} passed") == members and "failed" not in out


def _tox_ini(names: Sequence[str]) -> str:
    return (
        "[tox]\n"
        f"env_list = {', '.join(names)}\n"
        "skip_missing_interpreters = false\n"
        "venv_redirect = false\n\n"
        "[testenv]\n"
        "runner = uv-venv-lock-runner\n"
        "uv_sync_flags = --frozen, --package={env_name}\n"
        "changedir = {tox_root}/packages/{env_name}\n"
        "commands = python -m pytest -q\n"
    )


def _noxfile(names: Sequence[str]) -> str:
    return (
        "import nox\n\n"
        f"MEMBERS = {list(names)!r}\n\n\n"
        '@nox.session(venv_backend="uv")\n'
        '@nox.parametrize("member", MEMBERS)\n'
        "def tests(session, member):\n"
        "    session.run_install(\n"
        '        "uv", "sync", "--frozen", "--package", member,\n'
        '        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},\n'
        "    )\n"
        '    session.chdir(f"packages/{member}")\n'
        '    session.run("python", "-m", "pytest", "-q")\n'
    )


def _member_pythons(ws: Path, names: Sequence[str]) -> dict[str, Path]:
    """Each member's cached environment interpreter (exactly one env per member)."""
    found: dict[str, Path] = {}
    for name in names:
        envs = [p for p in (ws / ".wsenv").glob(f"{name}-py*") if p.is_dir()]
        if len(envs) != 1:
            raise RuntimeError(f"expected one cached env for {name}, found {envs}")
        found[name] = envs[0] / "bin" / "python"
    return found


def _commands(
    ws: Path, names: Sequence[str], env: Mapping[str, str], peers: Path | None, uv: str
) -> dict[str, tuple[Callable[[], str], Check]]:
    """name -> (action returning its output, check of that output)."""
    parent = [sys.executable, "-m", "pytest", "--ws-isolated", "-q"]
    total = 5 * len(names)
    one = f"{shlex.quote(uv)} run --frozen --isolated --package $m -- python -m pytest -q"
    members = " ".join(names)
    loop = f"set -e; for m in {members}; do (cd packages/$m && {one}); done"
    xargs = f"printf '%s\\n' {members} | xargs -P 2 -I@ sh -c " + shlex.quote(
        f"cd packages/@ && {one.replace('$m', '@')}"
    )

    def run(command: Sequence[str] | str, *, extra: Mapping[str, str] | None = None) -> str:
        return run_checked(command, cwd=ws, env={**env, **(extra or {})})

    commands: dict[str, tuple[Callable[[], str], Check]] = {
        "ours": (lambda: run(parent), _passed(total)),
        "ours -n 2": (lambda: run([*parent, "-n", "2"]), _passed(total)),
        "ours -n 2 --ws-no-fork": (
            lambda: run([*parent, "-n", "2", "--ws-no-fork"]),
            _passed(total),
        ),
        "uv-run loop": (lambda: run(["bash", "-c", loop]), _each_passed(len(names))),
        "uv-run xargs -P 2": (lambda: run(["bash", "-c", xargs]), _each_passed(len(names))),
    }
    if peers is not None:
        path = {"PATH": f"{Path(uv).parent}{os.pathsep}{env.get('PATH', '')}"}
        tox, nox = str(peers / "tox"), str(peers / "nox")
        commands["tox"] = (lambda: run([tox]), _each_passed(len(names)))
        commands["tox -p 2"] = (
            lambda: run([tox, "-p", "2", "--parallel-no-spinner"]),
            lambda out: "congratulations" in out,
        )
        commands["nox -R"] = (lambda: run([nox, "-R"], extra=path), _each_passed(len(names)))
    shared = [str(ws / ".venv" / "bin" / "python"), "-m", "pytest", "-q"]
    commands["shared .venv"] = (lambda: run(shared), _passed(total))

    alone = ws.parent / f"parent-alone-{len(names)}"
    alone.mkdir(exist_ok=True)
    (alone / "test_one.py").write_text("def test_one():\n    pass\n")
    commands["parent alone"] = (
        lambda: run_checked([sys.executable, "-m", "pytest", "-q"], cwd=alone, env=env),
        _passed(1),
    )
    commands["floor"] = (lambda: floor(ws, names, env, 1), _each_passed(len(names)))
    commands["floor -P 2"] = (lambda: floor(ws, names, env, 2), _each_passed(len(names)))
    return commands


def floor(ws: Path, names: Sequence[str], env: Mapping[str, str], parallel: int) -> str:
    """One bare ``python -m pytest -q`` per member with its cached environment's python,
    in the member's directory, ``parallel`` at a time; their output."""
    pythons = _member_pythons(ws, names)

    def one_member(name: str) -> str:
        return run_checked(
            [str(pythons[name]), "-m", "pytest", "-q"], cwd=ws / "packages" / name, env=env
        )

    if parallel == 1:
        return "".join(one_member(name) for name in names)
    with ThreadPoolExecutor(parallel) as pool:
        return "".join(pool.map(one_member, names))


def _children() -> list[int]:
    """Pids of the live pytest-wsenv children and fork servers (their command line names
    child.py, or zygote.py: a forked child keeps its server's command line)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"runner/child.py" in cmdline or b"runner/zygote.py" in cmdline:
                pids.append(int(entry.name))
    return pids


def _pss_kib(pid: int) -> int:
    """Proportional set size: shared pages (a forked child's, its server's) count once
    in a sum over processes, where resident set sizes would count them in each."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _peak_children(action: Callable[[], object]) -> tuple[int, float]:
    """Run ``action`` while sampling the live children: (peak count, peak summed PSS MiB)."""
    peak = [0, 0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            pids = _children()
            peak[0] = max(peak[0], len(pids))
            peak[1] = max(peak[1], sum(_pss_kib(p) for p in pids))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        action()
    finally:
        done.set()
        thread.join()
    return peak[0], peak[1] / 1024


def _measure(
    scratch: Path, wheelhouse: Path, count: int, *, runs: int, peers: Path | None, uv: str
) -> dict[str, dict[str, float]]:
    ws = scratch / f"ws{count}"
    names = write_members_workspace(ws, wheelhouse, count)
    (ws / "tox.ini").write_text(_tox_ini(names))
    (ws / "noxfile.py").write_text(_noxfile(names))
    env = bench_env(scratch)
    run_checked([uv, "sync", "--all-packages", "--frozen"], cwd=ws, env=env)
    commands = _commands(ws, names, env, peers, uv)
    print(f"{count} members: warm-up (builds every environment once)", file=sys.stderr)
    warm_order = ["ours", *(n for n in commands if n != "ours")]  # the floor needs our envs
    for name in warm_order:
        action, check = commands[name]
        output = action()
        if not check(output):
            raise RuntimeError(f"{name}: unexpected output:\n{output[-3000:]}")
    timer = Timer()
    timer.rounds({name: action for name, (action, _) in commands.items()}, runs)
    results = {name: summary(samples) for name, samples in timer.samples.items()}
    for name in ("ours", "ours -n 2", "ours -n 2 --ws-no-fork"):
        count_, rss = _peak_children(commands[name][0])
        results[name]["peak_children"] = count_
        results[name]["peak_children_rss_mib"] = rss
    return results


def _report(count: int, rows: Mapping[str, Mapping[str, float]]) -> str:
    lines: list[str] = []
    ours, ours2 = rows["ours"]["median"], rows["ours -n 2"]["median"]
    lines += [
        f"### {count} members x 5 tests",
        "",
        "| command | median s | min-max s | CPU s | load | ours -n 2 is faster by |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, row in rows.items():
        lines.append(
            f"| {name} | {row['median']:.2f} | {row['min']:.2f}-{row['max']:.2f} | "
            f"{row['cpu']:.2f} | {row['load']:.1f} | {row['median'] / ours2:.2f}x |"
        )
    floor, floor2 = rows["floor"]["median"], rows["floor -P 2"]["median"]
    alone = rows["parent alone"]["median"]
    lines += [
        "",
        *(
            f"{name}: at most {rows[name]['peak_children']:.0f} children alive at once, "
            f"{rows[name]['peak_children_rss_mib']:.0f} MiB in all (proportional set size; "
            "one extra run)"
            for name in ("ours", "ours -n 2", "ours -n 2 --ws-no-fork")
        ),
        f"parent overhead, sequential: (ours - floor) / members = "
        f"{(ours - floor) / count * 1000:.0f} ms per member "
        f"({(ours - floor) * 1000:.0f} ms in all)",
        f"parent overhead, -n 2: (ours -n 2 - floor -P 2) / members = "
        f"{(ours2 - floor2) / count * 1000:.0f} ms per member",
        f"per member, sequential: ours {ours / count * 1000:.0f} ms, "
        f"floor {floor / count * 1000:.0f} ms",
        f"without the parent's own start ({alone * 1000:.0f} ms, `parent alone`): "
        f"(ours - parent alone - floor) / members = "
        f"{(ours - alone - floor) / count * 1000:.0f} ms, "
        f"(ours -n 2 - parent alone - floor -P 2) / members = "
        f"{(ours2 - alone - floor2) / count * 1000:.0f} ms",
        "",
    ]
    return "\n".join(lines)


def _growth(results: Mapping[int, Mapping[str, Mapping[str, float]]]) -> str:
    lines: list[str] = []
    sizes = sorted(results)
    if len(sizes) >= 2:
        small, big = sizes[0], sizes[-1]
        added = big - small
        lines.append(f"### growth from {small} to {big} members (cost of each added member)")
        lines.append("")
        for name in results[big]:
            slope = (results[big][name]["median"] - results[small][name]["median"]) / added
            lines.append(f"- {name}: {slope * 1000:.0f} ms per added member")
        marginal = (
            (results[big]["ours"]["median"] - results[big]["floor"]["median"])
            - (results[small]["ours"]["median"] - results[small]["floor"]["median"])
        ) / added
        lines.append(
            f"- marginal parent overhead (ours - floor, per added member): {marginal * 1000:.0f} ms"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, nargs="+", default=[16, 48])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--peers", type=Path, help="bin directory with tox (+tox-uv) and nox")
    parser.add_argument("--quick", action="store_true", help="8 members, 3 rounds")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.quick:
        args.members, args.runs = [8], 3
    uv = find_uv()
    if uv is None:
        print("uv is not installed", file=sys.stderr)
        return 2
    peers: Path | None = args.peers
    if peers is not None and not ((peers / "tox").exists() and (peers / "nox").exists()):
        print(f"no tox and nox in {peers}", file=sys.stderr)
        return 2
    if peers is None:
        print("--peers not given: tox and nox are skipped", file=sys.stderr)
    print(f"machine: {describe_machine()}")
    print(f"parent: {sys.executable} (base {base_python()}), uv: {uv}")
    results: dict[int, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="wsenv-bench-") as tmp:
        scratch = Path(tmp)
        wheelhouse = make_wheelhouse(scratch / "wheels")
        for count in args.members:
            results[count] = _measure(
                scratch, wheelhouse, count, runs=args.runs, peers=peers, uv=uv
            )
            print(_report(count, results[count]), flush=True)
    print(_growth(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(f"(1-minute load average at the end {os.getloadavg()[0]:.1f}; median per row above)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
