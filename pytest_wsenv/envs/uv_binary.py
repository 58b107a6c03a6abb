"""Where the uv binary is: on PATH, else inside the ``uv`` Python package.

A leaf module: the interpreter finder and the uv backend both ask it, and it imports
neither.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable

__all__ = ["find_uv"]


def find_uv() -> str | None:
    """The uv binary: ``uv`` on PATH, else the one shipped by the ``uv`` Python package."""
    found = shutil.which("uv")
    if found:
        return found
    try:
        from uv import find_uv_bin
    except ImportError:
        return None
    return _packaged_uv(find_uv_bin)


@functools.cache
def _packaged_uv(find_uv_bin: Callable[[], object]) -> str | None:
    """The ``uv`` package's binary, asked once per process: it does not move while the
    process runs, and the search (several sysconfig schemes) costs a third of a
    millisecond."""
    try:
        return str(find_uv_bin())
    except FileNotFoundError:
        return None
