"""One exception hierarchy for everything pytest-wsenv reports to a user.

Every error names what is at fault (a file, a key in it, a member, an option) and,
where there is one, what to do. The plugin and the CLI print ``str(error)`` as a
single line and never a traceback.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ChildProtocolError",
    "ConfigError",
    "EnvBuildError",
    "InterpreterNotFoundError",
    "LockError",
    "ReportError",
    "SelectionError",
    "StaleLockError",
    "WorkspaceError",
    "WsenvError",
]


class WsenvError(Exception):
    """Root of every error pytest-wsenv raises on purpose.

    ``path`` is the file at fault when there is one; it is prefixed to the message.
    """

    def __init__(self, message: str, *, path: Path | str | None = None) -> None:
        self.message = message
        self.path = Path(path) if path is not None else None
        super().__init__(f"{self.path}: {message}" if self.path is not None else message)


class ConfigError(WsenvError, ValueError):
    """A configuration file (pyproject.toml, ini option) is malformed or inconsistent."""


class WorkspaceError(ConfigError):
    """The workspace layout is wrong (member glob without pyproject.toml, duplicate names...)."""


class LockError(WsenvError, ValueError):
    """``uv.lock`` is missing, unreadable or of an unsupported version."""


class StaleLockError(LockError):
    """``uv.lock`` does not match the members' ``pyproject.toml`` any more."""


class SelectionError(WsenvError, ValueError):
    """The user asked for a member, extra, group or combination that does not exist."""


class ReportError(WsenvError, ValueError):
    """A report or plan file given to ``pytest-wsenv combine`` cannot be read."""


class InterpreterNotFoundError(WsenvError, LookupError):
    """No interpreter matches a requested Python version or path."""


class EnvBuildError(WsenvError, RuntimeError):
    """Creating or installing an isolated environment failed."""

    def __init__(self, message: str, *, path: Path | str | None = None, log_tail: str = "") -> None:
        super().__init__(message, path=path)
        self.log_tail = log_tail


class ChildProtocolError(WsenvError, RuntimeError):
    """A child pytest sent something the parent cannot read (version skew, garbage)."""
