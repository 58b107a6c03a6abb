"""Corrupt environments heal: whole-or-nothing bytecode, ``envs --verify``, ``mark_broken``.

A truncated ``.pyc`` is made for real: a child Python with a file-size limit
(``RLIMIT_FSIZE``, SIGXFSZ ignored, as a full disk behaves) imports a module whose
bytecode is larger than the limit.
"""

from __future__ import annotations

import marshal
import os
import resource
import signal
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from pytest_wsenv.cli import main
from pytest_wsenv.envs import cache
from pytest_wsenv.envs.bytecode import HOOK_PTH, install_bytecode_hook
from pytest_wsenv.envs.verify import verify_env
from pytest_wsenv.target import Target

from .conftest import MakeWorkspace
from .test_env_manager import FILES, Engine

posix_only = pytest.mark.skipif(os.name != "posix", reason="RLIMIT_FSIZE is POSIX")
LIMIT = 40_000
BIG = "X = [" + ",".join(repr(f"s{i}") for i in range(20_000)) + "]\n"


def _limited() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def _import(
    python: Path, module: str, *flags: str, limit: bool
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return subprocess.run(
        [str(python), *flags, "-c", f"import {module}"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=_limited if limit else None,
    )


@pytest.fixture
def small_env(tmp_path: Path) -> tuple[Path, Path]:
    """A stdlib venv with the bytecode hook and a module whose bytecode is > LIMIT."""
    env = tmp_path / "env"
    venv.create(env, with_pip=False, symlinks=True)
    site = cache.site_packages_of(env)
    install_bytecode_hook(site)
    (site / "big.py").write_text(BIG)
    return env / "bin" / "python", site


def _pycs(site: Path) -> list[Path]:
    return sorted((site / "__pycache__").glob("big.*.pyc"))


@posix_only
def test_without_the_hook_a_file_size_limit_leaves_a_truncated_pyc(
    small_env: tuple[Path, Path],
) -> None:
    """What the hook prevents: ``-S`` skips site (and the hook); CPython renames a
    partly written .pyc into place, and every later import fails."""
    python, site = small_env
    code = f"import sys; sys.path.insert(0, {str(site)!r}); import big"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([str(python), "-S", "-c", code], env=env, check=True, preexec_fn=_limited)
    (pyc,) = _pycs(site)
    assert pyc.stat().st_size == LIMIT
    assert verify_env(site) == [f"__pycache__/{pyc.name} is truncated"]
    later = subprocess.run(
        [str(python), "-S", "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert "marshal data too short" in later.stderr


@posix_only
def test_the_hook_writes_bytecode_whole_or_not_at_all(small_env: tuple[Path, Path]) -> None:
    python, site = small_env
    assert (site / HOOK_PTH).is_file()
    limited = _import(python, "big", limit=True)
    assert limited.returncode == 0, limited.stderr
    assert _pycs(site) == []  # too big to write whole under the limit: not written
    assert not [p for p in (site / "__pycache__").iterdir() if not p.name.endswith(".pyc")]
    free = _import(python, "big", limit=False)
    assert free.returncode == 0, free.stderr
    (pyc,) = _pycs(site)
    if sys.implementation.cache_tag in pyc.name:
        marshal.loads(pyc.read_bytes()[16:])
    assert verify_env(site) == []


# -- on built environments -------------------------------------------------------------------


@pytest.fixture
def engine(make_workspace: MakeWorkspace, uv_bin: str, tmp_path: Path, wheelhouse: Path) -> Engine:
    return Engine(make_workspace(FILES), tmp_path / "cache", wheelhouse)


@pytest.mark.slow
def test_mark_broken_rebuilds_once_and_says_why(engine: Engine) -> None:
    manager = engine.manager()
    spec = manager.spec_for(Target(packages=("bird-feeder",)), manager.interpreter(None))
    env = manager.ensure(spec)
    why = "the child ended at start: EOFError: marshal data too short"
    assert manager.mark_broken(env, why) is True
    problem = cache.check(engine.cache_dir, env.name, env.key)
    assert problem == f"marked broken: {why}"
    (listed,) = cache.list_envs(engine.cache_dir)
    assert listed.problem == f"marked broken: {why}"
    again = manager.ensure(spec)
    assert again.built and again.reason == f"marked broken: {why}"
    assert engine.builds()[-1].endswith(f"(marked broken: {why})")
    assert f"{env.name} is broken ({why}): it will be rebuilt" in engine.lines
    assert manager.mark_broken(again, why) is False  # rebuilt once in this run already
    later = engine.manager()  # the next run heals it again
    rebuilt = later.ensure(spec)
    assert rebuilt.built and later.mark_broken(rebuilt, why) is True


@pytest.mark.slow
def test_envs_verify_finds_a_changed_file_and_a_truncated_pyc(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    env = engine.ensure()
    args = ["-C", str(engine.root), "envs", "--cache-dir", str(engine.cache_dir)]
    assert main([*args, "--verify"]) == 0
    assert "current" in capsys.readouterr().out
    module = env.site_packages / "tinyleft" / "__init__.py"
    # replaced, not edited in place: uv links installed files to its own cache
    changed = module.with_name("changed.tmp")
    changed.write_text(module.read_text() + "# changed\n")
    os.replace(changed, module)
    pycache = env.site_packages / "tinyright" / "__pycache__"
    pycache.mkdir(exist_ok=True)
    (pycache / f"__init__.{sys.implementation.cache_tag}.pyc").write_bytes(b"\x00" * 8)
    assert main([*args]) == 0  # without --verify nothing is read
    assert "current" in capsys.readouterr().out
    assert main([*args, "--verify"]) == 1
    out = capsys.readouterr().out
    assert "broken: tinyleft/__init__.py does not match its RECORD hash; " in out
    assert f"tinyright/__pycache__/__init__.{sys.implementation.cache_tag}.pyc is truncated" in out
    rebuilt = engine.ensure()
    assert rebuilt.built
    assert rebuilt.reason is not None and rebuilt.reason.startswith("marked broken: tinyleft/")
    assert main([*args, "--verify"]) == 0, capsys.readouterr().out
