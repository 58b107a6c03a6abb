"""Signs, in an isolated run, that a member's tests lack a pytest plugin.

The parent sees every child's reports and warnings through pytest's hooks. These are the
signs pytest itself gives of a plugin that is not installed:

- ``Unknown config option: asyncio_mode`` (a config-time warning);
- ``async def functions are not natively supported`` (a failure, or a skip with older
  pytest versions);
- ``Unknown pytest.mark.asyncio`` (a warning), or ``'asyncio' not found in `markers```
  under ``--strict-markers``;
- ``Missing required plugins: pytest-asyncio`` (``required_plugins``).

:class:`PluginSigns` records them per member and gives one line per member for the
terminal summary, naming the plugin and how to add it::

    bird-feeder: the tests show signs of a missing pytest plugin: pytest-asyncio (async def
    functions are not natively supported, unknown config option 'asyncio_mode'); add it to
    bird-feeder's dev group: uv add --package bird-feeder --dev pytest-asyncio

The plugin is named from the sign: the one pytest names (``required_plugins``); else a
distribution the workspace knows (locked, declared, or installed in the shared ``.venv``)
called ``pytest-<word>`` or ``<word>`` for the marker or the option's first word; for
``async def``, the async plugins the workspace knows, else pytest's own suggestion.

A config-time warning carries no test or file, so it is credited to the members whose
pytest configuration sets that option and whose environment lacks the plugin.
"""

from __future__ import annotations

import configparser
import importlib.metadata
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ..selection import ALL_MEMBERS, MemberRun

if TYPE_CHECKING:
    from .diagnose import Explainer

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "PluginSignWatcher",
    "PluginSigns",
    "config_keys",
    "is_plugin",
    "pytest_plugins",
    "sign_of",
]

_UNKNOWN_OPTION = re.compile(r"Unknown config option: ([\w.-]+)")
_UNKNOWN_MARK = re.compile(r"Unknown pytest\.mark\.([\w]+)")
_STRICT_MARK = re.compile(r"'([\w]+)' not found in `markers` configuration option")
_REQUIRED = re.compile(r"Missing required plugins: (.+)")
_ASYNC = ("async def functions are not natively supported", "async def function and no async")
#: Plugins that run ``async def`` tests, in pytest's own suggestion order.
_ASYNC_PLUGINS = ("anyio", "pytest-asyncio", "pytest-trio", "pytest-tornasync", "pytest-twisted")


def pytest_plugins(site_dirs: Sequence[Path] = ()) -> frozenset[str]:
    """Normalized names of the distributions with a ``pytest11`` entry point, installed in
    ``site_dirs`` or in the running environment."""
    found: set[str] = set()
    everywhere = [
        *(importlib.metadata.distributions(path=[str(p) for p in site_dirs]) if site_dirs else ()),
        *importlib.metadata.distributions(),
    ]
    for dist in everywhere:
        if any(e.group == "pytest11" for e in dist.entry_points) and dist.metadata["Name"]:
            found.add(canonicalize_name(dist.metadata["Name"]))
    return frozenset(found)


def is_plugin(dist: str, plugins: Iterable[str]) -> bool:
    """Whether a distribution is a pytest plugin (its name, or its entry points say so)."""
    name = canonicalize_name(dist)
    return name.startswith("pytest-") or name in set(plugins)


def config_keys(start: Path, stop: Path) -> frozenset[str]:
    """The ini keys of the pytest configuration file pytest finds from ``start`` upwards
    (not above ``stop``): ``pytest.ini``, ``pyproject.toml``, ``tox.ini``, ``setup.cfg``."""
    for directory in (start, *start.parents):
        for name, section in (
            ("pytest.ini", "pytest"),
            (".pytest.ini", "pytest"),
            ("pyproject.toml", None),
            ("tox.ini", "pytest"),
            ("setup.cfg", "tool:pytest"),
        ):
            path = directory / name
            if not path.is_file():
                continue
            keys = _keys(path, section)
            if keys is not None:
                return keys
        if directory == stop:
            break
    return frozenset()


def _keys(path: Path, section: str | None) -> frozenset[str] | None:
    try:
        if section is None:
            tool = tomllib.loads(path.read_text()).get("tool", {})
            table = tool.get("pytest", {}) if isinstance(tool, dict) else {}
            if not isinstance(table, dict) or not table:
                return None
            options = table.get("ini_options", table)
            return frozenset(options) if isinstance(options, dict) else frozenset()
        parser = configparser.ConfigParser(interpolation=None)
        parser.read_string(path.read_text())
    except (OSError, ValueError, configparser.Error):
        return None
    if parser.has_section(section):
        return frozenset(parser.options(section))
    return frozenset() if path.name in ("pytest.ini", ".pytest.ini") else None


def sign_of(text: str) -> tuple[str, str] | None:
    """(kind, subject) of a plugin sign in a warning or report text: ``("option",
    "asyncio_mode")``, ``("marker", "asyncio")``, ``("async", "")``, ``("required",
    "pytest-asyncio>=0.23, pytest-mock")``; None when ``text`` shows none."""
    for pattern, kind in (
        (_REQUIRED, "required"),
        (_UNKNOWN_OPTION, "option"),
        (_UNKNOWN_MARK, "marker"),
        (_STRICT_MARK, "marker"),
    ):
        found = pattern.search(text)
        if found:
            return kind, found.group(1).strip()
    if any(a in text for a in _ASYNC):
        return "async", ""
    return None


def _describe(kind: str, subject: str) -> str:
    return {
        "option": f"unknown config option '{subject}'",
        "marker": f"unknown marker '{subject}'",
        "async": "async def functions are not natively supported",
        "required": f"required_plugins: {subject}",
    }[kind]


class PluginSigns:
    """Per member: the signs seen and the plugins they point to.

    ``known``: distribution names the workspace knows (lock, declarations, shared
    ``.venv``), to name a plugin from a marker or option; ``declared``: distribution ->
    where the workspace declares it (e.g. "the workspace root's dev group"), for the advice.
    """

    def __init__(self, known: Iterable[str], declared: dict[str, str] | None = None) -> None:
        self.known = frozenset(canonicalize_name(k) for k in known)
        self.declared = declared or {}
        self.signs: dict[str, dict[str, set[str]]] = {}  # member -> plugin -> descriptions

    def plugins_for(self, kind: str, subject: str) -> list[str]:
        """The plugin(s) a sign points to (a description when none is known)."""
        if kind == "required":
            names = []
            for text in subject.split(","):
                try:
                    names.append(canonicalize_name(Requirement(text.strip()).name))
                except InvalidRequirement:
                    continue
            return [str(n) for n in names]
        if kind == "async":
            known = [p for p in _ASYNC_PLUGINS if p in self.known]
            return known[:1] or ["pytest-asyncio or anyio"]
        words = [w for w in re.split(r"[_.-]", subject.lower()) if w]
        tries = [subject.lower().replace("_", "-"), *words[:1]]
        for word in tries:
            for name in (f"pytest-{word}", word):
                if canonicalize_name(name) in self.known:
                    return [canonicalize_name(name)]
        what = "marker" if kind == "marker" else "option"
        return [f"the plugin that provides the {what} '{subject}'"]

    def add(self, member: str, kind: str, subject: str) -> None:
        for plugin in self.plugins_for(kind, subject):
            found = self.signs.setdefault(member, {}).setdefault(plugin, set())
            found.add(_describe(kind, subject))

    def lines(self) -> list[str]:
        """One line per member (see the module docstring)."""
        lines = []
        for member, plugins in sorted(self.signs.items()):
            names = sorted(plugins)
            signs = sorted({s for p in names for s in plugins[p]})
            named = [n for n in names if " " not in n]
            line = (
                f"{member}: the tests show signs of a missing pytest plugin: "
                f"{', '.join(names)} ({', '.join(signs)}); "
            )
            if named:
                line += (
                    f"add it to {member}'s dev group: uv add --package {member} --dev "
                    f"{' '.join(named)}"
                )
            else:
                line += f"add the plugin to {member}'s dev group"
            where = [f"{n}: {self.declared[n]}" for n in named if n in self.declared]
            if where:
                line += f" (declared in {'; '.join(where)})"
            lines.append(line)
        return lines


class PluginSignWatcher:
    """Feeds :class:`PluginSigns` from the replayed reports and warnings of member runs
    (the parent-side diagnosis calls :meth:`report` and :meth:`warning`)."""

    def __init__(self, explainer: Explainer, runs: Sequence[MemberRun], rootpath: Path) -> None:
        self.explainer = explainer
        self.runs = list(runs)
        self.rootpath = rootpath
        self._signs: PluginSigns | None = None

    @property
    def signs(self) -> PluginSigns:
        if self._signs is None:
            explainer = self.explainer
            known = set(explainer.declarations.names()) | set(explainer.plugins)
            declared = {}
            for name in known:
                found = explainer.declarations.of([name])
                if found:
                    declared[name] = "; ".join(d.owner for d in found[:2])
            self._signs = PluginSigns(known, declared)
        return self._signs

    def lines(self) -> list[str]:
        return self._signs.lines() if self._signs is not None else []

    def report(self, member: str, report: Any) -> None:
        """A failed or skipped report of ``member``."""
        try:
            longrepr = report.longrepr
            if isinstance(longrepr, tuple) and len(longrepr) == 3:
                text = str(longrepr[2])
            else:
                text = str(getattr(longrepr, "text", None) or longrepr)
            found = sign_of(text)
            if found is not None:
                self.signs.add(member, *found)
        except Exception:  # a courtesy: never break the report
            return

    def warning(self, warning_message: Any, nodeid: str) -> None:
        """A replayed warning; its member from the node id, the file, or (a config-time
        warning) the members whose configuration sets the option."""
        try:
            found = sign_of(str(getattr(warning_message, "message", warning_message)))
            if found is None:
                return
            kind, subject = found
            if kind == "option" and not nodeid:
                members = self._members_setting(subject)
            else:
                where = nodeid or str(getattr(warning_message, "filename", ""))
                member = self._member_at(where) if where else None
                members = [member] if member is not None else []
            for member in members:
                self.signs.add(member, kind, subject)
        except Exception:  # a courtesy: never break the session
            return

    def _members_setting(self, option: str) -> list[str]:
        root = self.explainer.workspace.root
        plugins = self.signs.plugins_for("option", option)
        found = []
        for run in self.runs:
            if option not in config_keys(Path(run.rootdir), root):
                continue
            env = self.explainer.env(run.member, run.target)
            if env is not None and any(env.available(p) for p in plugins):
                continue
            found.append(run.member)
        return found

    def _member_at(self, path: str) -> str | None:
        candidate = Path(path)
        if not candidate.is_absolute():
            candidate = self.rootpath / path.split("::", maxsplit=1)[0]
        member = self.explainer.workspace.member_for(candidate)
        runs = {run.member for run in self.runs}
        if member is not None and member.name in runs:
            return member.name
        return ALL_MEMBERS if ALL_MEMBERS in runs else None
