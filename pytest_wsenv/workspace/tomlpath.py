"""Typed reads from parsed TOML that report the dotted key path of a structural error."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

from ..errors import LockError, WsenvError

__all__ = ["TableReader"]


class TableReader:
    """Typed reads from one parsed TOML table that name the dotted key at fault.

    ``where`` is the table's dotted path (``package[12].dependencies[3]``); a failed read
    raises ``error`` (a :class:`WsenvError` subclass) for ``file`` as
    ``"<where>.<key>: <problem>"``, like packaging's ``pylock`` reader.
    """

    __slots__ = ("data", "error", "file", "where")

    def __init__(
        self,
        data: Mapping[str, Any],
        where: str,
        file: Path,
        error: type[WsenvError] = LockError,
    ) -> None:
        self.data = data
        self.where = where
        self.file = file
        self.error = error

    def fail(self, message: str, key: str | None = None) -> NoReturn:
        at = ".".join(p for p in (self.where, key) if p)
        raise self.error(f"{at}: {message}" if at else message, path=self.file)

    def _sub(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def has(self, key: str) -> bool:
        return key in self.data

    def string(self, key: str) -> str:
        if key not in self.data:
            self.fail(f"missing '{key}'")
        return self.opt_string(key) or ""

    def opt_string(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.fail(f"expected a string, got {type(value).__name__}", key)
        return value

    def opt_int(self, key: str) -> int | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(f"expected an integer, got {type(value).__name__}", key)
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key, [])
        if not isinstance(value, list):
            self.fail(f"expected an array of strings, got {type(value).__name__}", key)
        for i, item in enumerate(value):
            if not isinstance(item, str):
                self.fail(f"expected a string, got {type(item).__name__}", f"{key}[{i}]")
        return tuple(value)

    def table(self, key: str) -> TableReader | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            self.fail(f"expected a table, got {type(value).__name__}", key)
        return TableReader(value, self._sub(key), self.file, self.error)

    def tables(self, key: str) -> list[TableReader]:
        value = self.data.get(key, [])
        if not isinstance(value, list):
            self.fail(f"expected an array of tables, got {type(value).__name__}", key)
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                self.fail(f"expected a table, got {type(item).__name__}", f"{key}[{i}]")
            out.append(TableReader(item, f"{self._sub(key)}[{i}]", self.file, self.error))
        return out

    def table_of_tables(self, key: str) -> dict[str, list[TableReader]]:
        """``key`` is a table whose values are arrays of tables (extras, groups)."""
        sub = self.table(key)
        if sub is None:
            return {}
        return {name: sub.tables(name) for name in sub.data}
