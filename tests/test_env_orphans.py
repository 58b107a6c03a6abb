"""``kill -9`` of a builder in the middle of ``uv sync``: no installer outlives it long,
and nothing it started writes into the env a later run publishes.

The installer is the real ``uv`` behind a wrapper that, after ``uv sync``, starts a
child of its own that keeps writing into the env directory (what an orphaned installer
does). The builder is killed with SIGKILL while that child writes; checked with
``/proc``: the wrapper dies with its parent (Linux's parent-death signal), its child
is ended by the next run before that run builds, and the published env never gets
the write.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from .conftest import MakeWorkspace
from .test_env_leftovers import alive
from .test_env_manager import FILES, Engine

pytestmark = [
    pytest.mark.slow,
    pytest.mark.uv,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="checks /proc"),
]

WRAPPER = """\
#!{python}
import os, subprocess, sys
REAL, MARKS = {uv!r}, {marks!r}
args = sys.argv[1:]
if args[:1] != ["sync"]:
    os.execv(REAL, [REAL, *args])
rc = subprocess.call([REAL, *args])
env = os.environ["UV_PROJECT_ENVIRONMENT"]
writer = subprocess.Popen(
    [sys.executable, "-c", {writer!r}, env],
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
)
with open(os.path.join(MARKS, "started.tmp"), "w") as f:
    f.write(f"{{os.getpid()}} {{writer.pid}}")
os.rename(os.path.join(MARKS, "started.tmp"), os.path.join(MARKS, "started"))
sys.exit(writer.wait() or rc)
"""

#: Writes ``<env>/orphan-was-here`` every 50 ms for a minute.
WRITER = (
    "import os, sys, time\n"
    "for _ in range(1200):\n"
    "    try:\n"
    "        open(os.path.join(sys.argv[1], 'orphan-was-here'), 'a').write('x')\n"
    "    except OSError:\n"
    "        pass\n"
    "    time.sleep(0.05)\n"
)

BUILDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from pytest_wsenv.envs.backends import UvBackend
    from pytest_wsenv.envs.manager import EnvManager
    from pytest_wsenv.lock import Lock
    from pytest_wsenv.target import Target
    from pytest_wsenv.workspace import Workspace

    root, cache_dir, uv = sys.argv[1:4]
    workspace = Workspace.discover(Path(root))
    manager = EnvManager(workspace, Lock.load(workspace.lock_path), cache_dir=Path(cache_dir))
    manager._backend = UvBackend(uv, Path(cache_dir))
    manager.ensure(manager.spec_for(Target(packages=("bird-feeder",)), manager.interpreter(None)))
    """
)


def test_kill_9_mid_uv_sync_leaves_no_installer_writing_into_the_published_env(
    make_workspace: MakeWorkspace, uv_bin: str, tmp_path: Path, wheelhouse: Path
) -> None:
    engine = Engine(make_workspace(FILES), tmp_path / "cache", wheelhouse)
    marks = tmp_path / "marks"
    marks.mkdir()
    wrapper = tmp_path / "uv-wrapper"
    wrapper.write_text(
        WRAPPER.format(python=sys.executable, uv=uv_bin, marks=str(marks), writer=WRITER)
    )
    wrapper.chmod(0o755)
    script = tmp_path / "builder.py"
    script.write_text(BUILDER)
    builder = subprocess.Popen(
        [sys.executable, str(script), str(engine.root), str(engine.cache_dir), str(wrapper)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180
        while not (marks / "started").exists():
            assert builder.poll() is None, builder.communicate()[0]
            assert time.monotonic() < deadline
            time.sleep(0.05)
        installer, writer = map(int, (marks / "started").read_text().split())
        assert alive(installer) and alive(writer)
        os.kill(builder.pid, signal.SIGKILL)
        builder.wait()
        deadline = time.monotonic() + 10
        while alive(installer) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(installer), "the installer outlived its builder"
        # the installer's own child is still writing into the unpublished build
        assert alive(writer)

        env = engine.ensure()  # takes the key's lock: ends the group, then builds
        assert env.built
        assert not alive(writer), "an orphaned installer process survived the next build"
        time.sleep(0.5)
        assert not (env.path / "orphan-was-here").exists()
        assert engine.ensure().built is False
        assert not [p for p in engine.cache_dir.iterdir() if ".tmp-" in p.name]
    finally:
        if builder.poll() is None:
            builder.kill()
        builder.communicate()
        for pid in _writers("orphan-was-here"):
            os.kill(pid, signal.SIGKILL)


def _writers(needle: str) -> list[int]:
    """Processes whose command line names ``needle`` (left by a failing run)."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if needle.encode() in Path(f"/proc/{name}/cmdline").read_bytes():
                    found.append(int(name))
            except OSError:
                continue
    return found
