"""Faults of the machine as one line: a full disk, a read-only cache, too many open files.

Each builds a real environment in a child process: the disk is a small ``tmpfs``
mounted in a private mount namespace (``unshare``: skipped where that is not
allowed), the read-only cache that tmpfs remounted read-only, the descriptor limit an
``RLIMIT_NOFILE`` set in the child. The child prints what the build raised.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .conftest import MakeWorkspace
from .test_env_manager import FILES

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="tmpfs and unshare"),
]

SCRIPT = textwrap.dedent(
    """
    import resource, sys, traceback
    from pathlib import Path
    from pytest_wsenv.envs.manager import EnvManager
    from pytest_wsenv.errors import WsenvError
    from pytest_wsenv.lock import Lock
    from pytest_wsenv.target import Target
    from pytest_wsenv.workspace import Workspace

    root, cache_dir, backend, files = sys.argv[1:5]
    workspace = Workspace.discover(Path(root))
    manager = EnvManager(
        workspace, Lock.load(workspace.lock_path), cache_dir=Path(cache_dir), backend=backend
    )
    spec = manager.spec_for(Target(packages=("bird-feeder",)), manager.interpreter(None))
    if files != "-":
        resource.setrlimit(resource.RLIMIT_NOFILE, (int(files), int(files)))
    try:
        manager.ensure(spec)
    except WsenvError as exc:
        print("ERROR", str(exc))
        print("TAIL", len(getattr(exc, "log_tail", "")))
    except BaseException:
        print("TRACEBACK", traceback.format_exc())
    else:
        print("BUILT")
    """
)


def _can_mount(tmp_path: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = tmp_path / "probe"
    probe.mkdir()
    proc = subprocess.run(
        ["unshare", "-Urm", "sh", "-c", f"mount -t tmpfs -o size=1m tmpfs {probe}"],
        capture_output=True,
        check=False,
    )
    return proc.returncode == 0


def _build(
    root: Path,
    cache_dir: Path,
    tmp_path: Path,
    *,
    backend: str = "uv",
    mount: str = "",
    files: str = "-",
) -> str:
    script = tmp_path / "build.py"
    script.write_text(SCRIPT)
    command = shlex.join([sys.executable, str(script), str(root), str(cache_dir), backend, files])
    if mount:
        cache_dir.mkdir(exist_ok=True)
        argv = ["unshare", "-Urm", "sh", "-c", f"{mount} && exec {command}"]
    else:
        argv = shlex.split(command)
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)
    return proc.stdout + proc.stderr


def _error_line(output: str) -> str:
    assert "TRACEBACK" not in output, output
    (line,) = [line for line in output.splitlines() if line.startswith("ERROR ")]
    assert "TAIL 0" in output, output  # one line, no installer log
    return line[len("ERROR ") :]


@pytest.fixture
def workspace(make_workspace: MakeWorkspace, uv_bin: str, tmp_path: Path) -> Path:
    if not _can_mount(tmp_path):
        pytest.skip("cannot mount a tmpfs in a user namespace here")
    return make_workspace(FILES)


@pytest.mark.parametrize("backend", ["uv", "pip"])
def test_a_full_disk_is_one_line(workspace: Path, tmp_path: Path, backend: str) -> None:
    cache_dir = tmp_path / "small"
    mount = f"mount -t tmpfs -o size=2m tmpfs {shlex.quote(str(cache_dir))}"
    line = _error_line(_build(workspace, cache_dir, tmp_path, backend=backend, mount=mount))
    assert line.startswith(f"{cache_dir}")
    assert ": no space left on the device while building bird-feeder-py" in line
    assert line.endswith(
        "; free some space (`pytest-wsenv prune` removes environments no current target "
        "uses) or pass --ws-cache-dir naming a cache on another device"
    )


def test_a_read_only_cache_that_needs_a_build_is_one_line(workspace: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "ro"
    quoted = shlex.quote(str(cache_dir))
    mount = f"mount -t tmpfs tmpfs {quoted} && mount -o remount,ro {quoted}"
    line = _error_line(_build(workspace, cache_dir, tmp_path, mount=mount))
    assert line.startswith(f"{cache_dir}: the environment cache is on a read-only file system")
    assert line.endswith(
        "pass --ws-cache-dir (or set PYTEST_WSENV_CACHE_DIR) naming a writable directory"
    )


def test_too_many_open_files_is_one_line(workspace: Path, tmp_path: Path) -> None:
    output = _build(workspace, tmp_path / "cache", tmp_path, files="12")
    line = _error_line(output)
    assert "too many open files while " in line, line
    assert line.endswith("raise the limit (`ulimit -n`) or run fewer members at once (-n)")
    assert not [p for p in (tmp_path / "cache").iterdir() if ".tmp-" in p.name]
    assert os.path.isdir(tmp_path / "cache")
