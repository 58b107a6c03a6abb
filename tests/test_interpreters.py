"""Interpreter discovery: running, path, PATH, pyenv (shims bypassed), not found, caching."""

from __future__ import annotations

import json
import os
import platform
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_wsenv.envs import interpreters
from pytest_wsenv.envs.interpreters import find_interpreter, marker_env_for
from pytest_wsenv.errors import InterpreterNotFoundError
from pytest_wsenv.target import MarkerEnv

_PYENV = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")


def _other_cpython() -> tuple[str, Path] | None:
    """A real CPython whose X.Y differs from the running one (``X.Y``, executable)."""
    running = "{}.{}".format(*sys.version_info[:2])
    for exe in sorted((_PYENV / "versions").glob("3.*/bin/python3.*"), reverse=True):
        short = exe.name.removeprefix("python")
        if short != running and exe.parent.parent.name.startswith(short + "."):
            if exe.name.endswith("-config"):
                continue
            return short, exe
    return None


@pytest.fixture
def other_cpython() -> tuple[str, Path]:
    found = _other_cpython()
    if found is None:
        pytest.skip("needs a second CPython X.Y installed under pyenv")
    return found


@pytest.fixture(autouse=True)
def _fresh_memo() -> Iterator[None]:
    interpreters._forget()
    yield
    interpreters._forget()


def _script(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def _isolate_search(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, path: list[Path]) -> Path:
    """PATH = ``path`` only, an empty pyenv root; returns the pyenv root."""
    root = tmp_path / "pyenv-root"
    (root / "versions").mkdir(parents=True)
    monkeypatch.setenv("PATH", os.pathsep.join(str(p) for p in path))
    monkeypatch.setenv("PYENV_ROOT", str(root))
    return root


def test_none_is_the_running_interpreter() -> None:
    interp = find_interpreter(None)
    assert interp.executable == Path(sys.executable).absolute()
    assert interp.version == platform.python_version()
    assert interp.short_version == "{}.{}".format(*sys.version_info[:2])
    assert interp.abi == "cp{}{}".format(*sys.version_info[:2])
    assert interp.marker_env == MarkerEnv.current()
    assert marker_env_for(None) == MarkerEnv.current()


def test_path_request_reports_that_interpreters_facts(other_cpython: tuple[str, Path]) -> None:
    short, exe = other_cpython
    interp = find_interpreter(str(exe))
    assert interp.executable == exe
    assert interp.short_version == short
    assert interp.implementation == "cpython"
    assert interp.abi == "cp" + short.replace(".", "")
    assert interp.marker_env.python_version == short
    assert interp.version == exe.parent.parent.name  # pyenv names the dir by full version


def test_version_found_on_path_before_pyenv(
    other_cpython: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    short, exe = other_cpython
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / f"python{short}").symlink_to(exe)
    _isolate_search(monkeypatch, tmp_path, [bindir])
    interp = find_interpreter(short)
    assert interp.executable == bindir / f"python{short}"
    assert interp.short_version == short


def test_pyenv_shims_are_bypassed(
    other_cpython: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    short, exe = other_cpython
    full = exe.parent.parent.name
    # a shim that would fail if it were ever run
    shims = tmp_path / "pyenv-root" / "shims"
    _script(shims / f"python{short}", "#!/usr/bin/env bash\n# pyenv shim\nexit 97\n")
    root = _isolate_search(monkeypatch, tmp_path, [shims])
    real = root / "versions" / full / "bin"
    real.mkdir(parents=True)
    (real / f"python{short}").symlink_to(exe)
    interp = find_interpreter(short)
    assert interp.executable == real / f"python{short}"
    assert interp.version == full
    # the full version works too, and a shim passed as a path resolves to the real binary
    assert find_interpreter(full).executable == real / f"python{short}"
    assert find_interpreter(str(shims / f"python{short}")).executable == real / f"python{short}"


def test_not_found_lists_every_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    _isolate_search(monkeypatch, tmp_path, [empty])
    with pytest.raises(InterpreterNotFoundError) as info:
        find_interpreter("3.4")
    message = str(info.value)
    for place in ("PATH (python3.4)", "pyenv (", "uv python find", "virtualenv discovery"):
        assert place in message
    assert "install" in message.lower()


def test_marker_env_for_a_missing_version_is_planned_for_this_platform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    _isolate_search(monkeypatch, tmp_path, [empty])
    env = marker_env_for("3.4.2")
    assert env == MarkerEnv.for_version("3.4.2")
    assert env.python_full_version == "3.4.2"
    assert env.as_dict()["sys_platform"] == sys.platform


def test_bad_path_is_an_error_not_a_planned_version(tmp_path: Path) -> None:
    with pytest.raises(InterpreterNotFoundError, match="does not exist"):
        marker_env_for(str(tmp_path / "no-such-python"))
    with pytest.raises(InterpreterNotFoundError, match="neither a version"):
        find_interpreter("definitely-not-a-python-name")


def test_an_executable_that_is_not_python_is_reported(tmp_path: Path) -> None:
    fake = _script(tmp_path / "python-fake", "#!/bin/sh\necho broken >&2\nexit 3\n")
    with pytest.raises(InterpreterNotFoundError, match="exit 3: broken"):
        find_interpreter(str(fake))


def test_facts_are_cached_on_disk_by_path_size_and_mtime(tmp_path: Path) -> None:
    wrapper = _script(tmp_path / "py", f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    cache = tmp_path / "cache"
    first = find_interpreter(str(wrapper), cache_dir=cache)
    assert first.version == platform.python_version()
    (record_path,) = (cache / "interpreters").glob("*.json")
    record = json.loads(record_path.read_text())
    # prove the next session reads the disk record instead of starting the interpreter
    record["facts"]["version"] = "3.99.0"
    record_path.write_text(json.dumps(record))
    interpreters._forget()
    assert find_interpreter(str(wrapper), cache_dir=cache).version == "3.99.0"
    # editing the executable (size/mtime change) invalidates the record
    wrapper.write_text(f'#!/bin/sh\n# edited\nexec "{sys.executable}" "$@"\n')
    interpreters._forget()
    assert find_interpreter(str(wrapper), cache_dir=cache).version == platform.python_version()


def test_corrupt_disk_record_is_ignored(tmp_path: Path) -> None:
    wrapper = _script(tmp_path / "py", f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    cache = tmp_path / "cache"
    find_interpreter(str(wrapper), cache_dir=cache)
    (record_path,) = (cache / "interpreters").glob("*.json")
    record_path.write_text('{"format": 1, "key": ')
    interpreters._forget()
    assert find_interpreter(str(wrapper), cache_dir=cache).version == platform.python_version()
