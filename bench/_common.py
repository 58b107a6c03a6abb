"""Shared pieces of the timing benchmarks: an offline workspace generator and a timer.

Not a test module and not part of the package: the ``bench_*.py`` scripts import it by
path. Everything here works offline: wheels come from ``tests/support`` (tiny generated
wheels, and pytest repacked from the running environment), the workspace is locked with
``uv lock --offline`` against that wheelhouse, and every uv call sees ``UV_OFFLINE=1``
and a private ``UV_CACHE_DIR``.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.wheels import build_wheel  # noqa: E402
from tests.support.wheels import repack_installed as _repack  # noqa: E402
from tests.support.workspaces import BUILD_SYSTEM, find_uv, uv_lock, write_workspace  # noqa: E402

__all__ = [
    "BUILD_SYSTEM",
    "REQUIRES_PYTHON",
    "ROOT",
    "Sample",
    "Timer",
    "base_python",
    "bench_env",
    "describe_machine",
    "find_uv",
    "make_wheelhouse",
    "member_names",
    "repack_installed",
    "requirement_closure",
    "run_checked",
    "summary",
    "uv_lock",
    "write_members_workspace",
    "write_workspace",
    "wsenv_wheel",
]

#: pytest and what it needs on Linux, copied from the running environment as wheels.
RUNNER_DISTS = ("pytest", "pluggy", "iniconfig", "packaging", "pygments")

#: The running Python and newer, so the lock needs no backports the wheelhouse lacks.
REQUIRES_PYTHON = ">={}.{}".format(*sys.version_info[:2])


def base_python() -> Path:
    """The real interpreter behind the running one (no venv, no pyenv shim)."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    return Path(os.path.realpath(base))


def repack_installed(dest: Path, name: str) -> Path:
    """``tests.support.wheels.repack_installed``, with the file named after every tag of
    the wheel: it names the file after the first ``Tag:`` line only, so a universal wheel
    (``py2`` then ``py3``) would become a Python 2 wheel that uv refuses."""
    import zipfile

    wheel = _repack(dest, name)
    with zipfile.ZipFile(wheel) as zf:
        text = next(zf.read(n).decode() for n in zf.namelist() if n.endswith(".dist-info/WHEEL"))
    tags = [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Tag:")]
    if len(tags) > 1:
        parts = [t.split("-") for t in tags]
        merged = "-".join(".".join(dict.fromkeys(p[i] for p in parts)) for i in range(3))
        stem = wheel.name.rsplit("-", 3)[0]
        wheel = wheel.rename(wheel.with_name(f"{stem}-{merged}.whl"))
    return wheel


def make_wheelhouse(dest: Path) -> Path:
    """Tiny wheels plus pytest and its dependencies, repacked from this environment."""
    build_wheel(dest, "tinyleft", "1.0")
    build_wheel(dest, "tinyright", "1.0", requires=["tinyleft"])
    build_wheel(dest, "colorama", "0.4.6")  # only pytest's win32 marker needs it
    for dist in RUNNER_DISTS:
        repack_installed(dest, dist)
    return dest


def requirement_closure(names: Sequence[str]) -> list[str]:
    """``names`` and everything they require here (markers evaluated), as installed."""
    from importlib.metadata import requires

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    seen: list[str] = []
    todo = [canonicalize_name(n) for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.append(name)
        for text in requires(name) or ():
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(req.name))
    return sorted(seen)


def wsenv_wheel(dest: Path) -> Path:
    """A wheel of pytest-wsenv built from this checkout (as ``pip install .`` would
    install it, not editable): its modules, requirements and entry points."""
    from pytest_wsenv.workspace import load_toml

    project = load_toml(ROOT / "pyproject.toml")["project"]
    package = ROOT / "pytest_wsenv"
    modules = {
        path.relative_to(ROOT).as_posix(): path.read_text()
        for path in sorted(package.rglob("*.py"))
        if "__pycache__" not in path.parts
    }
    entry_points = "".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in points.items()) + "\n"
        for group, points in {
            "console_scripts": project.get("scripts", {}),
            **project.get("entry-points", {}),
        }.items()
    )
    stem = "pytest_wsenv"
    modules[f"{stem}-{project['version']}.dist-info/entry_points.txt"] = entry_points
    return build_wheel(
        dest,
        project["name"],
        project["version"],
        requires=project["dependencies"],
        requires_python=project.get("requires-python"),
        modules=modules,
    )


def member_names(count: int) -> list[str]:
    return [f"mem{i:02d}" for i in range(count)]


_TESTS = """\
import {module}
import tinyleft


def test_version():
    assert tinyleft.VERSION == "1.0"


def test_member():
    assert {module}.NAME == "{name}"


def test_arithmetic():
    assert sum(range(10)) == 45


def test_strings():
    assert "-".join("abc") == "a-b-c"


def test_dict():
    assert dict(a=1) == {{"a": 1}}
"""


def write_members_workspace(root: Path, wheelhouse: Path, count: int) -> list[str]:
    """A virtual workspace of ``count`` members with 5 tests each; locked offline.

    Member ``memNN`` depends on ``tinyleft`` (odd members also on ``tinyright`` and on
    the previous member), has a ``dev`` group with pytest (so every tool, and
    pytest-wsenv's first tooling layer, gets pytest from the lock), and one test file
    ``tests/test_memNN.py`` (distinct basenames, so one shared-venv run can collect all).
    """
    names = member_names(count)
    files = {"pyproject.toml": '[tool.uv.workspace]\nmembers = ["packages/*"]\n'}
    for i, name in enumerate(names):
        deps = ['"tinyleft"']
        sources = ""
        if i % 2:
            deps += ['"tinyright"', f'"{names[i - 1]}"']
            sources = f"[tool.uv.sources]\n{names[i - 1]} = {{ workspace = true }}\n"
        files[f"packages/{name}/pyproject.toml"] = (
            f'[project]\nname = "{name}"\nversion = "0.1.0"\n'
            f'requires-python = "{REQUIRES_PYTHON}"\ndependencies = [{", ".join(deps)}]\n'
            f'[dependency-groups]\ndev = ["pytest"]\n{sources}{BUILD_SYSTEM}'
        )
        files[f"packages/{name}/src/{name}/__init__.py"] = f'NAME = "{name}"\n'
        files[f"packages/{name}/tests/test_{name}.py"] = _TESTS.format(module=name, name=name)
    write_workspace(root, files)
    uv_lock(root, wheelhouse)
    return names


def bench_env(scratch: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment every measured command runs with: offline, private uv cache,
    bytecode written (``PYTHONDONTWRITEBYTECODE`` dropped), the real interpreter for uv."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for name in ("VIRTUAL_ENV", "PYTHONPATH", "PYTEST_ADDOPTS", "PIP_FIND_LINKS"):
        env.pop(name, None)
    env.update(
        UV_OFFLINE="1",
        UV_CACHE_DIR=str(scratch / "uv-cache"),
        UV_PYTHON_DOWNLOADS="never",
        UV_PYTHON=str(base_python()),
        UV_NO_PROGRESS="1",
        PIP_NO_INDEX="1",
        VIRTUALENV_NO_DOWNLOAD="1",
    )
    if extra:
        env.update(extra)
    return env


def run_checked(
    command: Sequence[str] | str,
    *,
    cwd: Path,
    env: Mapping[str, str],
    expect: Callable[[str], bool] | None = None,
) -> str:
    """Run ``command`` (a shell string or argv), fail loudly on a non-zero exit or when
    ``expect(output)`` is false; returns stdout + stderr."""
    proc = subprocess.run(
        command,
        cwd=cwd,
        env=dict(env),
        shell=isinstance(command, str),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    if proc.returncode != 0 or (expect is not None and not expect(proc.stdout)):
        shown = command if isinstance(command, str) else " ".join(map(str, command))
        raise RuntimeError(f"`{shown}` in {cwd} exited {proc.returncode}:\n{proc.stdout[-4000:]}")
    return proc.stdout


def _cpu() -> float:
    """User + system time of this process and of its finished (waited-for) children."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


@dataclass(slots=True)
class Sample:
    wall: float
    cpu: float  # user + system time of this process and the command's process tree
    load: float  # 1-minute load average just before the command started


@dataclass(slots=True)
class Timer:
    """Times named commands round-robin, so machine load falls on all of them alike."""

    samples: dict[str, list[Sample]] = field(default_factory=dict)

    def time(self, name: str, action: Callable[[], object]) -> Sample:
        load = os.getloadavg()[0]
        before = _cpu()
        start = time.perf_counter()
        action()
        wall = time.perf_counter() - start
        cpu = _cpu() - before
        sample = Sample(wall, cpu, load)
        self.samples.setdefault(name, []).append(sample)
        return sample

    def rounds(
        self,
        actions: Mapping[str, Callable[[], object]],
        runs: int,
        *,
        progress: bool = True,
        between: Callable[[], object] | None = None,
    ) -> None:
        """``runs`` rounds; each round runs every action once, starting one further along.
        ``between`` runs, untimed, after every action (e.g. to clean up)."""
        names = list(actions)
        for r in range(runs):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                sample = self.time(name, actions[name])
                if between is not None:
                    between()
                if progress:
                    print(
                        f"  round {r + 1}/{runs} {name}: {sample.wall:.3f}s "
                        f"(cpu {sample.cpu:.2f}s, load {sample.load:.1f})",
                        file=sys.stderr,
                        flush=True,
                    )

    def median(self, name: str) -> float:
        return statistics.median(s.wall for s in self.samples[name])


def summary(samples: Sequence[Sample]) -> dict[str, float]:
    walls = sorted(s.wall for s in samples)
    return {
        "median": statistics.median(walls),
        "min": walls[0],
        "max": walls[-1],
        "cpu": statistics.median(s.cpu for s in samples),
        "load": statistics.median(s.load for s in samples),
        "runs": len(walls),
    }


def describe_machine() -> str:
    """One line: CPU model and count, OS, interpreter, pytest and uv versions."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import platform

    import pytest

    uv = find_uv()
    uv_version = "no uv"
    if uv:
        proc = subprocess.run([uv, "--version"], capture_output=True, text=True, check=False)
        uv_version = proc.stdout.strip()
    return (
        f"{model}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
        f"CPython {platform.python_version()}, pytest {pytest.__version__}, {uv_version}"
    )
