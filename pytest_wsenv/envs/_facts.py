"""What an interpreter is, learned once: implementation, version, ABI, platform, markers.

One subprocess per executable, remembered in-process and on disk (keyed by the
executable's real path, size and mtime), so later sessions start no interpreter.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import threading
from pathlib import Path
from typing import Any

__all__ = ["QueryError", "facts_of", "forget_facts", "running_facts"]

#: Bumped whenever the facts script or the cached record changes shape.
_FACTS_FORMAT = 1

#: Defines ``facts()``: stdlib only. Run in a candidate interpreter (``-I -S``, followed
#: by a line printing the result as JSON) and executed as is for the running one, so both
#: answers come from the same code.
_FACTS_SOURCE = r"""
import json, os, platform, sys, sysconfig
def fmt(info):
    v = "%d.%d.%d" % (info.major, info.minor, info.micro)
    if info.releaselevel != "final":
        v += info.releaselevel[0] + str(info.serial)
    return v
def facts():
    impl = sys.implementation.name
    if impl == "cpython":
        abi = "cp%d%d" % sys.version_info[:2]
        if sysconfig.get_config_var("Py_GIL_DISABLED"):
            abi += "t"
        if sysconfig.get_config_var("Py_DEBUG"):
            abi += "d"
    else:
        abi = (sys.implementation.cache_tag or impl).replace("-", "_").replace(".", "_")
    markers = {
        "implementation_name": impl,
        "implementation_version": fmt(sys.implementation.version),
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "platform_python_implementation": platform.python_implementation(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    }
    return {
        "executable": sys.executable,
        "implementation": impl,
        "version": platform.python_version(),
        "abi": abi,
        "platform": sysconfig.get_platform(),
        "markers": markers,
    }
"""

_FACTS_SCRIPT = _FACTS_SOURCE + "print(json.dumps(facts()))\n"


class QueryError(Exception):
    """The executable did not report its facts (``str()`` says why)."""


_MEMO_LOCK = threading.Lock()
#: (realpath, size, mtime_ns) -> facts learned earlier in this process
_FACTS: dict[tuple[str, int, int], dict[str, Any]] = {}


def facts_of(path: Path, cache_dir: Path | None, *, memo: bool = True) -> dict[str, Any]:
    """Facts of the executable ``path``: from the in-process memo, the disk record in
    ``cache_dir``, or one subprocess (then remembered in both). ``memo=False`` always
    asks the executable (a pyenv shim, whose target depends on the directory)."""
    try:
        st = path.stat()
    except OSError as exc:
        raise QueryError(str(exc)) from exc
    memo_key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
    found: dict[str, Any] | None = None
    if memo:
        with _MEMO_LOCK:
            found = _FACTS.get(memo_key)
        if found is None and cache_dir is not None:
            found = _read_disk(cache_dir, path, memo_key)
    if found is None:
        found = _query(path)
        if memo and cache_dir is not None:
            _write_disk(cache_dir, path, memo_key, found)
    if memo:
        with _MEMO_LOCK:
            _FACTS[memo_key] = found
    return found


def forget_facts() -> None:
    with _MEMO_LOCK:
        _FACTS.clear()


def running_facts() -> dict[str, Any]:
    """The facts of the running interpreter, without a subprocess."""
    namespace: dict[str, Any] = {}
    exec(compile(_FACTS_SOURCE, "<wsenv facts>", "exec"), namespace)
    return dict(namespace["facts"]())


def _query(path: Path) -> dict[str, Any]:
    try:
        proc = subprocess.run(
            [str(path), "-I", "-S", "-c", _FACTS_SCRIPT],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise QueryError(str(exc)) from exc
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise QueryError(f"exit {proc.returncode}: {tail}")
    try:
        facts = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError) as exc:
        raise QueryError("unreadable answer") from exc
    if not _valid_facts(facts):
        raise QueryError("incomplete answer")
    return dict(facts)


def _valid_facts(facts: object) -> bool:
    if not isinstance(facts, dict):
        return False
    names = ("executable", "implementation", "version", "abi", "platform")
    return all(isinstance(facts.get(n), str) for n in names) and isinstance(
        facts.get("markers"), dict
    )


def _disk_path(cache_dir: Path, path: Path) -> Path:
    digest = hashlib.sha256(os.fsencode(os.path.abspath(path))).hexdigest()[:24]
    return cache_dir / "interpreters" / f"{digest}.json"


def _read_disk(
    cache_dir: Path, path: Path, memo_key: tuple[str, int, int]
) -> dict[str, Any] | None:
    try:
        record = json.loads(_disk_path(cache_dir, path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("format") != _FACTS_FORMAT:
        return None
    if record.get("key") != [*memo_key] or not _valid_facts(record.get("facts")):
        return None
    facts: dict[str, Any] = record["facts"]
    return facts


def _write_disk(
    cache_dir: Path, path: Path, memo_key: tuple[str, int, int], facts: dict[str, Any]
) -> None:
    dest = _disk_path(cache_dir, path)
    record = {"format": _FACTS_FORMAT, "path": str(path), "key": [*memo_key], "facts": facts}
    # imported here: the backends package imports interpreters, which imports this module
    from .backends._private import make_dirs, write_file

    with contextlib.suppress(OSError):  # a read-only cache costs the next session a subprocess
        make_dirs(dest.parent)
        write_file(dest, json.dumps(record, sort_keys=True))
