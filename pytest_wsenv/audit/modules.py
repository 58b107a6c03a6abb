"""Which distribution provides an import name: module -> distributions.

Sources, in order (the first that knows a module answers):

1. the workspace members' own packages (from their source trees, see
   :mod:`~pytest_wsenv.audit.files`), so an editable member is found even though its
   installed ``RECORD`` lists only a ``.pth`` file;
2. installed distributions: the workspace's shared ``.venv`` (seen from outside), then
   the running interpreter: the files each one installs (its ``RECORD``), else its
   ``top_level.txt``. Names that differ from their distribution (``yaml`` -> ``PyYAML``)
   come from this metadata, never from a table;
3. the lock's wheels that exist on disk (``find-links`` directories, path sources): the
   files they hold, else their ``top_level.txt``;
4. the module name itself, when it is, normalized, the name of a locked or declared
   distribution.

A distribution owns a module from the first level of its path where its files hold an
``__init__.py`` (:func:`owned_roots`), never from the top-level folder: in a namespace
(``opentelemetry``, no ``__init__.py``, files from many distributions) each one owns only
its own packages (``opentelemetry.sdk`` -> ``opentelemetry-sdk``), so a third-party
distribution that installs ``opentelemetry/exporter/gcp/`` is never credited with
``opentelemetry.trace``. A namespace level that one member's packages lie below (a
directory with only ``__init__.pyi``, or a PEP 420 directory) belongs to that member.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import os
import sys
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath

from packaging.utils import canonicalize_name

from ..errors import SelectionError
from ..lock import Lock, Pin
from ..lock.pins import file_url_path
from ..target import MarkerEnv, Target
from ..workspace import Workspace

__all__ = [
    "ModuleIndex",
    "is_stdlib",
    "owned_roots",
    "shared_site_packages",
    "top_level",
]

_STDLIB = frozenset(sys.stdlib_module_names) | frozenset(sys.builtin_module_names)
_ALSO_STDLIB = frozenset({"__future__", "__main__"})
_MODULE_SUFFIXES = (".py", ".pyi", ".so", ".pyd")


def top_level(module: str) -> str:
    return module.partition(".")[0]


def is_stdlib(module: str) -> bool:
    """Whether ``module`` (any dotted name) is part of the running Python's standard library."""
    top = top_level(module)
    return top in _STDLIB or top in _ALSO_STDLIB


def shared_site_packages(root: Path, environ: Mapping[str, str] = os.environ) -> list[Path]:
    """``site-packages`` of the workspace's shared environment (``.venv`` or
    ``UV_PROJECT_ENVIRONMENT``), if it exists."""
    configured = environ.get("UV_PROJECT_ENVIRONMENT")
    venv = (root / configured) if configured else root / ".venv"
    if not (venv / "pyvenv.cfg").is_file():
        return []
    found = sorted(venv.glob("lib/python3*/site-packages")) + sorted(venv.glob("Lib/site-packages"))
    return [p for p in found if p.is_dir()]


def _declared_or_inferred(dist: importlib.metadata.Distribution) -> set[str]:
    """The rule of :func:`importlib.metadata.packages_distributions` for one distribution."""
    text = dist.read_text("top_level.txt")
    if text:
        return {line.strip() for line in text.split() if line.strip()}
    names: set[str] = set()
    for file in dist.files or ():
        parts = PurePosixPath(str(file)).parts
        name = parts[0] if len(parts) > 1 else inspect.getmodulename(str(file))
        if name and not name.endswith(".dist-info") and name != "..":
            names.add(name)
    return names


def owned_roots(files: Iterable[str]) -> set[str]:
    """The dotted names a distribution's files make it the owner of.

    A module belongs to a distribution from the first level of its path that the
    distribution makes a regular package (its files hold that directory's ``__init__.py``),
    or, when no level is, from the module itself: ``nsx/one/__init__.py`` owns ``nsx.one``
    (``nsx`` is a namespace others share), ``nsx/util.py`` owns ``nsx.util``, ``yaml/...``
    with ``yaml/__init__.py`` owns ``yaml``. Namespace levels above are never owned.
    """
    paths = {PurePosixPath(f).as_posix() for f in files}
    roots: set[str] = set()
    for path in paths:
        parts = PurePosixPath(path).parts
        if not parts or not path.endswith(_MODULE_SUFFIXES) or parts[0] == "..":
            continue
        stem = inspect.getmodulename(parts[-1])
        if (
            stem is None
            or stem.startswith("__editable__")
            or not all(p.isidentifier() for p in (*parts[:-1], stem))
        ):
            continue
        dotted = [*parts[:-1], stem]
        for depth in range(1, len(parts)):
            if "/".join(parts[:depth]) + "/__init__.py" in paths:
                roots.add(".".join(dotted[:depth]))
                break
        else:
            if stem != "__init__":
                roots.add(".".join(dotted))
    return roots


class _Source:
    """One layer of the index: dotted names a distribution owns -> distributions."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.roots: dict[str, set[str]] = {}

    def add(self, dist: str, files: Iterable[str] | None, tops: Iterable[str] = ()) -> None:
        """Index ``dist`` by the files it installs (its ``RECORD``); only when those say
        nothing, by its top-level names (``top_level.txt``)."""
        owned = owned_roots(files or ())
        for root in owned or set(tops):
            self.roots.setdefault(root, set()).add(dist)

    def lookup(self, module: str) -> tuple[frozenset[str], bool]:
        """(distributions, whether ``module`` is only a namespace they share)."""
        parts = module.split(".")
        for depth in range(len(parts), 0, -1):
            found = self.roots.get(".".join(parts[:depth]))
            if found:
                return frozenset(found), False
        below = module + "."
        shared = {d for root, dists in self.roots.items() if root.startswith(below) for d in dists}
        return frozenset(shared), bool(shared)


class ModuleIndex:
    """Answers :meth:`distributions` for import names. Build it with :meth:`build`."""

    def __init__(
        self,
        members: Mapping[str, str],
        sources: Sequence[_Source],
        known: Iterable[str] = (),
    ) -> None:
        self._members = dict(members)  # dotted package prefix -> member name
        self._sources = list(sources)
        self._known = frozenset(canonicalize_name(n) for n in known)
        self._memo: dict[str, tuple[frozenset[str], str]] = {}

    @classmethod
    def build(
        cls,
        workspace: Workspace,
        prefixes: Mapping[str, Iterable[str]],
        *,
        lock: Lock | None = None,
        site_dirs: Sequence[Path] = (),
        running: bool = True,
        known: Iterable[str] = (),
    ) -> ModuleIndex:
        """Index the members' packages (``prefixes``: member -> dotted package names, see
        :func:`~pytest_wsenv.audit.files.package_prefixes`), the environments in
        ``site_dirs`` (the shared ``.venv``), the running interpreter's distributions when
        ``running``, and the lock's wheels on disk. ``known``: further distribution names
        for the last resort (module name == distribution name)."""
        members: dict[str, str] = {}
        for member, names in sorted(prefixes.items()):
            for prefix in names:
                members.setdefault(prefix, member)
        sources: list[_Source] = []
        if site_dirs:
            sources.append(_site_source(site_dirs))
        if running:
            sources.append(_running_source())
        names = set(known) | set(workspace.members)
        if lock is not None:
            pins = _locked_pins(workspace, lock)
            wheels = _lock_source(workspace, pins)
            if wheels.roots:
                sources.append(wheels)
            names |= {pin.name for pin in pins}
        return cls(members, sources, names)

    def member(self, module: str) -> str | None:
        """The workspace member whose own package ``module`` is: the longest prefix, else,
        for a namespace level (no ``__init__.py``, e.g. ``opentelemetry.sdk`` with only an
        ``__init__.pyi``), the one member whose packages lie below it."""
        parts = module.split(".")
        for depth in range(len(parts), 0, -1):
            found = self._members.get(".".join(parts[:depth]))
            if found is not None:
                return found
        below = {m for p, m in self._members.items() if p.startswith(module + ".")}
        return below.pop() if len(below) == 1 else None

    def is_namespace(self, module: str) -> bool:
        """Whether ``module`` is only a namespace several members or distributions share
        (``opentelemetry``): importing it alone uses no one distribution."""
        if self.member(module) is not None:
            return False
        if any(p.startswith(module + ".") for p in self._members):
            return True
        for source in self._sources:
            dists, namespace = source.lookup(module)
            if dists:
                return namespace
        return False

    def distributions(self, module: str) -> frozenset[str]:
        """Normalized names of the distributions that provide ``module`` (empty: unknown)."""
        return self.lookup(module)[0]

    def lookup(self, module: str) -> tuple[frozenset[str], str]:
        """(distributions, where the answer came from: ``member``, an environment, ``lock
        wheel``, ``module name`` or ``unknown``)."""
        found = self._memo.get(module)
        if found is None:
            found = self._lookup(module)
            self._memo[module] = found
        return found

    def _lookup(self, module: str) -> tuple[frozenset[str], str]:
        member = self.member(module)
        if member is not None:
            return frozenset({member}), "member"
        for source in self._sources:
            dists, _namespace = source.lookup(module)
            if dists:
                return frozenset(canonicalize_name(d) for d in dists), source.label
        guess = canonicalize_name(top_level(module))
        if guess in self._known:
            return frozenset({guess}), "module name"
        return frozenset(), "unknown"


def _distributions_source(
    label: str, distributions: Iterable[importlib.metadata.Distribution]
) -> _Source:
    source = _Source(label)
    seen: set[str] = set()
    for dist in distributions:
        name = dist.metadata["Name"]
        if not name or canonicalize_name(name) in seen:  # the first on the path wins
            continue
        seen.add(canonicalize_name(name))
        source.add(name, [str(f) for f in dist.files or ()], _declared_or_inferred(dist))
    return source


def _site_source(site_dirs: Sequence[Path]) -> _Source:
    paths = [str(p) for p in site_dirs]
    return _distributions_source("shared environment", importlib.metadata.distributions(path=paths))


def _running_source() -> _Source:
    return _distributions_source("this environment", importlib.metadata.distributions())


def _wheel_names(path: Path) -> tuple[set[str], list[str]]:
    """(top-level names, file paths) of a wheel on disk; empty when unreadable."""
    try:
        with zipfile.ZipFile(path) as wheel:
            files = wheel.namelist()
            info = {n for n in files if n.split("/", 1)[0].endswith(".dist-info")}
            top_file = next((n for n in info if n.endswith("/top_level.txt")), None)
            if top_file is not None:
                text = wheel.read(top_file).decode("utf-8", "replace")
                return {t.strip() for t in text.split() if t.strip()}, files
    except (OSError, zipfile.BadZipFile, KeyError):
        return set(), []
    tops: set[str] = set()
    for file in files:
        parts = PurePosixPath(file).parts
        if parts and not parts[0].endswith((".dist-info", ".data")):
            name = parts[0] if len(parts) > 1 else inspect.getmodulename(file)
            if name:
                tops.add(name)
    return tops, files


def _locked_pins(workspace: Workspace, lock: Lock) -> tuple[Pin, ...]:
    """Every package the lock installs on this interpreter, for any member, extra or group."""
    env = MarkerEnv.current()
    for target in (
        Target(all_packages=True, all_extras=True, all_groups=True),
        Target(all_packages=True, all_groups=True),
        Target(all_packages=True),
    ):
        try:
            return lock.closure(workspace, target, env).pins
        except SelectionError:  # e.g. extras that [tool.uv] conflicts forbid together
            continue
    return ()


def _local_wheel(root: Path, pin: Pin) -> Path | None:
    for wheel in pin.wheels:
        if wheel.path is not None:
            path = root / wheel.path
        elif wheel.url is not None and wheel.url.startswith("file:"):
            path = file_url_path(wheel.url)
        else:
            continue
        if path.is_file():
            return path
    return None


def _lock_source(workspace: Workspace, pins: Iterable[Pin]) -> _Source:
    source = _Source("lock wheel")
    for pin in pins:
        path = _local_wheel(workspace.root, pin)
        if path is None:
            continue
        tops, files = _wheel_names(path)
        source.add(pin.name, [f for f in files if not f.split("/", 1)[0].endswith(".data")], tops)
    return source
