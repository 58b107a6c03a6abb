"""The environment engine for real: build, reuse, rebuild, layers, concurrency, crashes.

Every test here builds real environments offline from the session wheelhouse.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from pytest_wsenv.envs import cache
from pytest_wsenv.envs.interpreters import find_interpreter
from pytest_wsenv.envs.manager import EnvManager, ReadyEnv
from pytest_wsenv.errors import EnvBuildError
from pytest_wsenv.lock import Lock
from pytest_wsenv.target import Target
from pytest_wsenv.workspace import Workspace

from .conftest import MakeWorkspace

pytestmark = pytest.mark.slow

#: A virtual root whose dev group supplies pytest; bird-feeder needs seeds (a member).
FILES = {
    "pyproject.toml": """
        [tool.uv.workspace]
        members = ["packages/*"]
        [dependency-groups]
        dev = ["pytest"]
    """,
    "packages/bird-feeder/pyproject.toml": """
        [project]
        name = "bird-feeder"
        version = "0.1.0"
        requires-python = ">=3.11"
        dependencies = ["tinyright", "seeds"]
        [project.optional-dependencies]
        torch = ["tinyextra"]
        [tool.uv.sources]
        seeds = { workspace = true }
        {BUILD_SYSTEM}
    """,
    "packages/bird-feeder/src/bird_feeder/__init__.py": "FED = True\n",
    "packages/seeds/pyproject.toml": """
        [project]
        name = "seeds"
        version = "0.1.0"
        requires-python = ">=3.11"
        dependencies = ["tinyleft"]
        {BUILD_SYSTEM}
    """,
    "packages/seeds/src/seeds/__init__.py": "",
    "packages/perch/pyproject.toml": """
        [project]
        name = "perch"
        version = "0.1.0"
        requires-python = ">=3.11"
        dependencies = ["tiny-yaml-dist"]
        {BUILD_SYSTEM}
    """,
    "packages/perch/src/perch/__init__.py": "",
}

BIRD = Target(packages=("bird-feeder",))
#: What bird-feeder's env holds: its closure (seeds editable too) plus the dev group.
BIRD_DISTRIBUTIONS = [
    "bird-feeder",
    "iniconfig",
    "packaging",
    "pluggy",
    "pygments",
    "pytest",
    "seeds",
    "tinyleft",
    "tinyright",
]


class Engine:
    """A workspace on disk plus a way to make managers for it, collecting log lines."""

    def __init__(self, root: Path, cache_dir: Path, wheelhouse: Path | None = None) -> None:
        self.root = root
        self.cache_dir = cache_dir
        self.wheelhouse = wheelhouse
        self.lines: list[str] = []

    def manager(self, **options: Any) -> EnvManager:
        workspace = Workspace.discover(self.root)
        lock = Lock.load(workspace.lock_path) if workspace.lock_path.exists() else None
        options.setdefault("log", self.lines.append)
        return EnvManager(workspace, lock, cache_dir=self.cache_dir, **options)

    def ensure(self, target: Target = BIRD, **options: Any) -> ReadyEnv:
        manager = self.manager(**options)
        return manager.ensure(manager.spec_for(target, manager.interpreter(None)))

    def builds(self) -> list[str]:
        return [line for line in self.lines if line.startswith("building ")]


@pytest.fixture
def engine(make_workspace: MakeWorkspace, uv_bin: str, tmp_path: Path, wheelhouse: Path) -> Engine:
    return Engine(make_workspace(FILES), tmp_path / "cache", wheelhouse)


def running_pytest_version() -> str:
    return pytest.__version__


def distributions(env: ReadyEnv, cwd: Path) -> list[str]:
    """Every distribution ``importlib.metadata`` sees in the env (normalized names)."""
    code = (
        "import importlib.metadata as m, re, json; "
        "print(json.dumps(sorted(re.sub(r'[-_.]+', '-', d.metadata['Name']).lower() "
        "for d in m.distributions())))"
    )
    out = subprocess.run(
        [str(env.python), "-c", code], cwd=cwd, capture_output=True, text=True, check=True
    )
    names: list[str] = json.loads(out.stdout)
    return names


def test_build_then_reuse(engine: Engine, tmp_path: Path) -> None:
    env = engine.ensure()
    assert env.built and env.reason is None
    assert env.name.startswith(f"bird-feeder-py{find_interpreter(None).short_version}-")
    assert env.layers == (
        "uv.lock: bird-feeder",
        f"tooling from the workspace root's group 'dev': pytest {running_pytest_version()} "
        "(+4 locked dependencies)",
    )
    (line,) = engine.builds()
    assert line.startswith(f"building bird-feeder-py{find_interpreter(None).short_version} (uv, ")
    assert re.search(r"\(uv, 9 packages\) \.\.\. \d+\.\ds$", line)
    assert env.packages == 9
    # exactly the closure: members editable, third-party pinned, nothing else
    assert distributions(env, tmp_path) == BIRD_DISTRIBUTIONS
    out = subprocess.run(
        [str(env.python), "-c", "import bird_feeder, tinyleft; print(tinyleft.VERSION)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "2.0"
    # console scripts built in the temporary directory work where the env was published
    out = subprocess.run(
        [str(env.bin_dir / "pytest"), "--version"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert running_pytest_version() in out.stdout + out.stderr
    engine.lines.clear()
    again = engine.ensure()
    assert not again.built
    assert (again.path, again.key, again.layers) == (env.path, env.key, env.layers)
    assert engine.lines == []  # silent when reused
    assert engine.ensure(verbose=True).built is False
    assert engine.lines == [f"reusing {env.name}"]


def test_rebuild_forces_once_per_manager(engine: Engine) -> None:
    first = engine.ensure()
    manager = engine.manager(rebuild=True)
    spec = manager.spec_for(BIRD, manager.interpreter(None))
    rebuilt = manager.ensure(spec)
    assert rebuilt.built and rebuilt.reason == "--ws-rebuild"
    assert rebuilt.path == first.path
    assert manager.ensure(spec).built is False
    assert len(engine.builds()) == 2


def test_truncated_manifest_is_rebuilt_with_a_message(engine: Engine) -> None:
    env = engine.ensure()
    manifest = env.path / cache.MANIFEST
    manifest.write_text(manifest.read_text()[:100])
    again = engine.ensure()
    assert again.built
    assert again.reason == "its manifest is corrupt or truncated"
    assert "(its manifest is corrupt or truncated)" in engine.builds()[-1]
    assert json.loads(manifest.read_text())["key"] == env.key


def test_hand_installed_package_is_detected_and_rebuilt(engine: Engine, tmp_path: Path) -> None:
    env = engine.ensure()
    sneaky = env.site_packages / "sneaky-1.0.dist-info"
    sneaky.mkdir()
    (sneaky / "METADATA").write_text("Metadata-Version: 2.1\nName: sneaky\nVersion: 1.0\n")
    assert "sneaky" in distributions(env, tmp_path)
    again = engine.ensure()
    assert again.built
    assert again.reason == "site-packages changed since it was built (+sneaky-1.0.dist-info)"
    assert "sneaky" not in distributions(again, tmp_path)


def test_vanished_interpreter_is_rebuilt(engine: Engine, tmp_path: Path) -> None:
    wrapper = tmp_path / "bin" / "python-copy"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    manager = engine.manager()
    first = manager.ensure(manager.spec_for(BIRD, manager.interpreter(str(wrapper))))
    assert json.loads((first.path / cache.MANIFEST).read_text())["interpreter"] == str(wrapper)
    wrapper.unlink()
    again = engine.ensure()  # the running interpreter has the same facts, so the same key
    assert again.key == first.key and again.built
    assert again.reason == f"its interpreter {wrapper} is gone"


def test_pin_bump_builds_a_new_env_and_says_why(engine: Engine, uv_bin: str) -> None:
    first = engine.ensure()
    pyproject = engine.root / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text() + '\n[tool.uv]\nconstraint-dependencies = ["tinyleft<2"]\n'
    )
    _relock(engine)
    second = engine.ensure()
    assert second.key != first.key and second.built
    assert second.reason == "tinyleft 2.0 -> 1.0"
    assert second.reason in engine.builds()[-1]
    assert first.path.exists()  # the old env stays until pruned


def _relock(engine: Engine) -> None:
    from .support.workspaces import uv_lock

    assert engine.wheelhouse is not None
    uv_lock(engine.root, engine.wheelhouse)


def test_identical_keys_build_once_across_threads(engine: Engine) -> None:
    manager = engine.manager()
    spec = manager.spec_for(BIRD, manager.interpreter(None))
    with ThreadPoolExecutor(4) as pool:
        envs = list(pool.map(lambda _: manager.ensure(spec), range(4)))
    assert sum(env.built for env in envs) == 1
    assert len({env.path for env in envs}) == 1
    assert len(engine.builds()) == 1


def test_runner_layer_when_nothing_supplies_pytest(
    make_workspace: MakeWorkspace, uv_bin: str, tmp_path: Path
) -> None:
    files = {k: v for k, v in FILES.items() if k != "pyproject.toml"}
    files["pyproject.toml"] = '[tool.uv.workspace]\nmembers = ["packages/*"]\n'
    engine = Engine(make_workspace(files), tmp_path / "cache")
    env = engine.ensure(Target(packages=("perch",)))
    version = running_pytest_version()
    assert env.layers == (
        "uv.lock: perch",
        f"runner: pytest {version} (the running pytest's version)",
    )
    assert sorted(set(distributions(env, tmp_path))) == [
        "iniconfig",
        "packaging",
        "perch",
        "pluggy",
        "pygments",
        "pytest",
        "tiny-yaml-dist",
    ]
    out = subprocess.run(
        [str(env.python), "-c", "import pytest, tinyyaml; print(pytest.__version__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == version
    names = [line.split()[1] for line in engine.builds()]
    assert names == [
        f"_runner-py{find_interpreter(None).short_version}",
        env.name.rsplit("-", 1)[0],
    ]
    # a second member shares the runner layer env: only the member env is built
    engine.lines.clear()
    engine.ensure(Target(packages=("seeds",)))
    assert len(engine.builds()) == 1
    with pytest.raises(EnvBuildError, match="add pytest to the 'dev' group"):
        engine.manager(strict_runner=True).spec_for(
            Target(packages=("perch",)), find_interpreter(None)
        )


def test_with_layer_is_a_shared_cached_env(engine: Engine, tmp_path: Path) -> None:
    env = engine.ensure(with_reqs=("tinyextra",))
    assert env.layers[-1] == "with: tinyextra"
    assert "tinyextra" in distributions(env, tmp_path)
    assert "tinyextra" not in [p.name for p in (env.site_packages).iterdir()]
    assert len(engine.builds()) == 2
    engine.lines.clear()
    other = engine.ensure(Target(packages=("perch",)), with_reqs=("tinyextra",))
    assert len(engine.builds()) == 1  # the layer is reused
    assert "tinyextra" in distributions(other, tmp_path)


def test_without_a_lock_the_declared_requirements_are_resolved(
    make_workspace: MakeWorkspace, uv_bin: str, tmp_path: Path, wheelhouse: Path
) -> None:
    files = dict(FILES)
    files["pyproject.toml"] = FILES["pyproject.toml"] + (
        f'\n[tool.uv]\nfind-links = ["{wheelhouse.as_posix()}"]\n'
    )
    engine = Engine(make_workspace(files, lock=False), tmp_path / "cache")
    env = engine.ensure()
    assert env.built
    assert engine.lines[0].startswith("no uv.lock in ")
    assert "not reproducible" in engine.lines[0]
    assert env.layers[0] == "declared requirements (no uv.lock): bird-feeder"
    assert env.layers[1].startswith("tooling from the workspace root's group 'dev': pytest ")
    assert {"bird-feeder", "seeds", "tinyleft", "tinyright", "pytest"} <= set(
        distributions(env, tmp_path)
    )
    engine.lines.clear()
    assert engine.ensure().built is False


def test_pip_backend_builds_the_same_closure(engine: Engine, tmp_path: Path) -> None:
    env = engine.ensure(backend="pip")
    assert "(pip, 9 packages)" in engine.builds()[0]
    assert distributions(env, tmp_path) == BIRD_DISTRIBUTIONS
    out = subprocess.run(
        [str(env.bin_dir / "pytest"), "--version"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    uv_env = engine.ensure(backend="uv")
    assert uv_env.key != env.key


def test_uv_builds_a_locked_target_with_uv_sync(engine: Engine, tmp_path: Path) -> None:
    """Extras and --ws-no-install-package reach uv sync as its own flags, the root's test
    tooling is installed after it at the lock's pins, and the result is exactly the
    closure the engine computed."""
    env = engine.ensure(
        Target(packages=("bird-feeder",), extras=("torch",)),
        verbose=True,
        no_install=frozenset({"TinyLeft"}),
    )
    (command,) = [line for line in engine.lines if line.startswith("$ ") and " sync " in line]
    assert "--frozen --exact" in command
    assert "--package bird-feeder --extra torch --no-install-package" in command
    (tooling,) = [
        line for line in engine.lines if line.startswith("$ ") and " pip install " in line
    ]
    assert "--no-deps" in tooling and engine.lines.index(tooling) > engine.lines.index(command)
    assert "--no-install-package tinyleft" in command
    assert env.name.startswith("bird-feeder+torch-py")
    # built at its final path (through a link to the temporary directory), so nothing
    # in it names the temporary directory, and nothing had to be rewritten
    assert not env.path.is_symlink() and env.path.is_dir()
    assert not [p for p in env.path.parent.iterdir() if ".tmp-" in p.name]
    for path in [env.path / "pyvenv.cfg", *env.bin_dir.iterdir()]:
        if path.is_file() and not path.is_symlink():
            assert b".tmp-" not in path.read_bytes(), path
    head = "\n".join((env.bin_dir / "pytest").read_text().splitlines()[:2])
    # a shebang or an exec line for long paths (uv sync), or the relocatable exec line of
    # the tooling installed after it
    assert str(env.bin_dir / "python") in head or '"$(realpath -- "$0")")"/python' in head
    tool = subprocess.run(
        [str(env.bin_dir / "pytest"), "--version"], capture_output=True, text=True, check=False
    )
    assert tool.returncode == 0 and "pytest" in tool.stdout + tool.stderr, tool
    assert distributions(env, tmp_path) == [
        "bird-feeder",
        "iniconfig",
        "packaging",
        "pluggy",
        "pygments",
        "pytest",
        "seeds",
        "tinyextra",
        "tinyright",
    ]


def test_all_members_of_a_virtual_root_with_uv_sync(engine: Engine, tmp_path: Path) -> None:
    env = engine.ensure(Target(all_packages=True), verbose=True)
    assert any(" sync " in line and "--all-packages" in line for line in engine.lines)
    names = distributions(env, tmp_path)
    assert {"bird-feeder", "seeds", "perch", "tiny-yaml-dist", "pytest"} <= set(names)


def test_uv_version_is_asked_once_per_binary(engine: Engine, uv_bin: str) -> None:
    """The uv version is remembered in the cache per binary: a second session does not
    ask again, a different binary (another size or time) is asked."""
    from pytest_wsenv.envs.backends import UvBackend

    fake = engine.cache_dir.parent / "uv-fake"
    asked = engine.cache_dir.parent / "asked"
    fake.write_text(f'#!/bin/sh\necho x >> "{asked}"\necho "uv 9.9.9 (abc 2026-01-01)"\n')
    fake.chmod(0o755)

    def version() -> str:
        return UvBackend(str(fake), engine.cache_dir).version()

    assert version() == "uv 9.9.9"
    assert version() == "uv 9.9.9"
    assert asked.read_text().count("x") == 1
    fake.write_text(fake.read_text().replace("9.9.9", "9.9.10"))
    assert version() == "uv 9.9.10"
    assert asked.read_text().count("x") == 2
    assert UvBackend(str(fake)).version() == "uv 9.9.10"  # no cache: asked each time
    assert asked.read_text().count("x") == 3
    assert [e.name for e in cache.list_envs(engine.cache_dir)] == []


# -- several processes ---------------------------------------------------------------------

_SCRIPT = textwrap.dedent(
    """
    import dataclasses, json, os, sys, time
    from pathlib import Path
    from pytest_wsenv.envs import publishing
    from pytest_wsenv.envs.manager import EnvManager
    from pytest_wsenv.lock import Lock
    from pytest_wsenv.target import Target
    from pytest_wsenv.workspace import Workspace

    root, cache_dir, stop_at, marker = sys.argv[1:5]

    def hold(stage):
        if stage == stop_at:
            Path(marker).write_text(stage)
            time.sleep(600)

    publishing._checkpoint = hold
    workspace = Workspace.discover(Path(root))
    manager = EnvManager(
        workspace,
        Lock.load(workspace.lock_path),
        cache_dir=Path(cache_dir),
        log=lambda line: print("LOG", line, flush=True),
    )
    if stop_at == "mid-install":
        real = manager.backend

        class Halfway:  # installs half the plan, then stops: for the kill timing only
            name = real.name
            version = real.version
            create = real.create
            resolve = real.resolve

            def install(self, python, plan, log):
                half = dataclasses.replace(
                    plan, requirements=plan.requirements[: len(plan.requirements) // 2]
                )
                real.install(python, half, log)
                hold("mid-install")

        manager._backend = Halfway()
    spec = manager.spec_for(Target(packages=("bird-feeder",)), manager.interpreter(None))
    env = manager.ensure(spec)
    print("RESULT", json.dumps({"built": env.built, "name": env.name}), flush=True)
    """
)


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    script = tmp_path / "ensure_env.py"
    script.write_text(_SCRIPT)
    started: list[subprocess.Popen[str]] = []

    def run(
        engine: Engine, stop_at: str = "never", marker: Path | None = None
    ) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [
                sys.executable,
                str(script),
                str(engine.root),
                str(engine.cache_dir),
                stop_at,
                str(marker or tmp_path / "unused"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=tmp_path,
        )
        started.append(proc)
        return proc

    yield run
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_eight_processes_build_a_cold_env_once(
    engine: Engine, spawn: Callable[..., subprocess.Popen[str]]
) -> None:
    procs = [spawn(engine) for _ in range(8)]
    outputs = [proc.communicate(timeout=240)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 8, outputs
    results = [
        json.loads(line.split(" ", 1)[1])
        for out in outputs
        for line in out.splitlines()
        if line.startswith("RESULT ")
    ]
    assert len(results) == 8
    assert sum(r["built"] for r in results) == 1
    assert len({r["name"] for r in results}) == 1
    lines = [line for out in outputs for line in out.splitlines()]
    assert len([line for line in lines if line.startswith("LOG building")]) == 1
    waits = [out.count("LOG waiting for another process building") for out in outputs]
    assert set(waits) <= {0, 1}
    (env,) = cache.list_envs(engine.cache_dir)
    assert env.manifest is not None and env.manifest.key


@pytest.mark.parametrize("stop_at", ["created", "mid-install", "manifest", "rename"])
def test_killed_builder_never_leaves_a_usable_partial_env(
    engine: Engine,
    spawn: Callable[..., subprocess.Popen[str]],
    tmp_path: Path,
    stop_at: str,
) -> None:
    marker = tmp_path / "reached"
    proc = spawn(engine, stop_at, marker)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    leftovers = [p.name for p in engine.cache_dir.iterdir() if ".tmp-" in p.name]
    assert len(leftovers) == 1
    listed = cache.list_envs(engine.cache_dir)
    assert [e for e in listed if e.manifest is not None] == []
    links = [p for p in engine.cache_dir.iterdir() if p.is_symlink()]
    if stop_at != "mid-install":  # uv sync builds at the final path, a link until published
        (link,) = links
        assert os.readlink(link) == leftovers[0]
        assert [(e.name, e.problem) for e in listed] == [(link.name, cache._UNFINISHED)]
        if stop_at == "rename":  # complete, manifest written, but still a link: never used
            key = json.loads((link / cache.MANIFEST).read_text())["key"]
            assert "did not finish" in str(cache.check(engine.cache_dir, link.name, key))
    env = engine.ensure()
    assert env.built
    assert distributions(env, tmp_path).count("tinyright") == 1
    assert not [p for p in engine.cache_dir.iterdir() if ".tmp-" in p.name or p.is_symlink()]
    assert engine.ensure().built is False
