"""The closure equals every recorded ``uv export`` of the two real workspaces.

Each recorded export (``uv-export/MANIFEST.tsv``: flags, exit code, file) is compared
with :meth:`Lock.closure` for the same flags on several interpreters; the export's
universal markers are evaluated for that interpreter first.
"""

from __future__ import annotations

import functools
import shlex
from dataclasses import dataclass

import pytest

from pytest_wsenv.errors import SelectionError
from pytest_wsenv.lock import Lock
from pytest_wsenv.workspace import Workspace

from ._lock_export import MARKER_ENVS, export_set, pins_set, target_from_args
from .conftest import REAL_FIXTURES

WORKSPACES = ("mcp-python-sdk", "otel-python")


@dataclass(frozen=True)
class Recorded:
    workspace: str
    file: str
    rc: int
    args: tuple[str, ...]


def _manifest(name: str) -> list[Recorded]:
    manifest = REAL_FIXTURES / name / "uv-export" / "MANIFEST.tsv"
    if not manifest.is_file():
        return []
    out = []
    for line in manifest.read_text().splitlines()[1:]:
        if not line.strip():
            continue
        file, rc, _count, command = line.split("\t")
        words = shlex.split(command)
        assert words[:2] == ["uv", "export"], command
        out.append(Recorded(name, file, int(rc), tuple(words[2:])))
    return out


RECORDED = [entry for name in WORKSPACES for entry in _manifest(name)]

pytestmark = pytest.mark.skipif(
    not RECORDED, reason=f"real workspace fixtures not found beside the checkout ({REAL_FIXTURES})"
)


@functools.cache
def _loaded(name: str) -> tuple[Lock, Workspace]:
    root = REAL_FIXTURES / name / "workspace"
    return Lock.load(root / "uv.lock"), Workspace.discover(root)


@pytest.mark.parametrize("env_id", sorted(MARKER_ENVS))
@pytest.mark.parametrize("entry", RECORDED, ids=lambda e: f"{e.workspace}/{e.file}")
def test_closure_matches_recorded_export(entry: Recorded, env_id: str) -> None:
    lock, workspace = _loaded(entry.workspace)
    target = target_from_args(entry.args)
    env = MARKER_ENVS[env_id]
    if entry.rc != 0:
        with pytest.raises(SelectionError):
            lock.closure(workspace, target, env)
        return
    text = (REAL_FIXTURES / entry.workspace / "uv-export" / entry.file).read_text()
    expected = export_set(text, env)
    got = pins_set(lock.closure(workspace, target, env), workspace.root)
    assert got == expected, (
        f"only in closure: {sorted(got - expected)}; only in export: {sorted(expected - got)}"
    )


@pytest.mark.parametrize("name", WORKSPACES)
def test_real_locks_are_fresh(name: str) -> None:
    lock, workspace = _loaded(name)
    lock.check_fresh(workspace)


@pytest.mark.parametrize("name", WORKSPACES)
def test_real_lock_pins_carry_hashes_and_sources(name: str) -> None:
    lock, workspace = _loaded(name)
    closure = lock.closure(
        workspace, target_from_args("--all-packages --all-groups"), MARKER_ENVS["cp312-linux"]
    )
    registry = [p for p in closure.pins if p.source_kind == "registry"]
    assert registry and all(
        p.hashes and all(h.startswith("sha256:") for h in p.hashes) for p in registry
    )
    assert all(p.version for p in registry)
    for pin in closure.pins:
        if pin.source_kind == "editable":
            assert pin.member and pin.editable
            assert (
                pin.requirement(workspace.root) == f"-e {(workspace.root / pin.source).resolve()}"
            )
    git = [p for p in closure.pins if p.source_kind == "git"]
    if name == "mcp-python-sdk":
        assert [p.requirement(workspace.root) for p in git] == [
            "strict-no-cover @ git+https://github.com/pydantic/strict-no-cover"
            "@7fc59da2c4dff919db2095a0f0e47101b657131d"
        ]
