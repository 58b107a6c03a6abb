"""An installer's version, remembered on disk per binary.

Every environment key names the installer's version, so each session needs it; asking
``uv --version`` costs a process (about 10 ms) that would be most of the parent's own
share of a cold build. The answer is kept in ``<cache>/tools/<digest>.json``, keyed on
the binary's real path, size and modification time: an upgraded or replaced binary is
asked again, a read-only or missing cache only costs the process.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

from ._private import make_dirs, write_file

__all__ = ["remembered_version"]

_FORMAT = 1


def remembered_version(binary: str, cache_dir: Path | None, ask: Callable[[], str]) -> str:
    """The version of ``binary``: from ``cache_dir`` when recorded for this very file,
    else ``ask()`` (then recorded)."""
    try:
        real = os.path.realpath(binary)
        st = os.stat(real)
    except OSError:
        return ask()  # ask() says why the binary cannot run
    key = [real, st.st_size, st.st_mtime_ns]
    if cache_dir is None:
        return ask()
    record_path = cache_dir / "tools" / f"{hashlib.sha256(os.fsencode(real)).hexdigest()[:24]}.json"
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = None
    if (
        isinstance(record, dict)
        and record.get("format") == _FORMAT
        and record.get("key") == key
        and isinstance(record.get("version"), str)
    ):
        version: str = record["version"]
        return version
    version = ask()
    with contextlib.suppress(OSError):
        make_dirs(record_path.parent)
        write_file(record_path, json.dumps({"format": _FORMAT, "key": key, "version": version}))
    return version
