"""Benchmark: the in-process reuse check of 50 cached member environments.

Builds a workspace of N members (each depending on one tiny wheel and, for half of
them, on another member), locks it offline, builds every member's environment once,
then times what a pytest session pays per run when everything is cached:
``EnvManager.ensure(spec)`` for every member (manifest read, stats, a site-packages
listing, no subprocess). Reported: the median wall-clock time of several runs (and its
CPU time, which a loaded machine inflates less), plus the time to compute the specs
(lock closure, member fingerprints) for reference.

Run from the repository root (needs uv)::

    python bench/bench_env_reuse.py [--members 50] [--runs 9]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pytest_wsenv.envs.manager import EnvManager  # noqa: E402
from pytest_wsenv.lock import Lock  # noqa: E402
from pytest_wsenv.target import Target  # noqa: E402
from pytest_wsenv.workspace import Workspace  # noqa: E402
from tests.support.wheels import build_wheel, repack_installed  # noqa: E402
from tests.support.workspaces import BUILD_SYSTEM, uv_lock, write_workspace  # noqa: E402

#: The running Python and newer, so the lock needs no backports the wheelhouse lacks.
_PYTHON = ">={}.{}".format(*sys.version_info[:2])


def _workspace(root: Path, wheelhouse: Path, members: int) -> Path:
    files = {
        "pyproject.toml": (
            '[tool.uv.workspace]\nmembers = ["packages/*"]\n[dependency-groups]\ndev = ["pytest"]\n'
        )
    }
    for i in range(members):
        name = f"member-{i:02d}"
        deps = ['"tinyleft"']
        sources = ""
        if i % 2 and i > 0:
            deps.append(f'"member-{i - 1:02d}"')
            sources = f"[tool.uv.sources]\nmember-{i - 1:02d} = {{ workspace = true }}\n"
        files[f"packages/{name}/pyproject.toml"] = (
            f'[project]\nname = "{name}"\nversion = "0.1.0"\nrequires-python = "{_PYTHON}"\n'
            f"dependencies = [{', '.join(deps)}]\n{sources}{BUILD_SYSTEM}"
        )
        files[f"packages/{name}/src/member_{i:02d}/__init__.py"] = ""
    write_workspace(root, files)
    uv_lock(root, wheelhouse)
    return root


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    os.environ.setdefault("UV_OFFLINE", "1")
    os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")
    with tempfile.TemporaryDirectory(prefix="wsenv-bench-") as scratch:
        tmp = Path(scratch)
        os.environ["UV_CACHE_DIR"] = str(tmp / "uv-cache")
        wheelhouse = tmp / "wheels"
        build_wheel(wheelhouse, "tinyleft", "1.0")
        build_wheel(wheelhouse, "colorama", "0.4.6")  # only pytest's win32 marker needs it
        for dist in ("pytest", "pluggy", "iniconfig", "packaging", "pygments"):
            repack_installed(wheelhouse, dist)
        root = _workspace(tmp / "ws", wheelhouse, args.members)
        cache_dir = tmp / "cache"
        workspace = Workspace.discover(root)
        lock = Lock.load(workspace.lock_path)
        targets = [Target(packages=(name,)) for name in workspace.members]

        builder = EnvManager(workspace, lock, cache_dir=cache_dir, log=lambda line: None)
        interpreter = builder.interpreter(None)
        start = time.perf_counter()
        for target in targets:
            builder.ensure(builder.spec_for(target, interpreter))
        print(f"built {len(targets)} envs in {time.perf_counter() - start:.1f}s")

        spec_times: list[float] = []
        reuse_times: list[float] = []
        reuse_cpu: list[float] = []
        for _ in range(args.runs):
            manager = EnvManager(workspace, lock, cache_dir=cache_dir, log=lambda line: None)
            manager.spec_for(targets[0], interpreter)  # backend version: once per session
            start = time.perf_counter()
            specs = [manager.spec_for(target, interpreter) for target in targets]
            spec_times.append(time.perf_counter() - start)
            start, cpu = time.perf_counter(), time.process_time()
            ready = [manager.ensure(spec) for spec in specs]
            reuse_times.append(time.perf_counter() - start)
            reuse_cpu.append(time.process_time() - cpu)
            assert not any(env.built for env in ready), "an env was rebuilt"
        reuse = statistics.median(reuse_times) * 1000
        print(
            f"reuse check for {len(targets)} cached envs: median {reuse:.1f} ms wall clock "
            f"(min {min(reuse_times) * 1000:.1f}, max {max(reuse_times) * 1000:.1f}; "
            f"{reuse / len(targets) * 1000:.0f} us per env), median "
            f"{statistics.median(reuse_cpu) * 1000:.1f} ms CPU time, {args.runs} runs"
        )
        print(
            f"spec_for for {len(targets)} targets: "
            f"median {statistics.median(spec_times) * 1000:.1f} ms"
        )
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"(1-minute load average {load:.1f} on {os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
