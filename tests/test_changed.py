"""Changed members since a git revision, in real git repositories made by the tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_wsenv.ci import changed_files, changed_members
from pytest_wsenv.cli import main
from pytest_wsenv.errors import SelectionError, WsenvError
from pytest_wsenv.workspace import Workspace

from .support.workspaces import BUILD_SYSTEM, find_uv, uv_lock, write_workspace

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

HATCH = '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
INDEX = "https://example.invalid/simple"

#: member -> (third-party deps, workspace deps): core <- app, leaf and solo stand alone
MEMBERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "app": ((), ("core",)),
    "core": (("tinyright",), ()),
    "leaf": (("tinyextra",), ()),
    "solo": ((), ()),
}


def pyproject(name: str) -> str:
    third, workspace = MEMBERS[name]
    deps = ", ".join(json.dumps(d) for d in (*third, *workspace))
    text = f'[project]\nname = "{name}"\nversion = "1.0"\nrequires-python = ">=3.10"\n'
    text += f"dependencies = [{deps}]\n"
    if name == "leaf":
        text += '[project.optional-dependencies]\nfast = ["tinyfork"]\n'
    if workspace:
        text += "[tool.uv.sources]\n" + "".join(
            f"{w} = {{ workspace = true }}\n" for w in workspace
        )
    return text + HATCH


def registry(name: str, version: str, deps: tuple[str, ...] = ()) -> str:
    digest = f"{sum(map(ord, name + version)):064x}"
    lines = [
        "[[package]]",
        f'name = "{name}"',
        f'version = "{version}"',
        f'source = {{ registry = "{INDEX}" }}',
    ]
    if deps:
        lines.append("dependencies = [" + ", ".join(f'{{ name = "{d}" }}' for d in deps) + "]")
    lines.append(
        f'wheels = [{{ url = "https://example.invalid/{name}-{version}-py3-none-any.whl", '
        f'hash = "sha256:{digest}" }}]'
    )
    return "\n".join(lines) + "\n"


def lock_text(tinyleft: str = "1.0", tinyfork: str = "1.0") -> str:
    """A uv.lock for MEMBERS; only the given pins vary."""
    parts = [
        'version = 1\nrevision = 3\nrequires-python = ">=3.10"\n',
        '[manifest]\nmembers = ["app", "core", "leaf", "solo"]\n',
    ]
    for name, (third, workspace) in MEMBERS.items():
        deps = [*third, *workspace]
        text = (
            f'[[package]]\nname = "{name}"\nversion = "1.0"\n'
            f'source = {{ editable = "packages/{name}" }}\n'
        )
        if deps:
            text += "dependencies = [" + ", ".join(f'{{ name = "{d}" }}' for d in deps) + "]\n"
        if name == "leaf":
            text += '[package.optional-dependencies]\nfast = [{ name = "tinyfork" }]\n'
        # what uv records of the pyproject, so that the lock is fresh
        recorded = [f'{{ name = "{d}" }}' for d in third]
        recorded += [f'{{ name = "{w}", editable = "packages/{w}" }}' for w in workspace]
        if name == "leaf":
            recorded.append('{ name = "tinyfork", marker = "extra == \'fast\'" }')
            text += '\n[package.metadata]\nprovides-extras = ["fast"]\n'
        else:
            text += "\n[package.metadata]\n"
        text += "requires-dist = [" + ", ".join(recorded) + "]\n"
        parts.append(text)
    parts += [
        registry("tinyextra", "1.0"),
        registry("tinyfork", tinyfork),
        registry("tinyleft", tinyleft),
        registry("tinyright", "1.0", ("tinyleft",)),
    ]
    return "\n".join(parts)


def git(root: Path, *args: str) -> str:
    env = dict(os.environ)
    env.update(
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.invalid",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.invalid",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
    )
    proc = subprocess.run(
        ["git", *args], cwd=root, env=env, capture_output=True, text=True, check=True
    )
    return proc.stdout


def commit(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository whose subdirectory ``ws`` is the workspace, committed on ``main``,
    with a branch ``work`` checked out."""
    top = tmp_path / "repo"
    files = {
        "pyproject.toml": '[tool.uv.workspace]\nmembers = ["packages/*"]\n',
        "uv.lock": lock_text(),
        ".gitignore": "*.log\n",
    }
    for name in MEMBERS:
        files[f"packages/{name}/pyproject.toml"] = pyproject(name)
        module = name.replace("-", "_")
        files[f"packages/{name}/src/{module}/__init__.py"] = ""
        files[f"packages/{name}/tests/test_{module}.py"] = "def test_it(): pass\n"
    write_workspace(top / "ws", files)
    (top / "README.md").write_text("outside the workspace\n")
    git(top, "init", "-q", "-b", "main")
    commit(top, "initial")
    git(top, "switch", "-q", "-c", "work")
    return top


def changed(top: Path, ref: str = "main") -> dict[str, str]:
    return changed_members(Workspace.discover(top / "ws"), ref)


def test_nothing_changed(repo: Path) -> None:
    assert changed(repo) == {}
    (repo / "README.md").write_text("edited outside the workspace\n")
    (repo / "ws" / "packages" / "leaf" / "debug.log").write_text("ignored by .gitignore\n")
    assert changed(repo) == {}


def test_change_in_a_leaf_member_selects_only_it(repo: Path) -> None:
    (repo / "ws/packages/leaf/src/leaf/__init__.py").write_text("X = 1\n")
    commit(repo, "leaf")
    assert changed(repo) == {"leaf": "files changed: ws/packages/leaf/src/leaf/__init__.py"}


def test_change_in_a_member_with_dependents_selects_them(repo: Path) -> None:
    (repo / "ws/packages/core/tests/test_core.py").write_text("def test_more(): pass\n")
    assert changed(repo) == {
        "app": "depends on core",
        "core": "files changed: ws/packages/core/tests/test_core.py",
    }


def test_uncommitted_staged_and_untracked_files_count(repo: Path) -> None:
    (repo / "ws/packages/solo/new_test.py").write_text("")  # untracked
    (repo / "ws/packages/leaf/src/leaf/__init__.py").write_text("Y = 2\n")
    git(repo, "add", "ws/packages/leaf")  # staged
    assert changed(repo) == {
        "leaf": "files changed: ws/packages/leaf/src/leaf/__init__.py",
        "solo": "files changed: ws/packages/solo/new_test.py",
    }


def test_only_changes_on_this_branch_count(repo: Path) -> None:
    git(repo, "switch", "-q", "main")
    (repo / "ws/packages/solo/src/solo/__init__.py").write_text("Z = 3\n")
    commit(repo, "solo on main")
    git(repo, "switch", "-q", "work")
    assert changed(repo) == {}  # REF...HEAD: since the merge base
    (repo / "ws/packages/leaf/README").write_text("")
    (repo / "ws/packages/leaf/README.md").write_text("")
    (repo / "ws/packages/leaf/a.txt").write_text("")
    (repo / "ws/packages/leaf/b.txt").write_text("")
    commit(repo, "leaf files")
    assert changed(repo) == {
        "leaf": "files changed: ws/packages/leaf/README, ws/packages/leaf/README.md, "
        "ws/packages/leaf/a.txt (+1 more)"
    }


def test_a_deleted_and_a_renamed_file_count(repo: Path) -> None:
    git(repo, "mv", "ws/packages/leaf/tests/test_leaf.py", "ws/packages/solo/tests/test_x.py")
    commit(repo, "move")
    assert set(changed(repo)) == {"leaf", "solo"}


def test_lock_pin_bump_selects_exactly_the_members_that_reach_it(repo: Path) -> None:
    (repo / "ws/uv.lock").write_text(lock_text(tinyleft="2.0"))
    commit(repo, "bump tinyleft")
    assert changed(repo) == {
        "app": "lock closure changed: tinyleft 1.0 -> 2.0",
        "core": "lock closure changed: tinyleft 1.0 -> 2.0",
    }


def test_lock_pin_bump_in_an_extra(repo: Path) -> None:
    (repo / "ws/uv.lock").write_text(lock_text(tinyfork="2.0"))
    assert changed(repo) == {"leaf": "lock closure changed: tinyfork 1.0 -> 2.0"}


def test_root_workspace_table_change_selects_everything(repo: Path) -> None:
    root = repo / "ws" / "pyproject.toml"
    root.write_text(root.read_text() + "\n# a comment changes nothing\n")
    commit(repo, "comment")
    assert changed(repo) == {}
    root.write_text('[tool.uv.workspace]\nmembers = ["packages/*"]\nexclude = ["old/*"]\n')
    commit(repo, "exclude")
    why = "the root pyproject.toml [tool.uv.workspace] changed"
    assert changed(repo) == dict.fromkeys(MEMBERS, why)


def test_root_sources_change_selects_everything(repo: Path) -> None:
    root = repo / "ws" / "pyproject.toml"
    root.write_text(root.read_text() + '[tool.uv.sources]\ntinyleft = { path = "x.whl" }\n')
    assert set(changed(repo)) == set(MEMBERS)


def test_unrelated_history_is_one_clear_error(repo: Path) -> None:
    git(repo, "switch", "-q", "--orphan", "unrelated")
    git(repo, "commit", "-q", "--allow-empty", "-m", "unrelated")
    git(repo, "switch", "-q", "work")
    with pytest.raises(SelectionError, match=r"no merge base.*fetch-depth: 0"):
        changed(repo, "unrelated")


def test_lock_added_since_ref_selects_everything(repo: Path) -> None:
    git(repo, "rm", "-q", "ws/uv.lock")
    commit(repo, "no lock")
    git(repo, "switch", "-q", "-c", "again")
    (repo / "ws/uv.lock").write_text(lock_text())
    assert changed(repo, "work") == dict.fromkeys(MEMBERS, "uv.lock did not exist at work")


def test_unknown_ref_is_one_clear_error(repo: Path) -> None:
    with pytest.raises(SelectionError) as info:
        changed(repo, "origin/nope")
    message = str(info.value)
    assert "'origin/nope': not a commit in the git repository" in message
    assert "fetch-depth: 0" in message


def test_not_a_git_repository(tmp_path: Path) -> None:
    root = write_workspace(tmp_path / "plain", {"pyproject.toml": pyproject("solo")})
    with pytest.raises(WsenvError, match="is not inside a git work tree"):
        changed_members(Workspace.discover(root), "main")


def test_changed_files_are_relative_to_the_repository_top(repo: Path) -> None:
    (repo / "ws/packages/leaf/x.py").write_text("")
    assert changed_files(repo, "main") == ["ws/packages/leaf/x.py"]


def test_matrix_changed_since_with_reasons(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / "ws/packages/core/src/core/__init__.py").write_text("V = 1\n")
    monkeypatch.chdir(repo / "ws" / "packages" / "leaf")
    argv = ["matrix", "--format", "github", "--changed-since", "main", "-v"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert [e["member"] for e in json.loads(out)["include"]] == ["app", "core"]
    assert err.splitlines() == [
        "pytest-wsenv: selected app: depends on core",
        "pytest-wsenv: selected core: files changed: ws/packages/core/src/core/__init__.py",
        "pytest-wsenv: unchanged since main: leaf, solo",
        "pytest-wsenv: 2 job(s)",
    ]
    assert main(["matrix", "--changed-since", "main"]) == 0
    jobs = json.loads(capsys.readouterr().out)
    assert jobs[0]["reasons"] == {"app": "depends on core"}
    assert main(["matrix", "--changed-since", "nope"]) == 2
    assert "not a commit" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.uv
def test_pin_bump_locked_by_uv(tmp_path: Path, wheelhouse: Path) -> None:
    """The same selection on a lock written by uv: a constraint lifted at the root moves
    tinyleft from 1.0 to 2.0 and only the members reaching it are selected."""
    if find_uv() is None:
        pytest.skip("uv is not installed")
    files = {"pyproject.toml": '[tool.uv.workspace]\nmembers = ["packages/*"]\n'}
    for name in MEMBERS:
        files[f"packages/{name}/pyproject.toml"] = pyproject(name).replace(HATCH, BUILD_SYSTEM)
    constrained = files["pyproject.toml"] + '[tool.uv]\nconstraint-dependencies = ["tinyleft<2"]\n'
    root = write_workspace(tmp_path / "ws", {**files, "pyproject.toml": constrained})
    uv_lock(root, wheelhouse)
    git(root, "init", "-q", "-b", "main")
    commit(root, "initial")
    (root / "pyproject.toml").write_text(files["pyproject.toml"])
    uv_lock(root, wheelhouse, extra_args=("--upgrade-package", "tinyleft"))
    assert changed_members(Workspace.discover(root), "main") == {
        "app": "lock closure changed: tinyleft 1.0 -> 2.0",
        "core": "lock closure changed: tinyleft 1.0 -> 2.0",
    }
