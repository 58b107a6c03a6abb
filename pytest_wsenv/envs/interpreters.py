"""Find CPython interpreters: PATH, pyenv, ``uv python find``, virtualenv discovery.

CONTRACT (implemented by the environment work item; other modules rely on exactly this).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..target import MarkerEnv

__all__ = ["Interpreter", "find_interpreter", "marker_env_for"]


@dataclass(frozen=True, slots=True)
class Interpreter:
    """A real interpreter on this machine, with the facts that decide an env's contents."""

    executable: Path  # absolute
    implementation: str  # "cpython"
    version: str  # full, e.g. "3.12.1"
    abi: str  # e.g. "cp312"
    platform: str  # sysconfig.get_platform(), e.g. "linux-x86_64"
    marker_env: MarkerEnv

    @property
    def short_version(self) -> str:
        """``X.Y``."""
        return ".".join(self.version.split(".")[:2])


def find_interpreter(request: str | None) -> Interpreter:
    """``None`` = the running interpreter; ``"3.12"``/``"3.12.1"`` = that CPython found on
    PATH (``python3.12``), in pyenv, via ``uv python find``, via virtualenv's discovery;
    a path = that executable. InterpreterNotFoundError lists every place it looked."""
    raise NotImplementedError


def marker_env_for(request: str | None) -> MarkerEnv:
    """Marker environment for ``request``: the real interpreter's when one is found, else
    (for a bare ``X.Y[.Z]`` version only) :meth:`MarkerEnv.for_version` on this platform."""
    raise NotImplementedError
