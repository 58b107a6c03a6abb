"""Which distribution provides an import name: module -> distributions.

Sources, in order (the first that knows a module answers):

1. the workspace members' own packages (from their source trees, see
   :mod:`~pytest_wsenv.audit.files`), so an editable member is found even though its
   installed ``RECORD`` lists only a ``.pth`` file;
2. installed distributions: for the running interpreter
   :func:`importlib.metadata.packages_distributions`; for another environment (the
   workspace's shared ``.venv`` seen from outside) the same rule applied to its
   ``site-packages`` (``top_level.txt``, else the first path part of each ``RECORD``
   entry). Names that differ from their distribution (``yaml`` -> ``PyYAML``) come from
   this metadata, never from a table;
3. the lock's wheels that exist on disk (``find-links`` directories, path sources): their
   ``top_level.txt`` or ``RECORD``;
4. the module name itself, when it is, normalized, the name of a locked or declared
   distribution.

Namespace packages (one top-level name, several distributions: ``opentelemetry``) are told
apart by the longest dotted prefix that the distributions' files or the members' source
trees provide (``opentelemetry.sdk`` -> ``opentelemetry-sdk``).
"""

from __future__ import annotations

import importlib.metadata
import inspect
import os
import sys
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit
from urllib.request import url2pathname

from packaging.utils import canonicalize_name

from ..errors import SelectionError
from ..lock import Lock, Pin
from ..target import MarkerEnv, Target
from ..workspace import Workspace

__all__ = [
    "ModuleIndex",
    "is_stdlib",
    "shared_site_packages",
    "top_level",
]

_STDLIB = frozenset(sys.stdlib_module_names) | frozenset(sys.builtin_module_names)
_ALSO_STDLIB = frozenset({"__future__", "__main__"})
#: How many dotted parts of a namespace distribution's files are indexed.
_DEPTH = 4


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


def _dotted_prefixes(files: Iterable[str]) -> set[str]:
    """Dotted names of the packages and modules a distribution's files hold (depth >= 2)."""
    found: set[str] = set()
    for file in files:
        parts = PurePosixPath(file).parts
        if not parts or not file.endswith((".py", ".pyi", ".so", ".pyd")):
            continue
        stem = inspect.getmodulename(parts[-1])
        dotted = [*parts[:-1], *([stem] if stem and stem != "__init__" else [])]
        if not all(p.isidentifier() for p in dotted):
            continue
        for depth in range(2, min(len(dotted), _DEPTH) + 1):
            found.add(".".join(dotted[:depth]))
    return found


class _Source:
    """One layer of the index: top-level names and namespace prefixes -> distributions."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.tops: dict[str, set[str]] = {}
        self.prefixes: dict[str, set[str]] = {}
        self.files: dict[str, list[str]] = {}  # dist -> file paths, for namespace prefixes

    def add(self, top: str, dist: str) -> None:
        self.tops.setdefault(top, set()).add(dist)

    def finish(self) -> None:
        """Index dotted prefixes for the top-level names several distributions share."""
        for top, dists in self.tops.items():
            if len(dists) < 2:
                continue
            for dist in dists:
                for prefix in _dotted_prefixes(self.files.get(dist, ())):
                    if prefix.partition(".")[0] == top:
                        self.prefixes.setdefault(prefix, set()).add(dist)
        self.files.clear()

    def lookup(self, module: str) -> frozenset[str]:
        parts = module.split(".")
        for depth in range(min(len(parts), _DEPTH), 1, -1):
            found = self.prefixes.get(".".join(parts[:depth]))
            if found:
                return frozenset(found)
        return frozenset(self.tops.get(parts[0], ()))


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
            if wheels.tops:
                sources.append(wheels)
            names |= {pin.name for pin in pins}
        return cls(members, sources, names)

    def member(self, module: str) -> str | None:
        """The workspace member whose own package ``module`` is (longest prefix)."""
        parts = module.split(".")
        for depth in range(len(parts), 0, -1):
            found = self._members.get(".".join(parts[:depth]))
            if found is not None:
                return found
        return None

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
            dists = source.lookup(module)
            if dists:
                return frozenset(canonicalize_name(d) for d in dists), source.label
        guess = canonicalize_name(top_level(module))
        if guess in self._known:
            return frozenset({guess}), "module name"
        return frozenset(), "unknown"


def _site_source(site_dirs: Sequence[Path]) -> _Source:
    source = _Source("shared environment")
    paths = [str(p) for p in site_dirs]
    for dist in importlib.metadata.distributions(path=paths):
        name = dist.metadata["Name"]
        if not name:
            continue
        for top in _declared_or_inferred(dist):
            source.add(top, name)
        source.files.setdefault(name, []).extend(str(f) for f in dist.files or ())
    source.finish()
    return source


def _running_source() -> _Source:
    source = _Source("this environment")
    for top, dists in importlib.metadata.packages_distributions().items():
        for dist in dists:
            source.add(top, dist)
    shared = [top for top, dists in source.tops.items() if len(dists) > 1]
    if shared:
        wanted = {d for top in shared for d in source.tops[top]}
        for found in importlib.metadata.distributions():
            name = found.metadata["Name"]
            if name in wanted and name not in source.files:
                source.files[name] = [str(f) for f in found.files or ()]
    source.finish()
    return source


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
            path = Path(url2pathname(urlsplit(wheel.url).path))
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
        for top in tops:
            source.add(top, pin.name)
        if tops:
            source.files.setdefault(pin.name, files)
    source.finish()
    return source
