"""Which member runs which tests: arguments -> member runs, from any directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_wsenv.errors import SelectionError
from pytest_wsenv.selection import ALL_MEMBERS, Request, select_runs
from pytest_wsenv.workspace import Workspace
from tests.support.workspaces import write_workspace

TEST = "def test_x():\n    pass\n"


def _member(name: str) -> str:
    return f'[project]\nname = "{name}"\nversion = "0.1.0"\n'


@pytest.fixture
def explicit(tmp_path: Path) -> Workspace:
    """Explicit root with root tests, a member, and a member nested inside a member."""
    write_workspace(
        tmp_path,
        {
            "pyproject.toml": _member("root")
            + '[tool.uv.workspace]\nmembers = ["packages/*", "packages/outer/inner"]\n',
            "tests/test_root.py": TEST,
            "packages/outer/pyproject.toml": _member("outer")
            + '[project.optional-dependencies]\ntorch = ["tinyleft"]\n',
            "packages/outer/tests/test_outer.py": TEST,
            "packages/outer/inner/pyproject.toml": _member("inner"),
            "packages/outer/inner/tests/test_inner.py": TEST,
            "packages/solo/pyproject.toml": _member("solo"),
            "packages/solo/tests/test_solo.py": TEST,
        },
    )
    return Workspace.discover(tmp_path)


@pytest.fixture
def virtual(tmp_path: Path) -> Workspace:
    write_workspace(
        tmp_path,
        {
            "pyproject.toml": '[tool.uv.workspace]\nmembers = ["libs/*"]\n',
            "tests/test_integration.py": TEST,
            "libs/a/pyproject.toml": _member("a"),
            "libs/a/tests/test_a.py": TEST,
        },
    )
    return Workspace.discover(tmp_path)


def _by_key(runs: list) -> dict:  # type: ignore[type-arg]
    return {run.key: run for run in runs}


def test_workspace_root_splits_into_every_member_without_overlap(explicit: Workspace) -> None:
    runs = _by_key(select_runs(explicit, ["."], explicit.root, Request(), explicit_args=False))
    assert sorted(runs) == ["inner", "outer", "root", "solo"]
    root, outer = runs["root"], runs["outer"]
    assert root.args == (".",) and root.rootdir == explicit.root
    # the root member never walks into members, a member never into a nested member
    assert set(root.ignores) == {
        explicit.root / "packages" / "outer",
        explicit.root / "packages" / "outer" / "inner",
        explicit.root / "packages" / "solo",
    }
    assert outer.ignores == (explicit.root / "packages" / "outer" / "inner",)
    assert runs["inner"].args == (".",)


def test_same_answer_from_any_directory(explicit: Workspace) -> None:
    here = explicit.root / "packages" / "outer" / "tests"
    from_member = select_runs(
        explicit, ["test_outer.py::test_x"], here, Request(), explicit_args=True
    )
    from_root = select_runs(
        explicit,
        ["packages/outer/tests/test_outer.py::test_x"],
        explicit.root,
        Request(),
        explicit_args=True,
    )
    assert from_member == from_root
    assert [(r.member, r.args) for r in from_root] == [("outer", ("tests/test_outer.py::test_x",))]


def test_virtual_root_tests_run_with_all_members(virtual: Workspace) -> None:
    runs = _by_key(select_runs(virtual, ["."], virtual.root, Request(), explicit_args=False))
    assert set(runs) == {"a", ALL_MEMBERS}
    everything = runs[ALL_MEMBERS]
    assert everything.target.all_packages and everything.rootdir == virtual.root
    assert everything.ignores == (virtual.root / "libs" / "a",)


def test_virtual_root_without_own_tests_has_no_all_members_run(virtual: Workspace) -> None:
    (virtual.root / "tests" / "test_integration.py").unlink()
    runs = select_runs(virtual, ["."], virtual.root, Request(), explicit_args=False)
    assert [r.member for r in runs] == ["a"]


def test_packages_without_arguments_run_their_own_directories(explicit: Workspace) -> None:
    runs = select_runs(
        explicit, ["."], explicit.root, Request(packages=("Solo",)), explicit_args=False
    )
    assert [(r.member, r.rootdir, r.args) for r in runs] == [
        ("solo", explicit.root / "packages" / "solo", (".",))
    ]


def test_extras_apply_only_to_members_that_define_them(explicit: Workspace) -> None:
    runs = _by_key(
        select_runs(explicit, ["."], explicit.root, Request(extras=("torch",)), explicit_args=False)
    )
    assert runs["outer"].target.extras == ("torch",)
    assert runs["solo"].target.extras == ()
    with pytest.raises(SelectionError, match="--ws-extra torch: no selected member defines"):
        select_runs(
            explicit,
            ["."],
            explicit.root,
            Request(packages=("solo",), extras=("torch",)),
            explicit_args=False,
        )


def test_several_pythons_get_suffixes_and_suffixed_ids_route_to_one(
    explicit: Workspace,
) -> None:
    request = Request(pythons=("3.11", "3.12"))
    runs = select_runs(explicit, ["packages/solo"], explicit.root, request, explicit_args=True)
    assert [r.key for r in runs] == ["solo@py3.11", "solo@py3.12"]
    only = select_runs(
        explicit,
        ["packages/solo/tests/test_solo.py::test_x@py3.12"],
        explicit.root,
        request,
        explicit_args=True,
    )
    assert [(r.key, r.args) for r in only] == [("solo@py3.12", ("tests/test_solo.py::test_x",))]


def test_missing_and_outside_paths_are_errors(explicit: Workspace, tmp_path: Path) -> None:
    with pytest.raises(SelectionError, match="not found: nope"):
        select_runs(explicit, ["nope"], explicit.root, Request(), explicit_args=True)
    with pytest.raises(SelectionError, match="outside the workspace"):
        select_runs(explicit, [str(tmp_path.parent)], explicit.root, Request(), explicit_args=True)
