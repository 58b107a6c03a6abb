"""Create an empty virtual environment in-process with virtualenv's Python API.

Both backends create environments this way: with virtualenv's interpreter facts cached
in its app-data directory, creation starts no process at all (a few milliseconds),
where ``uv venv`` costs a process start. No seed packages (pip, setuptools, wheel) and
no activation scripts are installed: an environment holds exactly its plan. virtualenv
adds its ``_virtualenv.pth``/``_virtualenv.py`` distutils shim to ``site-packages``
(a module, not a distribution: ``importlib.metadata`` does not list it).
"""

from __future__ import annotations

import threading
from pathlib import Path

from ...errors import EnvBuildError
from ..interpreters import Interpreter
from ._process import installer_env
from .base import Log
from .venv import env_python

__all__ = ["create_virtualenv"]

#: virtualenv's session is not documented as thread-safe; creation is fast, so serialize.
_LOCK = threading.Lock()


def create_virtualenv(interpreter: Interpreter, dest: Path, log: Log) -> Path:
    """Create an empty environment for ``interpreter`` at ``dest``; return its python."""
    args = [
        str(dest),
        "--python",
        str(interpreter.executable),
        "--no-seed",
        "--no-download",
        "--no-periodic-update",
        "--activators",
        "",
    ]
    log(f"virtualenv {' '.join(args)}")
    import virtualenv  # only when building: a warm session never pays for importing it

    try:
        with _LOCK:
            session = virtualenv.cli_run(args, setup_logging=False, env=installer_env())
    except (RuntimeError, OSError, SystemExit) as exc:
        raise EnvBuildError(
            f"virtualenv failed: {str(exc).strip() or type(exc).__name__}", path=dest
        ) from exc
    python = env_python(dest)
    return python if python.exists() else Path(session.creator.exe)
