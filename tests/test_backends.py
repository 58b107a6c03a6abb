"""Backends: real environments built offline from the test wheelhouse, uv and pip alike."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_wsenv.envs.backends import (
    Backend,
    IndexSettings,
    InstallPlan,
    PipBackend,
    UvBackend,
    find_uv,
    select_backend,
)
from pytest_wsenv.envs.backends._diagnose import first_error
from pytest_wsenv.envs.backends._process import installer_env
from pytest_wsenv.envs.backends.venv import env_python, site_packages
from pytest_wsenv.envs.interpreters import Interpreter, find_interpreter
from pytest_wsenv.errors import ConfigError, EnvBuildError

from .support.workspaces import BUILD_SYSTEM, write_workspace

RUNNER = ("pytest==", "pluggy==", "iniconfig==", "packaging==", "pygments==")


@pytest.fixture(params=["uv", "pip"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "uv" and find_uv() is None:
        pytest.skip("uv is not installed")
    return select_backend(request.param)


@pytest.fixture(scope="module")
def interpreter() -> Interpreter:
    return find_interpreter(None)


def offline(wheelhouse: Path) -> IndexSettings:
    return IndexSettings(find_links=(str(wheelhouse),), no_index=True, offline=True)


def write_member(root: Path, name: str, *, fail: bool = False) -> Path:
    """A member project built by the in-tree test backend; ``fail`` breaks its build."""
    module = name.replace("-", "_")
    write_workspace(
        root,
        {
            "pyproject.toml": f"""
                [project]
                name = "{name}"
                version = "0.1.0"
                {BUILD_SYSTEM}
            """,
            f"src/{module}/__init__.py": "MEMBER = True\n",
        },
    )
    if fail:
        with (root / "_build" / "tiny_backend.py").open("a") as f:
            f.write(
                "\n\ndef build_editable(wheel_directory, config_settings=None,"
                " metadata_directory=None):\n"
                "    raise RuntimeError('boom: this member cannot be built')\n"
            )
    return root


def run_python(python: Path, code: str) -> str:
    proc = subprocess.run(  # run outside the checkout: its metadata would be on sys.path
        [str(python), "-c", code],
        check=False,
        capture_output=True,
        text=True,
        env=installer_env(),
        cwd=python.parent,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def distributions(python: Path) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json; "
        "print(json.dumps({d.metadata['Name'].lower(): d.version for d in m.distributions()}))"
    )
    found: dict[str, str] = json.loads(run_python(python, code))
    return found


def wheel_version(wheelhouse: Path, name: str) -> str:
    return next(wheelhouse.glob(f"{name}-*.whl")).name.split("-")[1]


def sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


Lines = list[str]


@pytest.fixture
def lines() -> Lines:
    return []


def sink(lines: Lines) -> Callable[[str], None]:
    return lines.append


@pytest.mark.slow
def test_builds_exactly_the_plan_and_survives_a_rename(
    backend: Backend, interpreter: Interpreter, wheelhouse: Path, tmp_path: Path, lines: Lines
) -> None:
    member = write_member(tmp_path / "bird-feeder", "bird-feeder")
    runner = tuple(f"{r}{wheel_version(wheelhouse, r[:-2])}" for r in RUNNER)
    plan = InstallPlan(
        requirements=("tinyleft==1.0", "tinyright==1.0", *runner),
        editables=(member,),
        index=offline(wheelhouse),
    )
    build = tmp_path / "build env"  # a space: installers write a /bin/sh trampoline
    python = backend.create(interpreter, build, sink(lines))
    assert python == env_python(build)
    backend.install(python, plan, sink(lines))
    assert any("tinyleft" in line for line in lines)  # the installer's output reaches the log

    expected = {"tinyleft": "1.0", "tinyright": "1.0", "bird-feeder": "0.1.0"}
    expected.update((r.split("==")[0], r.split("==")[1]) for r in runner)
    assert distributions(python) == expected  # no pip, setuptools or wheel seeded

    # the engine builds in a temporary directory and renames it into place
    final = tmp_path / "final"
    build.rename(final)
    python = env_python(final)
    out = run_python(python, "import tinyleft, bird_feeder; print(tinyleft.VERSION)")
    assert out == "1.0"
    member_file = run_python(python, "import bird_feeder; print(bird_feeder.__file__)")
    assert Path(member_file) == member / "src" / "bird_feeder" / "__init__.py"  # editable
    script = final / ("Scripts/pytest.exe" if sys.platform == "win32" else "bin/pytest")
    proc = subprocess.run([str(script), "--version"], check=False, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert runner[0].split("==")[1] in proc.stdout + proc.stderr


@pytest.mark.slow
def test_hashes_are_checked_beside_unhashed_pins_and_editables(
    backend: Backend, interpreter: Interpreter, wheelhouse: Path, tmp_path: Path, lines: Lines
) -> None:
    good = sha256(wheelhouse / "tinyleft-1.0-py3-none-any.whl")
    member = write_member(tmp_path / "member", "hashed-member")
    # a real lock mixes hashed registry pins with unhashed ones (git, find-links) and
    # editables, which pip refuses in hash-checking mode
    plan = InstallPlan(
        requirements=(f"tinyleft==1.0 --hash={good}", "tinyextra==1.0"),
        editables=(member,),
        index=offline(wheelhouse),
    )
    python = backend.create(interpreter, tmp_path / "env", sink(lines))
    backend.install(python, plan, sink(lines))
    assert distributions(python) == {
        "tinyleft": "1.0",
        "tinyextra": "1.0",
        "hashed-member": "0.1.0",
    }

    bad = InstallPlan(
        requirements=(f"tinyright==1.0 --hash={good}",),
        index=offline(wheelhouse),
        require_hashes=True,
    )
    with pytest.raises(EnvBuildError) as info:
        backend.install(python, bad, sink(lines))
    assert str(tmp_path / "env") in str(info.value)
    assert "hash" in str(info.value).lower()
    assert "tinyright" in str(info.value)
    assert "tinyright" in info.value.log_tail
    assert "tinyright" not in distributions(python)


@pytest.mark.slow
def test_missing_package_offline_is_named(
    backend: Backend, interpreter: Interpreter, wheelhouse: Path, tmp_path: Path, lines: Lines
) -> None:
    python = backend.create(interpreter, tmp_path / "env", sink(lines))
    plan = InstallPlan(
        requirements=("tinyleft==1.0", "tinymissing==4.66.4"),
        index=offline(wheelhouse),
        origin="uv.lock",
    )
    with pytest.raises(EnvBuildError) as info:
        backend.install(python, plan, sink(lines))
    assert str(info.value) == (
        f"{tmp_path / 'env'}: offline: no local copy of 'tinymissing==4.66.4' (from uv.lock); "
        "run once online or drop --ws-offline"
    )
    assert "tinymissing" in info.value.log_tail


@pytest.mark.slow
def test_failing_editable_build_reports_the_log_tail(
    backend: Backend, interpreter: Interpreter, wheelhouse: Path, tmp_path: Path, lines: Lines
) -> None:
    member = write_member(tmp_path / "broken", "broken", fail=True)
    python = backend.create(interpreter, tmp_path / "env", sink(lines))
    plan = InstallPlan(editables=(member,), index=offline(wheelhouse))
    with pytest.raises(EnvBuildError) as info:
        backend.install(python, plan, sink(lines))
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'env'}: {backend.name} ")
    assert "broken" in message
    assert "\n" not in message
    assert "boom: this member cannot be built" in info.value.log_tail
    assert len(info.value.log_tail.splitlines()) <= 30


@pytest.mark.slow
def test_resolve_returns_exact_pins(
    backend: Backend, interpreter: Interpreter, wheelhouse: Path, tmp_path: Path
) -> None:
    member = write_member(tmp_path / "member", "resolved-member")
    pins = backend.resolve(
        interpreter, ("tinyright", "tinyleft<2", f"-e {member}"), offline(wheelhouse)
    )
    assert pins == (f"-e {member}", "tinyleft==1.0", "tinyright==1.0")


@pytest.mark.slow
def test_resolve_failure_names_the_package(
    backend: Backend, interpreter: Interpreter, wheelhouse: Path
) -> None:
    index = offline(wheelhouse)
    with pytest.raises(EnvBuildError, match="tinymissing"):
        backend.resolve(interpreter, ("tinymissing>=1",), index)


@pytest.mark.slow
def test_empty_plan_installs_nothing(
    backend: Backend, interpreter: Interpreter, tmp_path: Path, lines: Lines
) -> None:
    python = backend.create(interpreter, tmp_path / "env", sink(lines))
    before = sorted(p.name for p in site_packages(python).iterdir())
    backend.install(python, InstallPlan(), sink(lines))
    assert sorted(p.name for p in site_packages(python).iterdir()) == before
    assert distributions(python) == {}


def test_create_with_a_missing_interpreter_fails_cleanly(
    backend: Backend, interpreter: Interpreter, tmp_path: Path, lines: Lines
) -> None:
    gone = Interpreter(
        executable=tmp_path / "no-such-python",
        implementation=interpreter.implementation,
        version=interpreter.version,
        abi=interpreter.abi,
        platform=interpreter.platform,
        marker_env=interpreter.marker_env,
    )
    with pytest.raises(EnvBuildError) as info:
        backend.create(gone, tmp_path / "env", sink(lines))
    assert str(info.value).startswith(str(tmp_path / "env"))


def test_versions_name_the_installer(backend: Backend) -> None:
    version = backend.version()
    if backend.name == "uv":
        assert version.startswith("uv 0.") or version.startswith("uv 1.")
        assert len(version.split()) == 2
    else:
        import virtualenv

        assert version.startswith("pip ")
        assert f"virtualenv {virtualenv.__version__}" in version


def test_select_backend(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert isinstance(select_backend("pip"), PipBackend)
    if find_uv() is not None:
        assert isinstance(select_backend("auto"), UvBackend)
        assert isinstance(select_backend("uv"), UvBackend)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setitem(sys.modules, "uv", None)  # the `uv` package is not installed
    assert find_uv() is None
    assert isinstance(select_backend("auto"), PipBackend)
    with pytest.raises(ConfigError, match=r"pip install pytest-wsenv\[uv\]"):
        select_backend("uv")


def test_installer_env_is_controlled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIRTUAL_ENV", "/elsewhere")
    monkeypatch.setenv("PIP_TARGET", "/elsewhere")
    monkeypatch.setenv("PIP_CONSTRAINT", "constraints.txt")
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    monkeypatch.setenv("VIRTUALENV_SYSTEM_SITE_PACKAGES", "1")
    monkeypatch.setenv("UV_PYTHON_DOWNLOADS", "automatic")
    monkeypatch.setenv("PIP_INDEX_URL", "https://mirror.invalid/simple")
    monkeypatch.setenv("UV_CACHE_DIR", "/some/cache")
    env = installer_env()
    for dropped in (
        "VIRTUAL_ENV",
        "PIP_TARGET",
        "PIP_CONSTRAINT",
        "PYTHONPATH",
        "VIRTUALENV_SYSTEM_SITE_PACKAGES",
    ):
        assert dropped not in env
    assert env["UV_PYTHON_DOWNLOADS"] == "never"
    assert env["PIP_INDEX_URL"] == "https://mirror.invalid/simple"
    assert env["UV_CACHE_DIR"] == "/some/cache"
    assert os.environ["VIRTUAL_ENV"] == "/elsewhere"  # the parent's own is untouched


UV_BUILD_FAILURE = (
    "Using Python 3.12.1 environment at: env",
    "Resolved 1 package in 1ms",
    "   Building bad @ file:///tmp/bad",
    "error: Failed to build `bad @ file:///tmp/bad`",
    "  cause: The build backend returned an error",
    "  cause: Call to `tiny_backend.build_editable` failed (exit status: 1)",
    "",
    "         [stderr]",
    "         RuntimeError: boom",
    "",
    "hint: Build failures usually indicate a problem with the package or the build environment",
)

PIP_BUILD_FAILURE = (
    "  Building editable for bad (pyproject.toml): finished with status 'error'",
    "  error: subprocess-exited-with-error",
    "  ",
    "  \u00d7 Building editable for bad (pyproject.toml) did not run successfully.",
    "  \u2502 exit code: 1",
    "      RuntimeError: boom",
    "  ERROR: Failed building editable for bad",
    "Failed to build bad",
    "error: failed-wheel-build-for-install",
    "",
    "\u00d7 Failed to build installable wheels for some pyproject.toml based projects",
    "\u2570\u2500> bad",
)

PIP_HASH_MISMATCH = (
    "Processing ./wh/tinyleft-2.0-py3-none-any.whl (from -r r3.txt (line 1))",
    "ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE. If you have "
    "updated the package versions, please update the hashes. Otherwise, examine the package "
    "contents carefully; someone may have tampered with them.",
    "    tinyleft==2.0 from file:///tmp/wh/tinyleft-2.0-py3-none-any.whl (from -r r.txt (line 1)):",
    "        Expected sha256 0000",
    "             Got        f106",
)


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (
            UV_BUILD_FAILURE,
            "Failed to build `bad @ file:///tmp/bad`: "
            "Call to `tiny_backend.build_editable` failed (exit status: 1)",
        ),
        (PIP_BUILD_FAILURE, "Failed building editable for bad"),
        (PIP_HASH_MISMATCH, "hash mismatch for tinyleft==2.0"),
        (("some output", "Killed", ""), "Killed"),
        ((), "no output"),
    ],
)
def test_first_error_line(output: tuple[str, ...], expected: str) -> None:
    assert first_error(output) == expected
