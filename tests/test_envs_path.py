"""``pytest-wsenv envs --path MEMBER``: the member's current env for an editor or a shell."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pytest_wsenv.cli import main

from .conftest import MakeWorkspace
from .test_tooling import FILES, plugin_wheel  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_envs_path_builds_and_links_the_current_env(
    make_workspace: MakeWorkspace,
    plugin_wheel: Path,  # noqa: F811
    uv_bin: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = make_workspace(FILES)
    assert main(["-C", str(root), "envs", "--path", "no-group"]) == 0
    out, err = capsys.readouterr()
    python = Path(out.strip())
    assert "tooling from the workspace root's group 'dev': pytest " in err
    link = python.parent.parent
    assert link.parent == root / ".wsenv" / "current" and link.is_symlink()
    assert link.name.startswith("no-group-py")
    code = "import no_group, pytest_tinyplug, importlib.util as u; print(u.find_spec('tinyextra'))"
    run = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "None"  # the member's deps and tooling, nothing else
    target = os.readlink(link)
    # reused, not rebuilt, and the same link: stable across calls
    assert main(["-C", str(root), "envs", "--path", "no-group"]) == 0
    out, err = capsys.readouterr()
    assert Path(out.strip()) == python and "building" not in err
    assert os.readlink(link) == target
    # the cache listing does not take the links for environments
    assert main(["-C", str(root), "envs"]) == 0
    assert "current " not in capsys.readouterr().out


def test_envs_extra_without_path_is_one_line(
    make_workspace: MakeWorkspace,
    plugin_wheel: Path,  # noqa: F811
    uv_bin: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = make_workspace(FILES)
    assert main(["-C", str(root), "envs", "--extra", "x"]) != 0
    assert "--extra and --python go with --path MEMBER" in capsys.readouterr().err
