"""``[tool.wsenv.check-imports]`` in the workspace root ``pyproject.toml``.

Schema (every key optional)::

    [tool.wsenv.check-imports]
    # member -> names not to report for it; "*" means every member. A name is a top-level
    # module ("tqdm"), a dotted module, or a distribution name ("PyYAML").
    ignore = { "bird-feeder" = [
        { name = "tqdm", reason = "progress bars are optional, see issue 12" },
        "sortedcontainers",
    ] }

Errors are :class:`~pytest_wsenv.errors.ConfigError` naming the dotted key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from packaging.utils import canonicalize_name

from ..errors import ConfigError
from ..workspace import Workspace, load_toml

__all__ = ["CheckImportsConfig", "Suppression"]

_WHERE = "tool.wsenv.check-imports"
_KEYS = ("ignore",)
_ITEM_KEYS = ("name", "reason")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
ANY_MEMBER = "*"


def _join(where: str, key: str) -> str:
    return f"{where}.{key if _BARE_KEY.match(key) else json.dumps(key)}"


@dataclass(frozen=True, slots=True)
class Suppression:
    """One ``ignore`` entry."""

    member: str  # normalized member name, or "*"
    name: str  # as written
    reason: str | None = None

    def matches(self, member: str, module: str, dists: Iterable[str]) -> bool:
        if self.member not in (ANY_MEMBER, member):
            return False
        if self.name in (module, module.partition(".")[0]) or module.startswith(self.name + "."):
            return True
        return canonicalize_name(self.name) in set(dists)


@dataclass(frozen=True, slots=True)
class CheckImportsConfig:
    """The validated ``[tool.wsenv.check-imports]`` table."""

    ignore: tuple[Suppression, ...] = ()

    @classmethod
    def load(cls, workspace: Workspace) -> CheckImportsConfig:
        data = load_toml(workspace.root_pyproject)
        tool = data.get("tool")
        wsenv = tool.get("wsenv") if isinstance(tool, dict) else None
        table = wsenv.get("check-imports") if isinstance(wsenv, dict) else None
        if table is None:
            return cls()
        return cls.from_table(table, workspace)

    @classmethod
    def from_table(cls, table: object, workspace: Workspace) -> CheckImportsConfig:
        """Validate ``table`` (the value of ``tool.wsenv.check-imports``)."""

        def error(where: str, message: str) -> ConfigError:
            return ConfigError(f"{where} {message}", path=workspace.root_pyproject)

        checked = _table(table, _WHERE, _KEYS, error)
        entries: list[Suppression] = []
        if "ignore" in checked:
            where = f"{_WHERE}.ignore"
            ignore = checked["ignore"]
            if not isinstance(ignore, dict):
                raise error(
                    where, 'must be a table of member names, like {"bird-feeder" = ["tqdm"]}'
                )
            for raw_member, items in ignore.items():
                key = _join(where, raw_member)
                member = _member(raw_member, workspace, key, error)
                if not isinstance(items, list):
                    raise error(key, "must be a list of module or distribution names")
                for index, item in enumerate(items):
                    entries.append(_entry(item, member, f"{key}[{index}]", error))
        return cls(ignore=tuple(entries))

    def suppression(self, member: str, module: str, dists: Iterable[str]) -> Suppression | None:
        """The entry that silences ``module`` (provided by ``dists``) for ``member``."""
        names = frozenset(dists)
        return next((s for s in self.ignore if s.matches(member, module, names)), None)


def _table(value: object, where: str, known: Iterable[str], error: Any) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise error(where, "must be a table")
    allowed = tuple(known)
    for key in value:
        if key not in allowed:
            raise error(_join(where, key), f"is not a known key (known: {', '.join(allowed)})")
    return value


def _member(name: str, workspace: Workspace, where: str, error: Any) -> str:
    if name == ANY_MEMBER:
        return ANY_MEMBER
    normalized = canonicalize_name(name)
    if normalized not in workspace.members:
        names = ", ".join(workspace.members) or "none"
        raise error(where, f'names no workspace member {name!r} (members: {names}; "*" = all)')
    return normalized


def _entry(item: object, member: str, where: str, error: Any) -> Suppression:
    if isinstance(item, str):
        if not item.strip():
            raise error(where, "must not be empty")
        return Suppression(member, item.strip())
    if isinstance(item, dict):
        entry = _table(item, where, _ITEM_KEYS, error)
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise error(f"{where}.name", "must be a non-empty string (a module or distribution)")
        reason = entry.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise error(f"{where}.reason", f"must be a string, not {reason!r}")
        return Suppression(member, name.strip(), reason.strip() if reason else None)
    raise error(where, f'must be a name or {{ name = "...", reason = "..." }}, not {item!r}')
