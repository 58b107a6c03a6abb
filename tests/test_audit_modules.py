"""Module -> distribution: metadata of installed environments, lock wheels, members."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_wsenv.audit.files import package_prefixes
from pytest_wsenv.audit.modules import ModuleIndex, is_stdlib, shared_site_packages
from pytest_wsenv.workspace import Workspace

from ._audit_support import install_wheels
from .support.wheels import build_wheel


def _workspace(tmp_path: Path, members: dict[str, dict[str, str]]) -> Workspace:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "pyproject.toml").write_text('[tool.uv.workspace]\nmembers = ["m/*"]\n')
    for name, files in members.items():
        base = root / "m" / name
        base.mkdir(parents=True)
        (base / "pyproject.toml").write_text(f'[project]\nname = "{name}"\nversion = "1"\n')
        for rel, text in files.items():
            (base / rel).parent.mkdir(parents=True, exist_ok=True)
            (base / rel).write_text(text)
    return Workspace.discover(root)


def _index(
    workspace: Workspace,
    *,
    site_dirs: list[Path] | None = None,
    running: bool = True,
    known: tuple[str, ...] = (),
) -> ModuleIndex:
    prefixes = {n: package_prefixes(m) for n, m in workspace.members.items()}
    return ModuleIndex.build(
        workspace, prefixes, site_dirs=site_dirs or [], running=running, known=known
    )


def test_installed_metadata_maps_names_that_differ(tmp_path: Path, wheelhouse: Path) -> None:
    site = install_wheels(wheelhouse, tmp_path / "site", ["tiny-yaml-dist", "tinyright"])
    workspace = _workspace(tmp_path, {})
    index = _index(workspace, site_dirs=[site], running=False)
    assert index.lookup("tinyyaml") == ({"tiny-yaml-dist"}, "shared environment")
    assert index.distributions("tinyright.deep.module") == {"tinyright"}
    assert index.lookup("tinyextra") == (frozenset(), "unknown")


def test_namespace_packages_are_told_apart_by_their_files(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    build_wheel(wheels, "nsx-one", "1", modules={"nsx/one/__init__.py": ""})
    build_wheel(wheels, "nsx-two", "1", modules={"nsx/two/__init__.py": "", "nsx/util.py": ""})
    site = install_wheels(wheels, tmp_path / "site", ["nsx-one", "nsx-two"])
    index = _index(_workspace(tmp_path, {}), site_dirs=[site], running=False)
    assert index.distributions("nsx.one.sub") == {"nsx-one"}
    assert index.distributions("nsx.two") == {"nsx-two"}
    assert index.distributions("nsx.util") == {"nsx-two"}
    assert index.distributions("nsx") == {"nsx-one", "nsx-two"}


def test_members_own_packages_come_from_their_source(tmp_path: Path) -> None:
    workspace = _workspace(
        tmp_path,
        {
            "ns-api": {"src/ns/api/__init__.py": ""},
            "ns-sdk": {"src/ns/sdk/__init__.py": "", "src/ns/sdk/trace.py": ""},
            "flat": {"flatpkg/__init__.py": "", "tests/test_x.py": "", "docs/conf.py": ""},
        },
    )
    index = _index(workspace, running=False)
    assert index.member("ns.sdk.trace") == "ns-sdk"
    assert index.lookup("ns.api") == ({"ns-api"}, "member")
    assert index.member("flatpkg") == "flat"
    assert index.member("docs") is None and index.member("tests") is None
    assert index.member("ns") is None  # the namespace itself belongs to nobody


def test_the_running_environment_uses_packages_distributions(tmp_path: Path) -> None:
    index = _index(_workspace(tmp_path, {}))
    assert index.lookup("_pytest.config") == ({"pytest"}, "this environment")
    assert index.distributions("pluggy._hooks") == {"pluggy"}


def test_module_name_is_the_last_resort(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path, {"some-member": {}})
    index = _index(workspace, running=False, known=("Known_Dist",))
    assert index.lookup("known_dist") == ({"known-dist"}, "module name")
    assert index.lookup("some_member") == ({"some-member"}, "module name")
    assert index.lookup("unknown_thing") == (frozenset(), "unknown")


def test_shared_site_packages(tmp_path: Path) -> None:
    root = tmp_path / "root"
    site = root / ".venv" / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    assert shared_site_packages(root, {}) == []  # no pyvenv.cfg: not an environment
    (root / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    assert shared_site_packages(root, {}) == [site]
    other = root / "envs" / "shared" / "lib" / "python3.12" / "site-packages"
    other.mkdir(parents=True)
    (root / "envs" / "shared" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    assert shared_site_packages(root, {"UV_PROJECT_ENVIRONMENT": "envs/shared"}) == [other]


@pytest.mark.parametrize(
    ("module", "stdlib"),
    [("os.path", True), ("__future__", True), ("sys", True), ("yaml", False), ("tomli", False)],
)
def test_is_stdlib(module: str, stdlib: bool) -> None:
    assert is_stdlib(module) is stdlib
