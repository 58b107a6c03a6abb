"""Members that declare extras and dependencies dynamically (hatch, setuptools plugins):
``members``, ``matrix --extras-combos`` and ``--ws-extra`` read them from ``uv.lock``."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from pytest_wsenv.cli import main
from pytest_wsenv.cli.members import simplified
from pytest_wsenv.workspace import Workspace

from .conftest import MakeWorkspace
from .support.wheels import metadata_text
from .support.workspaces import uv_lock

FILES = {
    "pyproject.toml": """
        [tool.uv.workspace]
        members = ["packages/*"]
    """,
    "packages/dyn/pyproject.toml": """
        [project]
        name = "dyn"
        version = "0.1.0"
        requires-python = ">=3.9"
        dynamic = ["dependencies", "optional-dependencies"]
        [tool.uv.sources]
        seeds = { workspace = true }
        {BUILD_SYSTEM}
    """,
    "packages/dyn/src/dyn/__init__.py": "",
    "packages/seeds/pyproject.toml": """
        [project]
        name = "seeds"
        version = "0.1.0"
        requires-python = ">=3.11,<4"
        dependencies = []
        {BUILD_SYSTEM}
    """,
    "packages/seeds/src/seeds/__init__.py": "",
}


@pytest.fixture
def dynamic(make_workspace: MakeWorkspace, wheelhouse: Path, uv_bin: str) -> Path:
    """``dyn`` builds metadata with dependencies on seeds and two extras; its pyproject
    names none of them."""
    root = make_workspace(FILES, lock=False)
    (root / "packages/dyn/_build/METADATA").write_text(
        metadata_text(
            "dyn",
            "0.1.0",
            requires=["seeds"],
            extras={"fast": ["tinyleft"], "plot": ["tinyextra"]},
            requires_python=">=3.9",
        )
    )
    uv_lock(root, wheelhouse)
    return root


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def test_members_read_dynamic_extras_and_deps_from_the_lock(
    dynamic: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert Workspace.discover(dynamic).members["dyn"].extras == {}
    out = run(capsys, "-C", str(dynamic), "members")
    assert out.splitlines()[0].split() == [
        "dyn",
        "packages/dyn",
        "extras=fast,plot",
        "groups=",
        "deps=seeds",
    ]
    data = json.loads(run(capsys, "-C", str(dynamic), "members", "--json"))
    assert data["requires_python"] == ">=3.11,<4"  # >=3.9 and >=3.11 simplified
    assert data["members"][0]["extras"] == ["fast", "plot"]


def test_matrix_extras_combos_use_the_lock(
    dynamic: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = json.loads(
        run(capsys, "-C", str(dynamic), "matrix", "--format", "json", "--extras-combos")
    )
    jobs = data if isinstance(data, list) else data.get("jobs", data.get("include"))
    names = {job["name"] for job in jobs}
    assert {n.split(" ")[0] for n in names} >= {"dyn", "dyn[fast]", "dyn[plot]"}


@pytest.mark.slow
def test_ws_extra_of_a_dynamic_member_runs(
    dynamic: Path, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    tests = dynamic / "packages/dyn/tests"
    tests.mkdir()
    (tests / "test_dyn.py").write_text(
        textwrap.dedent(
            """
            import tinyextra

            def test_plot_extra_installed():
                assert tinyextra
            """
        )
    )
    monkeypatch.chdir(dynamic)
    result = pytester.runpytest("--ws-package", "dyn", "--ws-extra", "plot")
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (">=3.9,>=3.11", ">=3.11"),
        (">=3.10,<4,<3.14", ">=3.10,<3.14"),
        (">3.10,>=3.10", ">3.10"),
        (">=3.10,!=3.12.0", ">=3.10,!=3.12.0"),
        ("", ""),
    ],
)
def test_requires_python_simplified(spec: str, expected: str) -> None:
    from packaging.specifiers import SpecifierSet

    assert simplified(SpecifierSet(spec)) == expected
