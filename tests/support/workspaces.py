"""Write workspaces from a dict of files, and lock them offline against a wheelhouse."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

from pytest_wsenv.envs.backends import find_uv

from .wheels import metadata_text

__all__ = ["BUILD_SYSTEM", "find_uv", "uv_lock", "write_workspace"]

#: Paste into a member's pyproject.toml to build it with the stdlib-only test backend.
BUILD_SYSTEM = """\
[build-system]
requires = []
build-backend = "tiny_backend"
backend-path = ["_build"]
"""

_BACKEND = Path(__file__).with_name("tiny_backend.py")


def _write_backend(member: Path, pyproject: Mapping[str, object]) -> None:
    project = pyproject.get("project")
    assert isinstance(project, dict), f"{member}: a member using BUILD_SYSTEM needs [project]"
    build = member / "_build"
    build.mkdir(exist_ok=True)
    shutil.copyfile(_BACKEND, build / "tiny_backend.py")
    (build / "METADATA").write_text(
        metadata_text(
            project["name"],
            project.get("version", "0.1.0"),
            requires=project.get("dependencies", ()),
            extras=project.get("optional-dependencies", {}),
            requires_python=project.get("requires-python"),
        )
    )


def write_workspace(root: Path, files: Mapping[str, str]) -> Path:
    """Write ``files`` (relative path -> text, dedented) under ``root``.

    Every pyproject.toml that uses :data:`BUILD_SYSTEM` gets the tiny backend and its
    METADATA, so the member can be built and installed offline.
    """
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    for rel in files:
        if Path(rel).name == "pyproject.toml":
            path = root / rel
            data = tomllib.loads(path.read_text())
            if data.get("build-system", {}).get("build-backend") == "tiny_backend":
                _write_backend(path.parent, data)
    return root


def uv_lock(root: Path, wheelhouse: Path, *, extra_args: tuple[str, ...] = ()) -> Path:
    """``uv lock`` offline against ``wheelhouse``; returns the lock path."""
    uv = find_uv()
    if uv is None:
        raise RuntimeError("uv is not installed")
    env = dict(os.environ)
    env.setdefault("UV_PYTHON_DOWNLOADS", "never")
    proc = subprocess.run(
        [uv, "lock", "--offline", "--no-index", "--find-links", str(wheelhouse), *extra_args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"uv lock failed in {root}:\n{proc.stderr}")
    return root / "uv.lock"
