"""Benchmark: a cold build of one member environment against ``uv sync`` of the same set.

Workspace (offline, generated): ten members ``leaf00``..``leaf09`` (each needs
``tinyleft``) and ``top``, which needs every leaf and ``tinyright``; every member has a
``dev`` group with pytest. Two targets:

- ``leaf00``: 7 packages (1 editable member, pytest and its 4 requirements, tinyleft);
- ``top``: 18 packages (11 editable members).

With the uv cache warm (every wheel and every member's editable build cached by a
warm-up round), each round times, interleaved, for each target:

- ``ours (uv)``: in-process, a new ``EnvManager(..., backend="uv")`` whose cache
  directory holds no environment, only what a workspace's cache keeps between runs (the
  interpreter's facts and uv's version, both recorded by the warm-up round):
  ``spec_for`` (lock closure, member fingerprints) then ``ensure`` (one ``uv sync
  --frozen --exact`` into a temporary directory, the exactness check, the manifest, the
  atomic rename). The interpreter is looked up before the clock starts
  (once per session, cached on disk). Reported also: ``ensure`` alone, the build proper;
- ``uv sync``: ``uv sync --frozen --exact --package M`` with ``UV_PROJECT_ENVIRONMENT``
  set to a new directory, so uv creates the environment and installs into it;
- ``ours (pip)`` (with ``--pip``): the same as ``ours (uv)`` with the pip backend.

Ratios are reported two ways: the ratio of the medians, and the median of each round's
own ratio (both builds of a round run back to back, so slow drifts of a shared machine
cancel out).

In-process timing isolates the build: a ``pytest --ws-isolated --ws-rebuild`` run would
add the parent's pytest start and the child's collection, which do not depend on the
build. The first round also checks that both environments hold the same distributions
(names and versions). Removing the previous round's environments happens between the
timed builds, followed by ``os.sync()``, so neither the deletion nor its write-back is
timed. For ``ours (uv)`` the script also reports where the time goes: it wraps (in its
own process) ``UvBackend.version``, ``UvBackend.sync`` (``UvBackend.create`` and
``UvBackend.install`` too, which a locked target no longer uses) and the cache's final
check of the published environment.

Run from the repository root (needs uv)::

    python bench/bench_cold_build.py [--runs 9] [--pip] [--quick]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BUILD_SYSTEM,
    REQUIRES_PYTHON,
    Timer,
    bench_env,
    describe_machine,
    find_uv,
    make_wheelhouse,
    run_checked,
    summary,
    uv_lock,
    write_workspace,
)

from pytest_wsenv.envs import cache as cache_module
from pytest_wsenv.envs.backends import BackendChoice, UvBackend
from pytest_wsenv.envs.cache import site_packages_of
from pytest_wsenv.envs.manager import EnvManager
from pytest_wsenv.lock import Lock
from pytest_wsenv.target import Target
from pytest_wsenv.workspace import Workspace

LEAVES = 10


def _workspace(root: Path, wheelhouse: Path) -> Path:
    files = {"pyproject.toml": '[tool.uv.workspace]\nmembers = ["packages/*"]\n'}
    leaves = [f"leaf{i:02d}" for i in range(LEAVES)]

    def member(name: str, deps: list[str], sources: list[str]) -> None:
        source_table = "".join(f"{s} = {{ workspace = true }}\n" for s in sources)
        files[f"packages/{name}/pyproject.toml"] = (
            f'[project]\nname = "{name}"\nversion = "0.1.0"\n'
            f'requires-python = "{REQUIRES_PYTHON}"\n'
            f"dependencies = [{', '.join(f'{d!r}' for d in deps)}]\n"
            f'[dependency-groups]\ndev = ["pytest"]\n'
            + (f"[tool.uv.sources]\n{source_table}" if sources else "")
            + BUILD_SYSTEM
        )
        files[f"packages/{name}/src/{name}/__init__.py"] = f'NAME = "{name}"\n'

    for leaf in leaves:
        member(leaf, ["tinyleft"], [])
    member("top", [*leaves, "tinyright"], leaves)
    write_workspace(root, files)
    uv_lock(root, wheelhouse)
    return root


def _dists(env: Path) -> set[tuple[str, str]]:
    site = site_packages_of(env)
    return {
        (d.metadata["Name"].lower().replace("_", "-"), d.version)
        for d in importlib.metadata.distributions(path=[str(site)])
    }


class _Builds:
    """Fresh directories for every build; each is removed after it was timed."""

    def __init__(self, scratch: Path, ws: Path, env: Mapping[str, str], uv: str) -> None:
        self.scratch, self.ws, self.env, self.uv = scratch, ws, env, uv
        self.workspace = Workspace.discover(ws)
        self.lock = Lock.load(self.workspace.lock_path)
        self._n = 0
        self.last: dict[str, Path] = {}
        self._roots: dict[str, Path] = {}
        self._garbage: list[Path] = []
        self._in_cache: set[str] = set()
        self.spent: dict[str, float] = {}
        self.phases: dict[str, list[dict[str, float]]] = {}
        _instrument(self.spent)
        self.ensure_only: dict[str, list[float]] = {}

    def _fresh(self) -> Path:
        self._n += 1
        return self.scratch / "builds" / str(self._n)

    def ours(self, member: str, backend: BackendChoice) -> Callable[[], None]:
        interpreter = EnvManager(
            self.workspace, self.lock, cache_dir=self.scratch / "facts", log=_quiet
        ).interpreter(None)

        cache_dir = self.scratch / f"cache-{backend}"

        def build() -> None:
            self.spent.clear()
            start = time.perf_counter()
            manager = EnvManager(
                self.workspace,
                self.lock,
                cache_dir=cache_dir,
                backend=backend,
                offline=True,
                log=_quiet,
            )
            spec = manager.spec_for(Target(packages=(member,)), interpreter)
            middle = time.perf_counter()
            ready = manager.ensure(spec)
            end = time.perf_counter()
            if backend == "uv":
                self.phases.setdefault(member, []).append(
                    {**self.spent, "ensure(), all of it": end - middle, "total": end - start}
                )
            self.spent.clear()
            assert ready.built, "nothing was built"
            self.ensure_only.setdefault(f"{member}: ours ({backend})", []).append(end - middle)
            self._keep(f"ours ({backend})", ready.path, ready.path)
            self._in_cache.add(f"ours ({backend})")

        return build

    def sync(self, member: str) -> Callable[[], None]:
        def build() -> None:
            target = self._fresh()
            run_checked(
                [self.uv, "sync", "--frozen", "--exact", "--package", member, "-q"],
                cwd=self.ws,
                env={**self.env, "UV_PROJECT_ENVIRONMENT": str(target)},
            )
            self._keep("uv sync", target, target)

        return build

    def _keep(self, kind: str, root: Path, env: Path) -> None:
        """Remember the last env of each kind (for the check); older ones go in cleanup()."""
        old = self._roots.get(kind)
        if old is not None:
            self._garbage.append(old)
        self._roots[kind] = root
        self.last[kind] = env

    def cleanup(self) -> None:
        """Remove the envs no longer needed (untimed, between builds), then let the
        file system settle so its write-back does not fall on the next build. The last
        env built in a cache directory is moved out of it, so the next build is cold."""
        for kind in self._in_cache:
            moved = self._fresh()
            moved.parent.mkdir(parents=True, exist_ok=True)
            os.rename(self.last[kind], moved)
            self._roots[kind] = self.last[kind] = moved
        self._in_cache.clear()
        while self._garbage:
            shutil.rmtree(self._garbage.pop(), ignore_errors=True)
        os.sync()


def _quiet(line: str) -> None:
    pass


#: Where a cold build's time goes: these functions are wrapped (in this process only)
#: to add up their wall-clock time per build.
_PHASES = {
    "uv --version": (UvBackend, "version"),
    "uv sync": (UvBackend, "sync"),
    "create (virtualenv)": (UvBackend, "create"),
    "uv pip install": (UvBackend, "install"),
    "publish: check the moved env": (cache_module, "_verify"),
}


def _instrument(spent: dict[str, float]) -> None:
    for label, (owner, attr) in _PHASES.items():
        original = getattr(owner, attr)

        def timed(*args: Any, _original: Any = original, _label: str = label) -> Any:
            start = time.perf_counter()
            try:
                return _original(*args)
            finally:
                spent[_label] = spent.get(_label, 0.0) + time.perf_counter() - start

        setattr(owner, attr, timed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--pip", action="store_true", help="also time the pip backend")
    parser.add_argument("--quick", action="store_true", help="5 rounds")
    args = parser.parse_args()
    runs = 5 if args.quick else args.runs
    uv = find_uv()
    if uv is None:
        print("uv is not installed", file=sys.stderr)
        return 2
    print(f"machine: {describe_machine()}")
    with tempfile.TemporaryDirectory(prefix="wsenv-bench-") as tmp:
        scratch = Path(tmp)
        env = bench_env(scratch)
        os.environ.update(env)  # the in-process builds see the same uv settings
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        ws = _workspace(scratch / "ws", make_wheelhouse(scratch / "wheels"))
        builds = _Builds(scratch, ws, env, uv)
        backends: list[BackendChoice] = ["uv", "pip"] if args.pip else ["uv"]
        for member in ("leaf00", "top"):
            actions: dict[str, Callable[[], None]] = {
                f"{member}: ours ({b})": builds.ours(member, b) for b in backends
            }
            actions[f"{member}: uv sync"] = builds.sync(member)
            for action in actions.values():  # warm-up: fills the uv cache
                action()
                builds.cleanup()
            for b in backends:
                ours, theirs = _dists(builds.last[f"ours ({b})"]), _dists(builds.last["uv sync"])
                if ours != theirs:
                    raise RuntimeError(f"{member} ({b}): {sorted(ours ^ theirs)} differ")
            print(f"{member}: {len(theirs)} distributions, the same in both environments")
            builds.ensure_only.clear()
            builds.phases.clear()
            timer = Timer()
            timer.rounds(actions, runs, progress=False, between=builds.cleanup)
            print(f"\n### {member}, {runs} interleaved rounds, warm uv cache\n")
            print("| command | median s | min-max s | CPU s | load |")
            print("| --- | ---: | ---: | ---: | ---: |")
            rows = {name: summary(samples) for name, samples in timer.samples.items()}
            for name, row in rows.items():
                print(
                    f"| {name} | {row['median']:.3f} | {row['min']:.3f}-{row['max']:.3f} | "
                    f"{row['cpu']:.3f} | {row['load']:.1f} |"
                )
            sync = rows[f"{member}: uv sync"]["median"]
            print()
            theirs_walls = [s.wall for s in timer.samples[f"{member}: uv sync"]]
            for b in backends:
                name = f"{member}: ours ({b})"
                ensure = sorted(builds.ensure_only[name])
                ours_walls = [s.wall for s in timer.samples[name]]
                paired = [o / t for o, t in zip(ours_walls, theirs_walls, strict=True)]
                print(
                    f"- {name} / uv sync: {rows[name]['median'] / sync:.2f}x "
                    f"(ensure() alone: median {ensure[len(ensure) // 2]:.3f} s, "
                    f"{ensure[len(ensure) // 2] / sync:.2f}x); paired, the median of the "
                    f"rounds' own ratios: {statistics.median(paired):.2f}x"
                )
            phases = builds.phases[member]
            print(f"- where {member}: ours (uv) spends its time (medians over the rounds):")
            for label in phases[0]:
                values = sorted(p.get(label, 0.0) for p in phases)
                print(f"  - {label}: {values[len(values) // 2] * 1000:.1f} ms")
        print(f"\n(1-minute load average at the end {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
