"""Differential test: :meth:`Lock.closure` against the uv binary's ``uv export``.

Tiny workspaces are locked offline against the local wheelhouse; for each target the
export (universal markers evaluated per interpreter) must equal the closure, and uv's
refusals must be :class:`SelectionError`.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from pytest_wsenv.errors import SelectionError, StaleLockError
from pytest_wsenv.lock import Lock
from pytest_wsenv.target import MarkerEnv
from pytest_wsenv.workspace import Workspace

from ._lock_export import EXPORT_FLAGS, export_set, marker_env, pins_set, target_from_args
from .conftest import MakeWorkspace
from .support.wheels import build_wheel
from .support.workspaces import uv_lock

pytestmark = [pytest.mark.uv, pytest.mark.slow]

ENVS = {
    "current": MarkerEnv.current(),
    "cp310": marker_env("3.10.13"),
    "cp312": marker_env("3.12.1"),
    "cp313-win": marker_env("3.13.0", "win32"),
}

EXPLICIT = {
    "pyproject.toml": """
        [project]
        name = "root"
        version = "0.1.0"
        requires-python = ">=3.10"
        dependencies = ["alpha", "tinyfork"]

        [project.optional-dependencies]
        x = ["tinyextra"]
        y = ["tinyleft<2"]
        z = ["tinyleft>=2"]

        [dependency-groups]
        dev = ["tinyright"]
        lint = ["beta", "colorama; sys_platform == 'win32'"]
        docs = ["gamma[fancy]"]

        [tool.uv]
        conflicts = [[{ extra = "y" }, { extra = "z" }]]

        [tool.uv.sources]
        alpha = { workspace = true }
        beta = { workspace = true }
        gamma = { workspace = true }

        [tool.uv.workspace]
        members = ["packages/*"]

        {BUILD_SYSTEM}
        """,
    "packages/alpha/pyproject.toml": """
        [project]
        name = "alpha"
        version = "1.0"
        requires-python = ">=3.10"
        dependencies = [
            "tinyright; sys_platform == 'linux'",
            "locald",
            "tinypy<2; python_version < '3.12'",
            "tinypy>=2; python_version >= '3.12'",
        ]

        [tool.uv.sources]
        locald = { path = "../../vendor/locald" }

        {BUILD_SYSTEM}
        """,
    "packages/beta/pyproject.toml": """
        [project]
        name = "beta"
        version = "1.0"
        requires-python = ">=3.10"
        dependencies = ["tinyleft"]

        [dependency-groups]
        dev = ["tinyextra"]
        """,
    "packages/gamma/pyproject.toml": """
        [project]
        name = "gamma"
        version = "0.3"
        requires-python = ">=3.10"
        dependencies = []

        [project.optional-dependencies]
        fancy = ["tinyextra"]

        [dependency-groups]
        dev = ["tinyleft"]
        lint = ["tinyright"]

        [tool.uv]
        default-groups = "all"

        {BUILD_SYSTEM}
        """,
    "vendor/locald/pyproject.toml": """
        [project]
        name = "locald"
        version = "0.5"
        dependencies = []

        {BUILD_SYSTEM}
        """,
}

EXPLICIT_TARGETS = [
    "",
    "--no-dev",
    "--no-default-groups",
    "--all-groups",
    "--extra x",
    "--extra y",
    "--extra z",
    "--extra y --extra z",
    "--all-extras",
    "--extra y --group lint",
    "--only-group lint",
    "--only-group docs",
    "--group docs --no-dev",
    "--all-packages",
    "--all-packages --no-dev",
    "--all-packages --all-groups --extra x",
    "--package root",
    "--package alpha",
    "--package alpha --all-groups",
    "--package alpha --group lint",
    "--package alpha --group dev",
    "--package alpha --only-group dev",
    "--package beta",
    "--package beta --no-dev",
    "--package beta --group lint",
    "--package beta --all-groups",
    "--package gamma",
    "--package gamma --no-default-groups",
    "--package gamma --extra fancy --no-dev",
    "--package gamma --group docs",
    "--package alpha --package beta",
    "--package alpha --extra x",
    "--package beta --group nope",
    "--package nope",
    "--extra nope",
]

VIRTUAL = {
    "pyproject.toml": """
        [dependency-groups]
        dev = ["tinyright"]
        ci = ["tinyextra"]

        [tool.uv]
        default-groups = ["dev"]

        [tool.uv.workspace]
        members = ["libs/*", "apps/web"]

        [tool.uv.sources]
        one = { workspace = true }
        """,
    "libs/one/pyproject.toml": """
        [project]
        name = "one"
        version = "1.0"
        requires-python = ">=3.10"
        dependencies = ["tinyleft"]

        [tool.uv]
        dev-dependencies = ["tinyextra"]

        {BUILD_SYSTEM}
        """,
    "apps/web/pyproject.toml": """
        [project]
        name = "web"
        version = "2.0"
        requires-python = ">=3.10"
        dependencies = ["one", "tinyfork"]

        [dependency-groups]
        test = ["tinyright"]

        [tool.uv]
        default-groups = ["test"]

        {BUILD_SYSTEM}
        """,
}

VIRTUAL_TARGETS = [
    "",
    "--no-dev",
    "--all-groups",
    "--only-group ci",
    "--group ci",
    "--all-packages",
    "--package one",
    "--package one --no-dev",
    "--package one --group ci",
    "--package web",
    "--package web --group ci",
    "--package web --group dev",
    "--package web --all-groups",
    "--package web --no-default-groups",
    "--package web --only-group test",
]


@pytest.fixture(scope="module")
def more_wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tinypy`` 1.0 and 2.0, for a fork on an explicit python_version marker."""
    dest = tmp_path_factory.mktemp("more-wheels")
    build_wheel(dest, "tinypy", "1.0")
    build_wheel(dest, "tinypy", "2.0")
    return dest


@pytest.fixture
def locked(make_workspace: MakeWorkspace, wheelhouse: Path, more_wheels: Path) -> MakeWorkspace:
    def make(files: dict[str, str]) -> Path:
        root = make_workspace(files, lock=False)
        uv_lock(root, wheelhouse, extra_args=("--find-links", str(more_wheels)))
        return root

    return make


def _export(uv: str, root: Path, flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [uv, "export", *EXPORT_FLAGS, *shlex.split(flags)],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _compare(uv: str, root: Path, targets: list[str]) -> list[str]:
    lock = Lock.load(root / "uv.lock")
    workspace = Workspace.discover(root)
    lock.check_fresh(workspace)
    problems = []
    for flags in targets:
        proc = _export(uv, root, flags)
        target = target_from_args(flags)
        for env_id, env in ENVS.items():
            if proc.returncode != 0:
                try:
                    lock.closure(workspace, target, env)
                except SelectionError:
                    continue
                problems.append(f"[{flags}] {env_id}: uv refused ({proc.stderr.strip()})")
                continue
            expected = export_set(proc.stdout, env)
            try:
                got = pins_set(lock.closure(workspace, target, env), root)
            except SelectionError as exc:
                problems.append(f"[{flags}] {env_id}: uv exported, closure raised {exc}")
                continue
            if got != expected:
                problems.append(
                    f"[{flags}] {env_id}: only closure {sorted(got - expected)}, "
                    f"only uv {sorted(expected - got)}"
                )
    return problems


def test_explicit_root_workspace(locked: MakeWorkspace, uv_bin: str) -> None:
    root = locked(EXPLICIT)
    lock_text = (root / "uv.lock").read_text()
    assert "resolution-markers" in lock_text and "conflicts" in lock_text  # fork + conflicts
    assert _compare(uv_bin, root, EXPLICIT_TARGETS) == []


def test_virtual_root_workspace(locked: MakeWorkspace, uv_bin: str) -> None:
    root = locked(VIRTUAL)
    assert "[manifest.dependency-groups]" in (root / "uv.lock").read_text()
    assert _compare(uv_bin, root, VIRTUAL_TARGETS) == []


def test_fork_and_extra_only_dependency(locked: MakeWorkspace, uv_bin: str) -> None:
    """A python_version fork and a dependency reached only through an extra."""
    root = locked(EXPLICIT)
    lock, workspace = Lock.load(root / "uv.lock"), Workspace.discover(root)
    alpha = target_from_args("--package alpha")
    for version, expected in (("3.11.7", "1.0"), ("3.12.1", "2.0")):
        pin = lock.closure(workspace, alpha, marker_env(version)).get("tinypy")
        assert pin is not None and pin.version == expected
    plain = lock.closure(workspace, target_from_args(""), ENVS["current"]).names()
    extra = lock.closure(workspace, target_from_args("--extra x"), ENVS["current"]).names()
    assert extra - plain == {"tinyextra"}


def test_stale_after_editing_a_locked_workspace(locked: MakeWorkspace, uv_bin: str) -> None:
    root = locked(EXPLICIT)
    lock = Lock.load(root / "uv.lock")
    lock.check_fresh(Workspace.discover(root))
    beta = root / "packages" / "beta" / "pyproject.toml"
    beta.write_text(beta.read_text().replace('["tinyleft"]', '["tinyleft", "tqdm>=4"]'))
    with pytest.raises(StaleLockError, match=r"member 'beta': 'tqdm>=4' is in pyproject\.toml"):
        lock.check_fresh(Workspace.discover(root))


def test_stale_after_changing_default_groups(locked: MakeWorkspace, uv_bin: str) -> None:
    root = locked(VIRTUAL)
    lock = Lock.load(root / "uv.lock")
    web = root / "apps" / "web" / "pyproject.toml"
    web.write_text(web.read_text().replace('default-groups = ["test"]', "default-groups = []"))
    with pytest.raises(StaleLockError, match="member 'web': default-groups"):
        lock.check_fresh(Workspace.discover(root))
