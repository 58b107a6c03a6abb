"""The bundled example workspace: valid as shipped, and its leak shows under isolation."""

from __future__ import annotations

import functools
import importlib.metadata
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .support.wheels import build_wheel, repack_installed
from .support.workspaces import BUILD_SYSTEM, find_uv, uv_lock, write_workspace

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "albatross"
MEMBERS = {"albatross": ".", "bird-feeder": "packages/bird-feeder", "seeds": "packages/seeds"}
PYPI = "https://pypi.org/simple"
HATCHLING = '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'

#: Stand-ins for the example's third-party dependencies: same distribution and module
#: names, just enough API for the example's code, so the workspace locks and installs
#: offline.
STAND_INS = {
    "attrs": (
        "25.1.0",
        """
        import dataclasses

        def frozen(cls):
            return dataclasses.dataclass(frozen=True)(cls)
        """,
    ),
    "sortedcontainers": (
        "2.4.0",
        """
        import bisect

        class SortedList(list):
            def __init__(self, iterable=()):
                super().__init__(sorted(iterable))

            def add(self, value):
                bisect.insort(self, value)
        """,
    ),
    "tqdm": (
        "4.67.0",
        """
        def tqdm(iterable=None, *args, **kwargs):
            return iterable
        """,
    ),
}


def _load(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def _project(member: str) -> dict[str, Any]:
    project: dict[str, Any] = _load(EXAMPLE / MEMBERS[member] / "pyproject.toml")["project"]
    return project


def _names(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in requirements}


def _lock_packages() -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in _load(EXAMPLE / "uv.lock")["package"]}


# -- the example as shipped ----------------------------------------------------------


def test_example_is_a_workspace_with_an_explicit_root() -> None:
    root = _load(EXAMPLE / "pyproject.toml")
    assert root["tool"]["uv"]["workspace"] == {"members": ["packages/*"]}
    assert root["project"]["name"] == "albatross"
    assert root["dependency-groups"]["dev"] == ["pytest>=8"]
    found = {p.parent.name for p in (EXAMPLE / "packages").glob("*/pyproject.toml")}
    assert found == {"bird-feeder", "seeds"}
    for member, rel in MEMBERS.items():
        assert _project(member)["name"] == member
        assert (EXAMPLE / rel / "tests").is_dir(), f"{member} has no tests"


def test_lock_holds_the_three_members_from_source() -> None:
    lock = _load(EXAMPLE / "uv.lock")
    assert set(lock["manifest"]["members"]) == set(MEMBERS)
    packages = _lock_packages()
    for member, rel in MEMBERS.items():
        assert packages[member]["source"] == {"editable": rel}


def test_lock_matches_the_declared_dependencies() -> None:
    packages = _lock_packages()
    for member in MEMBERS:
        project = _project(member)
        locked = packages[member]
        deps = locked.get("dependencies", [])
        assert {d["name"] for d in deps} == _names(project.get("dependencies", []))
        extras = project.get("optional-dependencies", {})
        locked_extras = locked.get("optional-dependencies", {})
        assert set(locked_extras) == set(extras)
        for extra, reqs in extras.items():
            assert {d["name"] for d in locked_extras[extra]} == _names(reqs)


def test_lock_points_at_the_public_index_only() -> None:
    for name, package in _lock_packages().items():
        source = package["source"]
        if name not in MEMBERS:
            assert source == {"registry": PYPI}, f"{name} is locked from {source}"


def test_the_leak_is_planted() -> None:
    """bird-feeder's test imports a package only its sibling seeds declares."""
    seeds = _names(_project("seeds")["dependencies"])
    feeder = _names(_project("bird-feeder")["dependencies"])
    assert "sortedcontainers" in seeds
    assert "sortedcontainers" not in feeder
    test = EXAMPLE / "packages/bird-feeder/tests/test_feeder.py"
    assert "from sortedcontainers import" in test.read_text(encoding="utf-8")
    assert "tqdm" in _names(_project("seeds")["optional-dependencies"]["progress"])


# -- end to end ----------------------------------------------------------------------


@functools.cache
def _plugin_is_wired() -> bool:
    with tempfile.TemporaryDirectory() as cwd:
        out = subprocess.run(
            [sys.executable, "-m", "pytest", "--help"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
        ).stdout
    return "--ws-isolated" in out


def _requirement_wheels(dest: Path) -> None:
    """Wheels for pytest's Python < 3.11 requirements, so a universal lock resolves."""
    for name in ("exceptiongroup", "tomli", "typing-extensions"):
        try:
            repack_installed(dest, name)
        except importlib.metadata.PackageNotFoundError:
            if name != "typing-extensions":  # only the real exceptiongroup needs it
                build_wheel(dest, name, "99.0")


@pytest.fixture(scope="module")
def albatross(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Path:
    """A copy of the example locked offline, its members built by the stdlib test backend."""
    if find_uv() is None:
        pytest.skip("uv is not installed; the example needs `uv lock`")
    if not _plugin_is_wired():
        pytest.skip("the plugin does not register --ws-isolated yet (`pytest --help`)")
    files: dict[str, str] = {}
    for path in sorted(EXAMPLE.rglob("*")):
        rel = path.relative_to(EXAMPLE).as_posix()
        if not path.is_file() or rel == "uv.lock" or "__pycache__" in rel or ".wsenv" in rel:
            continue
        text = path.read_text(encoding="utf-8")
        if path.name == "pyproject.toml":
            assert HATCHLING in text, f"{rel}: build-system changed; update this test"
            text = text.replace(HATCHLING, BUILD_SYSTEM)
        files[rel] = text
    root = write_workspace(tmp_path_factory.mktemp("example") / "albatross", files)
    stand_ins = tmp_path_factory.mktemp("stand-ins")
    for name, (version, source) in STAND_INS.items():
        modules = {f"{name}/__init__.py": textwrap.dedent(source)}
        build_wheel(stand_ins, name, version, modules=modules)
    _requirement_wheels(stand_ins)
    uv_lock(root, wheelhouse, extra_args=("--find-links", str(stand_ins)))
    return root


@pytest.mark.slow
@pytest.mark.uv
def test_isolated_run_shows_the_leak(pytester: pytest.Pytester, albatross: Path) -> None:
    result = pytester.runpytest_subprocess("--ws-isolated", str(albatross), timeout=240)
    result.assert_outcomes(passed=4, failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*ModuleNotFoundError: No module named 'sortedcontainers'*",
            "FAILED *packages/bird-feeder/tests/test_feeder.py::test_schedule_is_in_time_order*",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert (albatross / ".wsenv" / "CACHEDIR.TAG").is_file()


@pytest.mark.slow
@pytest.mark.uv
def test_requested_extra_runs_the_skipped_test(pytester: pytest.Pytester, albatross: Path) -> None:
    result = pytester.runpytest_subprocess(
        "--ws-package", "seeds", "--ws-extra", "progress", str(albatross), timeout=240
    )
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK
