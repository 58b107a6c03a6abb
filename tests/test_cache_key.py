"""``pytest-wsenv cache-key``: changes exactly when a selected member's env would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_wsenv.cli import main
from pytest_wsenv.cli.cache_key import derive_key
from pytest_wsenv.envs.interpreters import find_interpreter
from pytest_wsenv.errors import InterpreterNotFoundError

from .conftest import MakeWorkspace
from .support.workspaces import uv_lock

ROOT = """
[tool.uv.workspace]
members = ["packages/*"]
"""
CONSTRAINED = ROOT + '[tool.uv]\nconstraint-dependencies = ["tinyleft<2"]\n'


def pyproject(name: str, dep: str) -> str:
    return (
        f'[project]\nname = "{name}"\nversion = "1.0"\nrequires-python = ">=3.11"\n'
        f'dependencies = ["{dep}"]\n[dependency-groups]\ndev = ["pytest"]\n'
        "{BUILD_SYSTEM}"
    )


FILES = {
    "pyproject.toml": CONSTRAINED,
    "packages/left/pyproject.toml": pyproject("left", "tinyright"),
    "packages/extra/pyproject.toml": pyproject("extra", "tinyextra"),
}


def key(capsys: pytest.CaptureFixture[str], where: Path, *argv: str) -> str:
    assert main(["-C", str(where), "cache-key", *argv]) == 0
    out = capsys.readouterr().out
    assert re.fullmatch(r"[a-z]+-[\w.-]+-[0-9a-f]{32}\n", out), out
    return out.strip()


def test_derive_key_is_order_free() -> None:
    one = derive_key(["b", "a", "a"], prefix="wsenv", platform="linux-x86_64")
    assert one == derive_key(["a", "b"], prefix="wsenv", platform="linux-x86_64")
    assert one != derive_key(["a"], prefix="wsenv", platform="linux-x86_64")
    assert one.startswith("wsenv-linux-x86_64-")


@pytest.mark.uv
def test_key_follows_the_selected_envs(
    make_workspace: MakeWorkspace, wheelhouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_workspace(FILES)
    everything = key(capsys, root)
    left = key(capsys, root, "--package", "left")
    extra = key(capsys, root / "packages" / "extra", "--ws-package", "extra")
    assert len({everything, left, extra}) == 3
    # the same from any directory, and with pytest's spelling of the flags
    assert key(capsys, root / "packages" / "left", "--ws-package", "left") == left
    assert key(capsys, root, "--package", "extra", "--package", "left") == everything

    # lifting the constraint bumps tinyleft: only envs that reach it change
    (root / "pyproject.toml").write_text(ROOT)
    uv_lock(root, wheelhouse, extra_args=("--upgrade-package", "tinyleft"))
    assert "tinyleft-2.0" in (root / "uv.lock").read_text()
    assert key(capsys, root, "--package", "extra") == extra
    assert key(capsys, root, "--package", "left") != left
    assert key(capsys, root) != everything


@pytest.mark.uv
def test_key_depends_on_python_and_verbose_lists_envs(
    make_workspace: MakeWorkspace, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_workspace(FILES)
    running = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert main(["-C", str(root), "cache-key", "--package", "left", "-v"]) == 0
    out, err = capsys.readouterr()
    assert re.fullmatch(rf"pytest-wsenv: left-py{running}-[0-9a-f]{{10}} [0-9a-f]{{64}}\n", err)
    assert key(capsys, root, "--package", "left", "--python", running) == out.strip()
    assert key(capsys, root, "--package", "left", "--prefix", "ci").startswith("ci-")
    other = next((v for v in ("3.12", "3.13", "3.11") if v != running and _found(v)), None)
    if other is None:
        pytest.skip("no second CPython >= 3.11 on this machine")
    assert key(capsys, root, "--package", "left", "--python", other) != out.strip()


def _found(version: str) -> bool:
    try:
        find_interpreter(version)
    except InterpreterNotFoundError:
        return False
    return True


def test_unknown_package_is_one_clear_error(
    make_workspace: MakeWorkspace, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_workspace(FILES, lock=False)
    assert main(["-C", str(root), "cache-key", "--package", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "nope" in err


@pytest.mark.slow
@pytest.mark.uv
def test_key_names_the_env_pytest_builds(
    make_workspace: MakeWorkspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {
        **FILES,
        "pyproject.toml": CONSTRAINED + 'find-links = ["{WHEELHOUSE}"]\n',
        "packages/left/tests/test_left.py": "def test_left():\n    import tinyright\n",
    }
    root = make_workspace(files)
    env = dict(os.environ)
    env.update(
        UV_CACHE_DIR=str(tmp_path / "uv-cache"), PIP_NO_INDEX="1", VIRTUALENV_NO_DOWNLOAD="1"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--ws-package", "left", "--ws-offline", "-q"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    built = {p.name for p in (root / ".wsenv").iterdir() if p.is_dir()}
    assert main(["-C", str(root), "cache-key", "--ws-package", "left", "-v"]) == 0
    named = {line.split()[1] for line in capsys.readouterr().err.splitlines()}
    assert len(named) == 1
    assert named <= built


@pytest.mark.uv
@pytest.mark.parametrize(
    ("ini_file", "text"),
    [
        ("pyproject.toml", "[tool.pytest.ini_options]\n{settings}"),
        ("pytest.ini", "[pytest]\n{settings}"),
        ("tox.ini", "[pytest]\n{settings}"),
        ("setup.cfg", "[tool:pytest]\n{settings}"),
    ],
)
def test_key_reads_the_pytest_configuration(
    make_workspace: MakeWorkspace, capsys: pytest.CaptureFixture[str], ini_file: str, text: str
) -> None:
    """The wsenv_* ini settings change the key as they change what the run builds."""
    root = make_workspace(FILES)
    plain = key(capsys, root)
    left = key(capsys, root, "--package", "left")
    without = key(capsys, root, "--package", "left", "--no-install-package", "tinyleft")
    assert without != left
    if ini_file == "pyproject.toml":
        settings = 'wsenv_packages = ["left"]\nwsenv_no_install_packages = ["tinyleft"]\n'
    else:
        settings = "wsenv_packages = left\nwsenv_no_install_packages = tinyleft\n"
    path = root / ini_file
    old = path.read_text() if path.exists() else ""
    path.write_text(old + "\n" + text.format(settings=settings))
    assert key(capsys, root) == without
    # from a member directory pytest finds the same configuration file, as the run does
    assert key(capsys, root / "packages" / "extra") == without
    # the command line wins over the ini, as in pytest
    assert key(capsys, root, "--package", "extra") != without
    path.write_text(old)
    assert key(capsys, root) == plain


@pytest.mark.uv
def test_key_reads_addopts_and_refuses_bad_settings(
    make_workspace: MakeWorkspace, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_workspace(FILES)
    left = key(capsys, root, "--package", "left")
    (root / "pytest.ini").write_text("[pytest]\naddopts = --ws-package left\n")
    assert key(capsys, root) == left
    (root / "pytest.ini").write_text("[pytest]\nwsenv_backend = conda\n")
    assert main(["-C", str(root), "cache-key"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "pytest-wsenv: error: wsenv_backend = 'conda': choose auto, uv or pip\n"
    )


@pytest.mark.uv
def test_key_refuses_a_stale_lock(
    make_workspace: MakeWorkspace, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_workspace(FILES)
    key(capsys, root)
    member = root / "packages" / "left" / "pyproject.toml"
    member.write_text(member.read_text().replace('"tinyright"', '"tinyright", "tinyextra"'))
    assert main(["-C", str(root), "cache-key"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "uv.lock is out of date for member 'left'" in captured.err
    assert "run `uv lock`" in captured.err
