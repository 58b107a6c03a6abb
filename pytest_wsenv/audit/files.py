"""Which files of a member the audit reads, and which import names the member provides.

One walk of the member directory gives everything (:class:`MemberLayout`):

- *source files*: the ``.py`` files of the member's own packages (``src/<pkg>/`` when there
  is a ``src`` directory, else top-level directories with an ``__init__.py`` and top-level
  modules);
- *test files*: ``test_*.py``, ``*_test.py``, ``conftest.py`` and everything below a
  directory called ``tests``, ``test`` or ``testing``;
- *local names*: the modules and packages importable from the directories pytest and the
  member put on ``sys.path`` (the member directory, ``src/``, and the first directory
  without ``__init__.py`` above each test file), so test helpers (``import helpers``,
  ``from tests.support import x``) are never taken for third-party imports;
- *package prefixes*: the dotted names the member's packages are imported as; for a
  namespace package (no ``__init__.py``, e.g. ``src/opentelemetry/sdk/``) the first level
  that is a regular package, so members sharing a namespace are told apart.

Other files (``docs/conf.py``, scripts, examples) are not scanned. Hidden directories,
virtual environments, ``.wsenv``, ``build``/``dist``, ``node_modules``, ``__pycache__``
and the directories of other (nested) members are skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..workspace import Member, Workspace

__all__ = [
    "MemberLayout",
    "is_test_path",
    "local_packages",
    "member_layout",
    "package_prefixes",
    "skip_dir",
]

_SKIP_DIRS = frozenset(
    {"__pycache__", "node_modules", "site-packages", "build", "dist", "venv", "env"}
)
_TEST_DIRS = frozenset({"tests", "test", "testing"})
_NOT_PACKAGES = frozenset({"docs", "doc", "examples", "example", "scripts", "benchmarks", "bench"})
_NOT_MODULES = frozenset({"setup", "conftest", "noxfile", "fabfile", "tasks", "manage"})
#: How deep a namespace package is followed to find the member's own package.
_NAMESPACE_DEPTH = 4


@dataclass(frozen=True, slots=True)
class MemberLayout:
    """The files and import names of one member (paths absolute)."""

    member: str
    source_files: tuple[Path, ...]
    test_files: tuple[Path, ...]
    local_names: frozenset[str]  # top-level names of helpers, not the member's own packages
    package_prefixes: frozenset[str]  # dotted names, e.g. "bird_feeder", "opentelemetry.sdk"

    @property
    def files(self) -> tuple[Path, ...]:
        return (*self.source_files, *self.test_files)


def is_test_path(relative: Path) -> bool:
    """Whether a path relative to its member is test code."""
    name = relative.name
    if name == "conftest.py" or name.startswith("test_") or name.endswith("_test.py"):
        return True
    return any(part in _TEST_DIRS for part in relative.parts[:-1])


def skip_dir(name: str) -> bool:
    """Whether a directory is never source: hidden, an environment, build output."""
    return name.startswith(".") or name in _SKIP_DIRS or name.endswith(".egg-info")


def _walk(top: Path, blocked: frozenset[Path]) -> Iterable[tuple[Path, list[str], list[str]]]:
    for dirpath, dirnames, filenames in os.walk(top):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not skip_dir(d) and (here / d) not in blocked)
        if (here / "pyvenv.cfg").is_file():  # a virtual environment under any name
            dirnames[:] = []
            continue
        yield here, dirnames, sorted(filenames)


def _namespace_prefixes(directory: Path, dotted: str, depth: int) -> set[str]:
    """Dotted names under a directory without ``__init__.py`` (a namespace package)."""
    if (directory / "__init__.py").is_file() or depth >= _NAMESPACE_DEPTH:
        return {dotted}
    found: set[str] = set()
    try:
        entries = sorted(directory.iterdir())
    except OSError:
        return found
    for entry in entries:
        if entry.is_dir() and not skip_dir(entry.name) and entry.name.isidentifier():
            found |= _namespace_prefixes(entry, f"{dotted}.{entry.name}", depth + 1)
        elif entry.suffix == ".py" and entry.stem.isidentifier() and entry.stem != "__init__":
            found.add(f"{dotted}.{entry.stem}")
    return found


def _package_roots(member: Member) -> tuple[list[Path], set[str]]:
    """(package directories and top-level module files, their dotted import prefixes)."""
    roots: list[Path] = []
    prefixes: set[str] = set()
    base = member.path / "src" if (member.path / "src").is_dir() else member.path
    in_src = base != member.path
    try:
        entries = sorted(base.iterdir())
    except OSError:
        return roots, prefixes
    for entry in entries:
        name = entry.name
        if entry.is_dir():
            if skip_dir(name) or not name.isidentifier() or name in _TEST_DIRS:
                continue
            if not in_src and (name in _NOT_PACKAGES or not (entry / "__init__.py").is_file()):
                continue
            if in_src and not any(entry.rglob("*.py")):
                continue
            roots.append(entry)
            prefixes |= _namespace_prefixes(entry, name, 1)
        elif entry.suffix == ".py" and entry.stem.isidentifier():
            stem = entry.stem
            if stem in _NOT_MODULES or is_test_path(Path(name)):
                continue
            roots.append(entry)
            prefixes.add(stem)
    return roots, prefixes


def package_prefixes(member: Member) -> frozenset[str]:
    """The dotted names ``member``'s own packages are imported as (no full walk)."""
    return frozenset(_package_roots(member)[1])


def _names_in(directory: Path) -> set[str]:
    """Modules and packages importable when ``directory`` is on ``sys.path``."""
    names: set[str] = set()
    try:
        entries = list(directory.iterdir())
    except OSError:
        return names
    for entry in entries:
        if entry.suffix == ".py" and entry.is_file():
            names.add(entry.stem)
        elif entry.is_dir() and not skip_dir(entry.name) and any(entry.glob("*.py")):
            names.add(entry.name)
    return names


def _import_root(path: Path, stop: Path) -> Path:
    """The directory pytest's ``prepend`` import mode puts on ``sys.path`` for a test file:
    the first one upwards without ``__init__.py`` (not above the member)."""
    directory = path.parent
    while (directory / "__init__.py").is_file() and directory != stop:
        directory = directory.parent
    return directory


def member_layout(workspace: Workspace, member: Member) -> MemberLayout:
    """Walk ``member``'s directory once (other members' directories excluded)."""
    blocked = frozenset(
        m.path
        for m in workspace.members.values()
        if m.name != member.name and m.path != member.path
    )
    roots, prefixes = _package_roots(member)
    source_dirs = [r for r in roots if r.is_dir()]
    source_modules = {r for r in roots if r.is_file()}
    sources: list[Path] = []
    tests: list[Path] = []
    path_dirs = {member.path, member.path / "src"}
    for here, _dirnames, filenames in _walk(member.path, blocked):
        for filename in filenames:
            if not filename.endswith(".py"):
                continue
            path = here / filename
            if is_test_path(path.relative_to(member.path)):
                tests.append(path)
                path_dirs.add(_import_root(path, member.path))
            elif path in source_modules or any(d in path.parents for d in source_dirs):
                sources.append(path)
    local: set[str] = set()
    for directory in path_dirs:
        local |= _names_in(directory)
    local -= {p.partition(".")[0] for p in prefixes}
    local.discard("__init__")
    return MemberLayout(
        member=member.name,
        source_files=tuple(sources),
        test_files=tuple(tests),
        local_names=frozenset(n for n in local if n.isidentifier()),
        package_prefixes=frozenset(prefixes),
    )


def local_packages(directory: Path, top: str, *, depth: int = 4) -> list[Path]:
    """Directories named ``top`` with an ``__init__.py`` under ``directory`` (environments,
    hidden and build directories skipped)."""
    found: list[Path] = []
    start = len(directory.parts)
    for dirpath, dirnames, _files in os.walk(directory):
        here = Path(dirpath)
        if (here / "pyvenv.cfg").is_file() or len(here.parts) - start >= depth:
            dirnames[:] = []
            continue
        dirnames[:] = sorted(d for d in dirnames if not skip_dir(d))
        if top in dirnames and (here / top / "__init__.py").is_file():
            found.append(here / top)
    return found
