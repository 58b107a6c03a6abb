"""A safe cache: nothing in it writable by others whatever the umask; another user's
cache is refused."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_wsenv.envs import cache
from pytest_wsenv.envs.backends._private import make_dirs, restrict_tree, write_file
from pytest_wsenv.errors import EnvBuildError

from .conftest import MakeWorkspace
from .test_env_manager import FILES, Engine

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")


@pytest.fixture
def umask_000() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def writable_by_others(root: Path) -> list[str]:
    found = []
    for folder, dirs, files in os.walk(root):
        for name in (".", *dirs, *files):
            path = os.path.join(folder, name)
            mode = os.lstat(path).st_mode
            if not stat.S_ISLNK(mode) and mode & (stat.S_IWGRP | stat.S_IWOTH):
                found.append(f"{os.path.relpath(path, root)} {oct(mode & 0o7777)}")
    return found


@posix_only
def test_helpers_ignore_the_umask(tmp_path: Path, umask_000: None) -> None:
    make_dirs(tmp_path / "a" / "b")
    write_file(tmp_path / "a" / "b" / "f", "x")
    (tmp_path / "a" / "loose").write_text("y")  # made with the umask: 0o666
    assert writable_by_others(tmp_path / "a") == ["loose 0o666"]
    assert restrict_tree(tmp_path / "a") == 1
    assert writable_by_others(tmp_path / "a") == []


@posix_only
@pytest.mark.slow
def test_nothing_in_the_cache_is_writable_by_others_under_umask_000(
    make_workspace: MakeWorkspace, uv_bin: str, wheelhouse: Path, tmp_path: Path, umask_000: None
) -> None:
    engine = Engine(make_workspace(FILES), tmp_path / "cache", wheelhouse)
    uv_env = engine.ensure()
    pip_env = engine.ensure(backend="pip")  # created in-process, then pip
    assert uv_env.built and pip_env.built
    # tests run in the env write bytecode with the umask too
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for ready in (uv_env, pip_env):
        subprocess.run(
            [str(ready.python), "-c", "import bird_feeder, tinyleft, pytest"],
            env=env,
            cwd=tmp_path,
            check=True,
        )
    assert list((uv_env.site_packages / "tinyleft").glob("__pycache__/*.pyc"))
    assert writable_by_others(engine.cache_dir) == []
    assert not engine.ensure().built


@posix_only
def test_a_group_writable_cache_of_ours_is_tightened(tmp_path: Path) -> None:
    where = tmp_path / "cache"
    where.mkdir()
    where.chmod(0o777)
    cache.ensure_cache_dir(where)
    assert stat.S_IMODE(where.stat().st_mode) == 0o755


def _foreign_dir(tmp_path: Path) -> Path:
    """A directory owned by another user: made and given away as root, else ``/``."""
    if os.geteuid() == 0:
        where = tmp_path / "theirs"
        where.mkdir()
        os.chown(where, 65534, 65534)
        return where
    if os.stat("/").st_uid == os.geteuid():
        pytest.skip("no directory owned by another user")
    return Path("/")


@posix_only
def test_a_cache_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    theirs = _foreign_dir(tmp_path)
    with pytest.raises(EnvBuildError) as info:
        cache.ensure_cache_dir(theirs)
    (line,) = str(info.value).splitlines()
    assert line.startswith(f"{theirs}: the environment cache belongs to another user (")
    assert "use a cache of your own with --ws-cache-dir" in line


@posix_only
@pytest.mark.slow
@pytest.mark.skipif(os.name == "posix" and os.geteuid() != 0, reason="needs chown")
def test_reusing_from_another_users_cache_is_refused(
    make_workspace: MakeWorkspace, uv_bin: str, wheelhouse: Path, tmp_path: Path
) -> None:
    engine = Engine(make_workspace(FILES), tmp_path / "cache", wheelhouse)
    engine.ensure()
    os.chown(engine.cache_dir, 65534, 65534)
    with pytest.raises(EnvBuildError, match="belongs to another user"):
        engine.ensure()  # even though the env is there and would be reused
