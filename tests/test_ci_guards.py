"""``matrix`` and ``cache-key`` refuse what would make a CI run test nothing or the wrong
thing: an empty plan (unless ``--allow-empty``) and a stale ``uv.lock``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pytest_wsenv.cli import main
from pytest_wsenv.cli.matrix import EMPTY_PLAN

from .support.workspaces import write_workspace
from .test_changed import commit, git, lock_text
from .test_changed import pyproject as changed_pyproject


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def sample(tmp_path: Path, root_extra: str = "") -> Path:
    files = {"pyproject.toml": '[tool.uv.workspace]\nmembers = ["packages/*"]\n' + root_extra}
    for name in ("bird-feeder", "seeds"):
        files[f"packages/{name}/pyproject.toml"] = (
            f'[project]\nname = "{name}"\nversion = "1"\nrequires-python = ">=3.10"\n'
        )
    return write_workspace(tmp_path / "ws", files)


@pytest.mark.parametrize("fmt", ["github", "gitlab", "json"])
def test_python_outside_requires_python_is_loud(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    root = sample(tmp_path)
    argv = ("-C", str(root), "matrix", "--format", fmt, "--python", "3.9")
    code, out, err = run(capsys, *argv)
    assert code == EMPTY_PLAN == 5
    assert out == ""
    assert (
        "pytest-wsenv: no job for bird-feeder: requires-python (member: >=3.10; workspace: "
        ">=3.10) allows none of 3.9" in err.splitlines()
    )
    assert err.splitlines()[-1] == (
        "pytest-wsenv: nothing to test: the plan has no job; pass --allow-empty to print "
        "an empty matrix"
    )
    code, out, err = run(capsys, *argv, "--allow-empty")
    assert code == 0
    assert err == ""
    if fmt == "github":
        assert out.strip() == '{"include":[]}'


def test_every_member_skipped_is_loud(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = sample(tmp_path, '[tool.wsenv]\nskip = ["bird-feeder", "seeds"]\n')
    code, _, err = run(capsys, "-C", str(root), "matrix")
    assert code == EMPTY_PLAN
    assert "pytest-wsenv: no job for seeds: listed in tool.wsenv.skip" in err
    assert run(capsys, "-C", str(root), "matrix", "--allow-empty")[0] == 0


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_no_changed_member_is_loud(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = {
        "pyproject.toml": '[tool.uv.workspace]\nmembers = ["packages/*"]\n',
        "uv.lock": lock_text(),
    }
    for name in ("app", "core", "leaf", "solo"):
        files[f"packages/{name}/pyproject.toml"] = changed_pyproject(name)
    root = write_workspace(tmp_path / "ws", files)
    git(root, "init", "-q", "-b", "main")
    commit(root, "initial")
    (root / "README.md").write_text("outside every member\n")
    argv = ("-C", str(root), "matrix", "--changed-since", "main")
    code, out, err = run(capsys, *argv)
    assert (code, out) == (EMPTY_PLAN, "")
    assert "pytest-wsenv: no member changed since main" in err.splitlines()
    code, out, _ = run(capsys, *argv, "--allow-empty")
    assert code == 0
    assert json.loads(out) == []
    # a change to a member makes a plan again
    (root / "packages/solo/x.py").write_text("")
    code, out, _ = run(capsys, *argv)
    assert code == 0
    assert [job["members"] for job in json.loads(out)] == [["solo"]]


def test_matrix_refuses_a_stale_lock(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = {
        "pyproject.toml": '[tool.uv.workspace]\nmembers = ["packages/*"]\n',
        "uv.lock": lock_text(),
    }
    for name in ("app", "core", "leaf", "solo"):
        files[f"packages/{name}/pyproject.toml"] = changed_pyproject(name)
    root = write_workspace(tmp_path / "ws", files)
    assert run(capsys, "-C", str(root), "matrix")[0] == 0
    solo = root / "packages/solo/pyproject.toml"
    solo.write_text(solo.read_text().replace("dependencies = []", 'dependencies = ["tinyleft"]'))
    code, out, err = run(capsys, "-C", str(root), "matrix")
    assert (code, out) == (2, "")
    assert err.startswith(f"pytest-wsenv: error: {root / 'uv.lock'}: uv.lock is out of date")
    assert "'solo'" in err
    assert "run `uv lock`" in err
    assert len(err.splitlines()) == 1
