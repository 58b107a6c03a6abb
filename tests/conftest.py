"""Fixtures shared by the suite: a local wheelhouse and a workspace factory."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from .support.wheels import build_wheel, repack_installed
from .support.workspaces import BUILD_SYSTEM, find_uv, uv_lock, write_workspace


def _runner_dists() -> tuple[str, ...]:
    """pytest and what it needs on this interpreter, as installed here."""
    from importlib.metadata import requires

    from packaging.requirements import Requirement

    needed = ["pytest"]
    for text in requires("pytest") or ():
        req = Requirement(text)
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            needed.append(req.name)
    return tuple(needed)


#: Distributions copied from the running environment so envs can run real pytest offline.
RUNNER_DISTS = _runner_dists()

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REAL_FIXTURES = SHARED / "fixtures" / "real"


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory of wheels: tiny packages plus pytest and its dependencies.

    Tiny packages: ``tinyleft`` 1.0/2.0, ``tinyright`` 1.0 (needs tinyleft),
    ``tinyextra`` 1.0, ``tinyfork`` 1.0 (python < 3.12) / 2.0, ``tiny-yaml-dist`` 1.0
    (imports as ``tinyyaml``), and a stand-in ``colorama`` (only pytest's win32 marker
    needs it, so a universal lock resolves offline).
    """
    dest = tmp_path_factory.mktemp("wheelhouse")
    build_wheel(dest, "tinyleft", "1.0")
    build_wheel(dest, "tinyleft", "2.0")
    build_wheel(dest, "tinyright", "1.0", requires=["tinyleft"])
    build_wheel(dest, "tinyextra", "1.0")
    build_wheel(dest, "tinyfork", "1.0")
    build_wheel(dest, "tinyfork", "2.0", requires_python=">=3.12")
    build_wheel(dest, "tiny-yaml-dist", "1.0", modules={"tinyyaml/__init__.py": "LOADED = True\n"})
    build_wheel(dest, "colorama", "0.4.6")
    for name in RUNNER_DISTS:
        repack_installed(dest, name)
    return dest


MakeWorkspace = Callable[..., Path]


@pytest.fixture
def make_workspace(tmp_path: Path, wheelhouse: Path) -> MakeWorkspace:
    """Write a workspace from ``{relative path: text}`` and lock it against the wheelhouse.

    ``make_workspace(files, lock=True, name="ws")``: ``{BUILD_SYSTEM}`` and
    ``{WHEELHOUSE}`` in the texts are replaced; when ``lock`` is true and uv is
    installed the workspace is locked offline (tests that need a lock but run without
    uv are skipped).
    """

    def make(files: Mapping[str, str], *, lock: bool = True, name: str = "ws") -> Path:
        root = tmp_path / name
        rendered = {
            rel: text.replace("{BUILD_SYSTEM}", BUILD_SYSTEM).replace(
                "{WHEELHOUSE}", wheelhouse.as_posix()
            )
            for rel, text in files.items()
        }
        write_workspace(root, rendered)
        if lock:
            if find_uv() is None:
                pytest.skip("uv is not installed; this test needs `uv lock`")
            uv_lock(root, wheelhouse)
        return root

    return make


@pytest.fixture
def uv_bin() -> str:
    found = find_uv()
    if found is None:
        pytest.skip("uv is not installed")
    return found


@pytest.fixture
def real_fixtures() -> Path:
    if not REAL_FIXTURES.is_dir():
        pytest.skip(f"real workspace fixtures not found beside the checkout ({REAL_FIXTURES})")
    return REAL_FIXTURES


@pytest.fixture(autouse=True)
def _environment_is_stable() -> Iterator[None]:
    """No test may leave environment variables changed behind it."""
    before = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    yield
    after = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    if before != after:
        changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        for key in after.keys() - before.keys():
            del os.environ[key]
        os.environ.update(before)
        pytest.fail(f"test changed environment variables: {', '.join(changed)}")
