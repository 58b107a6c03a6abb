"""What every backend offers, and the plain data it is given.

CONTRACT (the environment engine codes against this; backends implement it).
A backend knows nothing about workspaces, locks or caching: it gets an interpreter, a
directory and an :class:`InstallPlan`, and either succeeds or raises
:class:`~pytest_wsenv.errors.EnvBuildError` with the tail of its log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from ..interpreters import Interpreter

__all__ = [
    "Backend",
    "BackendChoice",
    "BackendName",
    "IndexSettings",
    "InstallPlan",
    "Log",
    "SyncRequest",
    "index_flags",
]

BackendName = Literal["uv", "pip"]
#: What a user may ask for: a backend by name, or ``auto`` (uv when found, else pip).
BackendChoice = Literal["auto", "uv", "pip"]

#: Progress/diagnostic sink: one line of text at a time (shown with -v).
Log = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class IndexSettings:
    """Where packages come from: the workspace's ``[tool.uv]`` index settings."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False
    offline: bool = False


@dataclass(frozen=True, slots=True)
class InstallPlan:
    """Exactly what to install, without dependency resolution (``--no-deps``).

    ``requirements`` are requirement-file lines for third-party pins: ``name==version``
    (optionally followed by ``--hash=sha256:...`` options), a local wheel/sdist path, or
    ``name @ url``. ``editables`` are project directories installed editable (workspace
    members). ``require_hashes`` is true when every requirement line carries hashes.
    ``origin`` names where the plan comes from (``"uv.lock"``, ``"--ws-with"``); error
    messages quote it next to a package that cannot be installed.
    """

    requirements: tuple[str, ...] = ()
    editables: tuple[Path, ...] = ()
    index: IndexSettings = field(default_factory=IndexSettings)
    require_hashes: bool = False
    origin: str = ""

    def __len__(self) -> int:
        return len(self.requirements) + len(self.editables)


@dataclass(frozen=True, slots=True)
class SyncRequest:
    """A locked target, for an installer that installs it from the lock itself.

    ``project`` is the workspace root (where ``uv.lock`` is); ``flags`` select what to
    install with the flags ``uv sync`` and ``uv export`` share (``--package``,
    ``--extra``, ``--group``, ``--no-default-groups``, ``--no-install-package``...).
    ``plan`` is the same target as an :class:`InstallPlan`: what the result must hold,
    and what a failure message names (e.g. a package with no local copy when offline).
    """

    project: Path
    flags: tuple[str, ...]
    plan: InstallPlan


class Backend(Protocol):
    """One installer (uv or pip+virtualenv)."""

    name: BackendName

    def version(self) -> str:
        """The installer's version (part of every env key)."""
        ...

    def create(self, interpreter: Interpreter, dest: Path, log: Log) -> Path:
        """Create an empty virtual environment at ``dest``; return its python executable."""
        ...

    def install(self, python: Path, plan: InstallPlan, log: Log) -> None:
        """Install ``plan`` into the environment of ``python`` without resolving deps."""
        ...

    def resolve(
        self, interpreter: Interpreter, requirements: tuple[str, ...], index: IndexSettings
    ) -> tuple[str, ...]:
        """Resolve ``requirements`` (with dependencies) for ``interpreter`` into exact
        ``name==version`` pins, without installing (used without a lock and for layers)."""
        ...


def index_flags(index: IndexSettings) -> list[str]:
    """uv (and pip) command-line flags for ``index``."""
    flags: list[str] = []
    if index.index_url is not None:
        flags += ["--index-url", index.index_url]
    for url in index.extra_index_urls:
        flags += ["--extra-index-url", url]
    for link in index.find_links:
        flags += ["--find-links", link]
    if index.no_index:
        flags.append("--no-index")
    return flags
