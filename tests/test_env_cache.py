"""The env cache on disk: location, manifests, reuse checks, atomic publish, list/prune."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import venv
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from pytest_wsenv.envs import cache
from pytest_wsenv.envs.cache import (
    CACHEDIR_TAG,
    LAST_USED,
    MANIFEST,
    Manifest,
    check,
    ensure_cache_dir,
    list_envs,
    new_temp_dir,
    prune,
    publish,
    read_manifest,
    resolve_cache_dir,
)


def test_resolve_cache_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "ws"
    monkeypatch.chdir(tmp_path)
    assert resolve_cache_dir(root, None, None, {}) == root / ".wsenv"
    assert resolve_cache_dir(root, None, [], {}) == root / ".wsenv"
    assert resolve_cache_dir(root, None, [tmp_path / "ini"], {}) == tmp_path / "ini"
    env = {"PYTEST_WSENV_CACHE_DIR": "from-env"}
    assert resolve_cache_dir(root, None, [tmp_path / "ini"], env) == tmp_path / "from-env"
    assert resolve_cache_dir(root, "opt", [tmp_path / "ini"], env) == tmp_path / "opt"


def test_cache_dir_is_tagged_and_ignored(tmp_path: Path) -> None:
    where = ensure_cache_dir(tmp_path / "c")
    tag = (where / "CACHEDIR.TAG").read_text()
    assert tag == CACHEDIR_TAG
    assert tag.startswith("Signature: 8a477f597d28d172789f06886806bc55")
    assert (where / ".gitignore").read_text() == "*\n"
    ensure_cache_dir(where)  # idempotent


def _build(cache_dir: Path, name: str, key: str, *, script: bool = True) -> Manifest:
    """Publish a real (stdlib venv) environment the way the manager does."""
    ensure_cache_dir(cache_dir)
    tmp = new_temp_dir(cache_dir, name)
    venv.create(tmp, with_pip=False, symlinks=os.name != "nt")
    bin_dir = tmp / ("Scripts" if os.name == "nt" else "bin")
    if script:
        tool = bin_dir / "tool"
        tool.write_text(f"#!{bin_dir / 'python'}\nprint('hi')\n")
        tool.chmod(0o755)
    python = bin_dir / "python"
    return publish(cache_dir, name, tmp, _record(name, key), python=python, bin_dir=bin_dir)


def _record(name: str, key: str) -> dict[str, Any]:
    """What the manager passes to ``publish`` for env ``name`` with ``key``."""
    return {
        "key": key,
        "kind": "target",
        "label": name.split("-py", maxsplit=1)[0],
        "inputs": {"format": 1, "pins": {}},
        "interpreter": sys.executable,
        "build": {
            "backend": "uv",
            "backend_version": "uv 0",
            "seconds": 0.1,
            "packages": 0,
            "layers": ["lock"],
        },
    }


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, Manifest]:
    cache_dir = tmp_path / "cache"
    return cache_dir, _build(cache_dir, "m-py3.11-aaaa", "aaaa")


def test_publish_is_complete_and_relocated(built: tuple[Path, Manifest]) -> None:
    cache_dir, manifest = built
    env = cache_dir / "m-py3.11-aaaa"
    assert manifest.path == env
    assert not list(cache_dir.glob(".m-py3.11-aaaa.tmp-*"))
    assert (env / MANIFEST).is_file()
    assert not (env / LAST_USED).exists()  # made at the first reuse
    assert manifest.last_used == manifest.created
    # the script built in the temp dir now runs with the final env's python
    assert (env / "bin" / "tool").read_text().startswith(f"#!{env / 'bin' / 'python'}\n")
    out = subprocess.run([str(env / "bin" / "tool")], capture_output=True, text=True, check=True)
    assert out.stdout == "hi\n"
    assert "tmp-" not in (env / "bin" / "activate").read_text()
    assert isinstance(check(cache_dir, manifest.name, "aaaa"), Manifest)


def test_reuse_check_touches_last_used(built: tuple[Path, Manifest]) -> None:
    cache_dir, manifest = built
    marker = manifest.path / LAST_USED
    assert isinstance(check(cache_dir, manifest.name, manifest.key), Manifest)
    assert marker.is_file()  # the first reuse makes it
    os.utime(marker, (1_000_000, 1_000_000))
    assert isinstance(check(cache_dir, manifest.name, manifest.key), Manifest)
    assert marker.stat().st_mtime > time.time() - 60


def test_missing_env_and_other_key(built: tuple[Path, Manifest]) -> None:
    cache_dir, manifest = built
    assert check(cache_dir, "nothing-here", "k") == "not built yet"
    assert "another key" in str(check(cache_dir, manifest.name, "bbbb"))


def test_truncated_manifest_is_never_used(built: tuple[Path, Manifest]) -> None:
    cache_dir, manifest = built
    path = manifest.path / MANIFEST
    path.write_text(path.read_text()[:40])
    assert check(cache_dir, manifest.name, manifest.key) == ("its manifest is corrupt or truncated")
    path.write_text(json.dumps({"format": 1, "name": manifest.name}))
    assert check(cache_dir, manifest.name, manifest.key) == "its manifest records another key"
    partial = {"format": 1, "name": manifest.name, "key": manifest.key, "path": str(manifest.path)}
    path.write_text(json.dumps(partial))
    assert "incomplete" in str(check(cache_dir, manifest.name, manifest.key))
    with pytest.raises(cache.InvalidManifest, match="incomplete"):
        read_manifest(manifest.path)
    path.unlink()
    assert "no manifest" in str(check(cache_dir, manifest.name, manifest.key))


def test_vanished_interpreter_is_detected(built: tuple[Path, Manifest]) -> None:
    cache_dir, manifest = built
    raw = json.loads((manifest.path / MANIFEST).read_text())
    raw["interpreter"] = str(manifest.path.parent / "deleted-python")
    (manifest.path / MANIFEST).write_text(json.dumps(raw))
    assert "deleted-python is gone" in str(check(cache_dir, manifest.name, manifest.key))


def test_hand_installed_package_is_detected(built: tuple[Path, Manifest]) -> None:
    cache_dir, manifest = built
    (manifest.site_packages / "sneaky-1.0.dist-info").mkdir()
    reason = check(cache_dir, manifest.name, manifest.key)
    assert reason == "site-packages changed since it was built (+sneaky-1.0.dist-info)"
    (manifest.site_packages / "sneaky-1.0.dist-info").rmdir()
    # bytecode caches appearing at run time are not a change
    (manifest.site_packages / "__pycache__").mkdir()
    assert isinstance(check(cache_dir, manifest.name, manifest.key), Manifest)


def test_moved_cache_is_not_reused(built: tuple[Path, Manifest], tmp_path: Path) -> None:
    cache_dir, manifest = built
    moved = tmp_path / "moved"
    cache_dir.rename(moved)
    assert "not relocatable" in str(check(moved, manifest.name, manifest.key))


def test_republish_replaces_an_unusable_env(built: tuple[Path, Manifest]) -> None:
    cache_dir, manifest = built
    (manifest.path / MANIFEST).write_text("{")
    again = _build(cache_dir, manifest.name, manifest.key)
    assert again.created >= manifest.created
    assert isinstance(check(cache_dir, manifest.name, manifest.key), Manifest)
    assert not [p for p in cache_dir.iterdir() if ".del-" in p.name or ".tmp-" in p.name]


def test_build_lock_says_it_waits_once(tmp_path: Path) -> None:
    ensure_cache_dir(tmp_path)
    holder = FileLock(str(tmp_path / "m.lock"), thread_local=False)
    holder.acquire()
    lines: list[str] = []
    entered = threading.Event()

    def waiter() -> None:
        with cache.build_lock(tmp_path, "m", lines.append):
            entered.set()

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.3)
    assert not entered.is_set()
    holder.release()
    thread.join(10)
    assert entered.is_set()
    assert lines == ["waiting for another process building m"]


def test_list_and_prune(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    keep = _build(cache_dir, "keep-py3.11-aaaa", "aaaa", script=False)
    old = _build(cache_dir, "old-py3.11-bbbb", "bbbb", script=False)
    broken = cache_dir / "broken-py3.11-cccc"
    broken.mkdir()
    dead_tmp = cache_dir / ".gone-py3.11-dddd.tmp-123456"
    dead_tmp.mkdir()
    busy_tmp = cache_dir / ".busy-py3.11-eeee.tmp-123456"
    busy_tmp.mkdir()
    listed = {e.name: e for e in list_envs(cache_dir)}
    assert set(listed) == {keep.name, old.name, broken.name}
    assert listed[broken.name].manifest is None
    assert "no manifest" in str(listed[broken.name].problem)
    assert listed[keep.name].size() > 0

    busy = FileLock(str(cache_dir / "busy-py3.11-eeee.lock"), thread_local=False)
    with busy:
        would = prune(cache_dir, {"aaaa"}, dry_run=True)
        assert set(would) == {old.path, broken, dead_tmp}
        assert old.path.exists() and dead_tmp.exists()
        removed = prune(cache_dir, {"aaaa"})
        assert set(removed) == {old.path, broken, dead_tmp}
    assert keep.path.exists() and busy_tmp.exists()
    assert not old.path.exists() and not broken.exists() and not dead_tmp.exists()
    assert read_manifest(keep.path).key == "aaaa"
    assert set(prune(cache_dir, {"aaaa"}, all=True)) == {keep.path, busy_tmp}
    assert [e.name for e in list_envs(cache_dir)] == []
    assert (cache_dir / "CACHEDIR.TAG").exists()


@pytest.mark.skipif(os.name == "nt", reason="builds through a link on POSIX only")
def test_building_at_the_final_path_through_a_link(tmp_path: Path) -> None:
    """build_path links the final path to the temp dir while nothing is there; the
    link is never a ready env, a failed build removes it, prune removes a killed one's."""
    cache_dir = ensure_cache_dir(tmp_path / "cache")
    name = "m-py3.11-aaaa"
    tmp = new_temp_dir(cache_dir, name)
    final = cache.build_path(cache_dir, name, tmp)
    assert final == cache_dir / name and final.is_symlink() and final.resolve() == tmp
    assert [(e.name, e.problem) for e in list_envs(cache_dir)] == [(name, cache._UNFINISHED)]
    cache.abandon(cache_dir, name, tmp)
    assert not os.path.lexists(final) and not tmp.exists()

    tmp = new_temp_dir(cache_dir, name)
    cache.build_path(cache_dir, name, tmp)
    (tmp / "pyvenv.cfg").write_text("home = /nowhere\n")
    assert sorted(map(str, prune(cache_dir, set()))) == sorted([str(final), str(tmp)])
    assert not os.path.lexists(final) and not tmp.exists()

    tmp = new_temp_dir(cache_dir, name)
    cache.build_path(cache_dir, name, tmp)
    again = new_temp_dir(cache_dir, name)  # a killed build's link and dir are cleared
    assert not os.path.lexists(final) and not tmp.exists()

    ready = _build(cache_dir, name, "aaaa")  # a rebuild keeps the old env until published
    assert cache.build_path(cache_dir, name, again) == again
    assert isinstance(check(cache_dir, name, "aaaa"), Manifest) and ready.path == final


@pytest.mark.skipif(os.name == "nt", reason="builds through a link on POSIX only")
def test_an_installer_that_resolved_the_link_is_still_relocated(tmp_path: Path) -> None:
    """Built 'at the final path', but the installer wrote the temp path (as a uv that
    resolves links would): publish notices it in bin/activate and rewrites the scripts."""
    cache_dir = ensure_cache_dir(tmp_path / "cache")
    name = "m-py3.11-aaaa"
    tmp = new_temp_dir(cache_dir, name)
    final = cache.build_path(cache_dir, name, tmp)
    venv.create(tmp, with_pip=False, symlinks=True)  # writes tmp's own path
    tool = tmp / "bin" / "tool"
    tool.write_text(f"#!{tmp / 'bin' / 'python'}\nprint('hi')\n")
    tool.chmod(0o755)
    assert tmp.name in (tmp / "bin" / "activate").read_text()
    python = final / "bin" / "python"
    record = _record(name, "aaaa")
    manifest = publish(
        cache_dir, name, tmp, record, python=python, bin_dir=python.parent, built_at=final
    )
    assert not manifest.path.is_symlink()
    assert tmp.name not in (final / "bin" / "activate").read_text()
    tool_out = subprocess.run(
        [str(final / "bin" / "tool")], capture_output=True, text=True, check=False
    )
    assert tool_out.stdout == "hi\n", tool_out.stderr
    assert isinstance(check(cache_dir, name, "aaaa"), Manifest)


def test_prune_keeps_layers_that_a_kept_env_reads(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    layer = _build(cache_dir, "_with-py3.11-ffff", "ffff", script=False)
    user = _build(cache_dir, "m-py3.11-aaaa", "aaaa", script=False)
    raw = json.loads((user.path / MANIFEST).read_text())
    raw["build"]["attached"] = [layer.name]
    (user.path / MANIFEST).write_text(json.dumps(raw))
    assert prune(cache_dir, {"aaaa"}) == []
    assert isinstance(check(cache_dir, user.name, "aaaa"), Manifest)
    cache._remove_tree(layer.path)
    assert "layer environment _with-py3.11-ffff is gone" in str(check(cache_dir, user.name, "aaaa"))


@pytest.mark.parametrize(
    "mangle",
    [
        lambda raw: raw.update(python=7),
        lambda raw: raw.update(interpreter=None),
        lambda raw: raw.update(site_packages="lib"),
        lambda raw: raw["site_packages"].update(entries=None),
        lambda raw: raw["build"].update(attached="nope"),
        lambda raw: raw["build"].update(packages="many"),
        lambda raw: raw.update(inputs=[]),
        lambda raw: raw.pop("build"),
        lambda raw: raw.update(format=99),
    ],
)
def test_any_malformed_manifest_means_rebuild_never_a_crash(
    built: tuple[Path, Manifest], mangle: Any
) -> None:
    cache_dir, manifest = built
    path = manifest.path / MANIFEST
    raw = json.loads(path.read_text())
    mangle(raw)
    path.write_text(json.dumps(raw))
    assert isinstance(check(cache_dir, manifest.name, manifest.key), str)
    assert [e.manifest for e in list_envs(cache_dir)] == [None]
