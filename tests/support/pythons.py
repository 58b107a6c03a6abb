"""Interpreters beyond the one running the tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = ["second_python"]


def second_python() -> str | None:
    """``X.Y`` of a CPython 3.12 or 3.13 found on PATH or in pyenv, or None."""
    for version in ("3.12", "3.13"):
        if shutil.which(f"python{version}") or any(
            Path(os.path.expanduser("~/.pyenv/versions")).glob(f"{version}.*/bin/python{version}")
        ):
            return version
    return None
