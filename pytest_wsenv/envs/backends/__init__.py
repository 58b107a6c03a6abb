"""Installers that create a virtual environment and install exactly a plan into it.

:func:`select_backend` picks one: ``uv`` (fast, the default when the ``uv`` binary is
found) or ``pip`` (virtualenv + pip, always available).
"""

from __future__ import annotations

from pathlib import Path

from ...errors import ConfigError
from ..uv_binary import find_uv
from ._faults import fault_error, fault_in_output
from ._groups import end_recorded as end_installer_group
from ._groups import recording as recording_installers
from ._private import permissive_umask, restrict_tree
from .base import (
    Backend,
    BackendChoice,
    BackendName,
    IndexSettings,
    InstallPlan,
    Log,
    SyncRequest,
)
from .pip import PipBackend
from .uv import UvBackend

__all__ = [
    "Backend",
    "BackendChoice",
    "BackendName",
    "IndexSettings",
    "InstallPlan",
    "Log",
    "PipBackend",
    "SyncRequest",
    "UvBackend",
    "end_installer_group",
    "fault_error",
    "fault_in_output",
    "find_uv",
    "permissive_umask",
    "recording_installers",
    "restrict_tree",
    "select_backend",
]


def select_backend(name: BackendChoice, cache_dir: Path | None = None) -> Backend:
    """The backend called ``name``; ``auto`` is uv when it is found, else pip.
    ``cache_dir`` is where the uv backend remembers uv's version.

    ConfigError when ``uv`` is asked for and not found, saying how to install it.
    """
    if name == "pip":
        return PipBackend()
    uv = find_uv()
    if uv is not None:
        return UvBackend(uv, cache_dir)
    if name == "auto":
        return PipBackend()
    if name != "uv":
        raise ConfigError(f"unknown installer backend {name!r}; choose auto, uv or pip")
    raise ConfigError(
        "the uv backend was requested but no uv binary was found on PATH or in the "
        "`uv` Python package; install it with `pip install pytest-wsenv[uv]` "
        "(or choose the pip backend)"
    )
