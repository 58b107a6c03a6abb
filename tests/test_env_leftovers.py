"""What killed builders leave: installer process groups, temp dirs, lock files.

Real processes stand in for orphaned installers (a ``sleep`` in a group of its own); the
full scenario, ``kill -9`` of a builder in the middle of ``uv sync``, is in
``test_env_orphans.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_wsenv.envs import cache
from pytest_wsenv.envs._locks import installer_record, key_lock, lock_path, try_key_lock
from pytest_wsenv.envs.backends import _groups
from pytest_wsenv.errors import EnvBuildError

posix_only = pytest.mark.skipif(os.name != "posix", reason="process groups are POSIX")


def alive(pid: int) -> bool:
    """``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def orphan() -> Iterator[subprocess.Popen[bytes]]:
    """A process in a group of its own, as an installer left by a killed builder."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True
    )
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def _leftover(cache_dir: Path, name: str, pid: int, start: str | None) -> Path:
    tmp = cache_dir / f".{name}{cache._TMP}0123456789ab"
    (tmp / "lib").mkdir(parents=True)
    installer_record(tmp).write_text(f"{pid} {start or ''}\n")
    return tmp


def _wait_dead(proc: subprocess.Popen[bytes]) -> None:
    proc.wait(timeout=10)  # reaps it: the group kill left a zombie of our own child


@posix_only
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_next_holder_of_the_lock_ends_the_installer_group(
    tmp_path: Path, orphan: subprocess.Popen[bytes]
) -> None:
    cache_dir = cache.ensure_cache_dir(tmp_path / "cache")
    name = "m-py3.11-aaaa"
    tmp = _leftover(cache_dir, name, orphan.pid, _groups._start_time(orphan.pid))
    os.symlink(tmp.name, cache_dir / name)
    with key_lock(cache_dir, name, print):
        fresh = cache.new_temp_dir(cache_dir, name)
    _wait_dead(orphan)
    assert not tmp.exists() and not installer_record(tmp).exists()
    assert not os.path.lexists(cache_dir / name)
    assert fresh.parent == cache_dir and not fresh.exists()


@posix_only
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_leftovers_of_another_key_are_swept_unless_someone_holds_them(
    tmp_path: Path, orphan: subprocess.Popen[bytes]
) -> None:
    cache_dir = cache.ensure_cache_dir(tmp_path / "cache")
    old = _leftover(cache_dir, "m-py3.11-old", orphan.pid, _groups._start_time(orphan.pid))
    busy = _leftover(cache_dir, "m-py3.11-busy", 0, None)
    with try_key_lock(cache_dir, "m-py3.11-busy") as held:
        assert held
        removed = cache.sweep_killed_builds(cache_dir, skip="m-py3.11-new")
    _wait_dead(orphan)
    assert old in removed and not old.exists()
    assert busy.exists() and installer_record(busy).exists()


@posix_only
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_reused_process_id_is_not_killed(tmp_path: Path, orphan: subprocess.Popen[bytes]) -> None:
    """The record's start time differs from the live process of that id: not ours."""
    cache_dir = cache.ensure_cache_dir(tmp_path / "cache")
    tmp = _leftover(cache_dir, "m-py3.11-aaaa", orphan.pid, "1")
    cache.sweep_killed_builds(cache_dir)
    assert not tmp.exists()
    assert orphan.poll() is None and alive(orphan.pid)


@posix_only
def test_an_installer_runs_in_its_own_group_and_leaves_nothing(tmp_path: Path) -> None:
    """What the installer started in its group is ended when it returns; the record is
    written while it runs and removed after."""
    from pytest_wsenv.envs.backends._process import installer_env, run

    record = tmp_path / ".m.tmp-x.installer"
    seen = tmp_path / "seen"
    code = (
        "import os, subprocess, sys; "
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], "
        "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
        f"open({str(seen)!r}, 'w').write(f'{{os.getpid()}} {{os.getpgid(0)}} {{child.pid}} ' "
        f"+ open({str(record)!r}).read())"
    )
    with _groups.recording(record):
        out = run([sys.executable, "-c", code], log=lambda line: None, env=installer_env())
    assert out.ok, out.lines
    pid, pgid, grandchild, recorded = seen.read_text().split()[:4]
    assert pid == pgid == recorded != str(os.getpgid(0))
    assert not record.exists()
    deadline = time.monotonic() + 10
    while alive(int(grandchild)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(int(grandchild))


def test_a_lock_file_planted_as_a_link_is_refused(tmp_path: Path) -> None:
    cache_dir = cache.ensure_cache_dir(tmp_path / "cache")
    victim = tmp_path / "victim"
    victim.write_text("precious")
    os.symlink(victim, lock_path(cache_dir, "m-py3.11-aaaa"))
    with pytest.raises(EnvBuildError) as info, key_lock(cache_dir, "m-py3.11-aaaa", print):
        pass
    assert str(info.value).splitlines() == [
        f"{lock_path(cache_dir, 'm-py3.11-aaaa')}: the lock file is a symbolic link; "
        "remove it (pytest-wsenv never follows it)"
    ]
    assert victim.read_text() == "precious"


def test_a_waiter_on_a_removed_lock_file_locks_the_new_one(tmp_path: Path) -> None:
    """prune removes lock files while holding them: whoever waited on the removed file
    must not get in while another holds the file now at that path."""
    cache_dir = cache.ensure_cache_dir(tmp_path / "cache")
    name = "m-py3.11-aaaa"
    events: list[str] = []
    first_held = threading.Event()
    release_first = threading.Event()

    def first() -> None:
        with key_lock(cache_dir, name, print):
            first_held.set()
            release_first.wait(10)

    def waiter() -> None:
        with key_lock(cache_dir, name, lambda line: events.append("waiting")):
            events.append("waiter in")

    holder = threading.Thread(target=first)
    holder.start()
    assert first_held.wait(10)
    waiting = threading.Thread(target=waiter)
    waiting.start()
    deadline = time.monotonic() + 10
    while "waiting" not in events and time.monotonic() < deadline:
        time.sleep(0.01)
    lock_path(cache_dir, name).unlink()  # as prune does while it holds the lock
    with key_lock(cache_dir, name, print):  # a newcomer locks a new file at the path
        events.append("newcomer in")
        release_first.set()  # the waiter now gets the removed file's lock
        holder.join(10)
        time.sleep(0.3)
        events.append("newcomer out")
    waiting.join(10)
    assert events == ["waiting", "newcomer in", "newcomer out", "waiter in"], events


def test_prune_removes_lock_files_nobody_holds(tmp_path: Path) -> None:
    cache_dir = cache.ensure_cache_dir(tmp_path / "cache")
    for name in ("gone-a", "busy-b"):
        lock_path(cache_dir, name).touch()
    with try_key_lock(cache_dir, "busy-b") as held:
        assert held
        assert cache.prune(cache_dir, set()) == []
    assert not lock_path(cache_dir, "gone-a").exists()
    assert lock_path(cache_dir, "busy-b").exists()
