"""The test support itself: wheels install, workspaces lock and build offline."""

from __future__ import annotations

import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from .conftest import RUNNER_DISTS, MakeWorkspace


def test_wheelhouse_holds_runner_and_tiny_wheels(wheelhouse: Path) -> None:
    names = {p.name.split("-")[0].lower() for p in wheelhouse.glob("*.whl")}
    assert {"tinyleft", "tinyright", "tiny_yaml_dist", *RUNNER_DISTS} <= names
    with zipfile.ZipFile(next(wheelhouse.glob("pytest-*.whl"))) as zf:
        assert "_pytest/main.py" in zf.namelist()
        assert any(n.endswith(".dist-info/RECORD") for n in zf.namelist())


@pytest.mark.slow
def test_locked_member_installs_editable_offline(
    make_workspace: MakeWorkspace, uv_bin: str, tmp_path: Path
) -> None:
    root = make_workspace(
        {
            "pyproject.toml": """
                [project]
                name = "albatross"
                version = "0.1.0"
                requires-python = ">=3.11"
                dependencies = ["bird-feeder"]
                [tool.uv.sources]
                bird-feeder = { workspace = true }
                [tool.uv.workspace]
                members = ["packages/*"]
                {BUILD_SYSTEM}
            """,
            "packages/bird-feeder/pyproject.toml": """
                [project]
                name = "bird-feeder"
                version = "0.1.0"
                requires-python = ">=3.11"
                dependencies = ["tinyright"]
                {BUILD_SYSTEM}
            """,
            "packages/bird-feeder/src/bird_feeder/__init__.py": "FED = True\n",
        }
    )
    env = tmp_path / "env"
    subprocess.run(
        [uv_bin, "sync", "--frozen", "--package", "bird-feeder", "--exact"],
        cwd=root,
        env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(env)},
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        [
            str(env / "bin" / "python"),
            "-c",
            "import bird_feeder, tinyright, tinyleft; print(tinyleft.VERSION)",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert out.strip() == "2.0"
