"""Read TOML files, turning syntax errors into :class:`ConfigError` with file and line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ..errors import ConfigError, WsenvError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = ["load_toml", "loads_toml"]


def loads_toml(text: str, *, path: Path, error: type[WsenvError] = ConfigError) -> dict[str, Any]:
    """Parse ``text`` read from ``path``; a syntax error becomes ``error`` naming the line."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
        return data
    except tomllib.TOMLDecodeError as exc:
        raise error(f"invalid TOML: {exc}", path=path) from exc


def load_toml(path: Path, *, error: type[WsenvError] = ConfigError) -> dict[str, Any]:
    """Read and parse ``path``; unreadable files and bad syntax become ``error``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise error("file not found", path=path) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read file: {exc}", path=path) from exc
    return loads_toml(text, path=path, error=error)
