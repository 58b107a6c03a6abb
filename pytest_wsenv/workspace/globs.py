"""``[tool.uv.workspace]`` member and exclude globs, matched the way uv matches them.

uv expands ``members`` with the Rust ``glob`` crate, relative to the workspace root:
``*``, ``?`` and ``[...]`` (``[!...]`` negates) match within one path component,
wildcards also match names starting with a dot, a ``**`` component matches zero or
more directories (one or more when it ends the pattern), ``.``/``..`` are literal
steps. ``exclude`` patterns are matched against the whole relative path, where ``*``
also crosses ``/`` (the crate's ``Pattern::matches_path`` with default options).
A pattern with ``**`` inside a component or an unclosed ``[`` is an error, as in uv.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import WorkspaceError

__all__ = ["Pattern", "holds_only_ignored_files"]

_MAGIC = frozenset("*?[")


def _component_regex(part: str, *, where: str, path: Path) -> str:
    out: list[str] = []
    i = 0
    while i < len(part):
        char = part[i]
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[":
            j = i + 1
            negate = j < len(part) and part[j] == "!"
            if negate:
                j += 1
            close = part.find("]", j + 1)  # a "]" right after "[" or "[!" is literal
            if close < 0:
                raise WorkspaceError(f"{where}: unclosed `[` in glob {part!r}", path=path)
            body = part[j:close]
            members = "".join(
                "-" if c == "-" and 0 < k < len(body) - 1 else re.escape(c)
                for k, c in enumerate(body)
            )
            out.append(f"[{'^' if negate else ''}{members}]")
            i = close
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


class Pattern:
    """One glob from ``members`` or ``exclude``; ``where`` names it in errors."""

    __slots__ = ("_full", "_parts", "absolute", "text")

    def __init__(self, text: str, *, where: str, path: Path) -> None:
        self.text = text
        if "\x00" in text:
            raise WorkspaceError(f"{where}: glob {text!r} contains a NUL character", path=path)
        self.absolute = text.startswith("/")
        parts = [p for p in text.split("/") if p not in ("", ".")]
        for part in parts:
            if "**" in part and part != "**":
                raise WorkspaceError(
                    f"{where}: glob {text!r}: `**` must be a whole path component", path=path
                )
        self._parts: tuple[tuple[str, re.Pattern[str] | None], ...] = tuple(
            (
                part,
                re.compile(_component_regex(part, where=where, path=path), re.DOTALL)
                if part != "**" and _MAGIC.intersection(part)
                else None,
            )
            for part in parts
        )
        pieces: list[str] = []
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            if part == "**":
                pieces.append(".+" if last else "(?:.*/)?")
            else:
                regex = _component_regex(part, where=where, path=path)
                pieces.append(regex if last else f"{regex}/")
        self._full = re.compile("".join(pieces), re.DOTALL)

    def matches(self, relative: str) -> bool:
        """Whole-path match of a POSIX path relative to the root (``exclude`` semantics)."""
        return self._full.fullmatch(relative) is not None

    def expand(self, root: Path) -> list[Path]:
        """Existing paths matched under ``root``, in a stable order (``members`` semantics)."""
        current = [Path("/") if self.absolute else root]
        for index, (part, regex) in enumerate(self._parts):
            last = index == len(self._parts) - 1
            found: list[Path] = []
            for base in current:
                if part == "..":
                    found.append(base.parent)
                elif part == "**":
                    if not last:
                        found.append(base)
                    found.extend(_subdirectories(base))
                elif regex is None:
                    candidate = base / part
                    if os.path.lexists(candidate):
                        found.append(candidate)
                else:
                    found.extend(base / name for name in _names(base) if regex.fullmatch(name))
            current = list(dict.fromkeys(found))
            if not last:
                current = [p for p in current if p.is_dir()]
        return current


def _names(directory: Path) -> list[str]:
    try:
        with os.scandir(directory) as entries:
            return sorted(entry.name for entry in entries)
    except OSError:
        return []


def _subdirectories(base: Path) -> Iterable[Path]:
    """Every directory below ``base`` (not ``base``), without following symlinks."""
    for dirpath, dirnames, _files in os.walk(base):
        dirnames.sort()
        for name in dirnames:
            yield Path(dirpath, name)


def holds_only_ignored_files(directory: Path) -> bool:
    """True when ``directory`` holds no file uv would count (uv skips such members).

    Like uv, an empty directory (empty subdirectories aside) is not a member, nor,
    inside a git work tree, one whose every file git ignores (``__pycache__`` or build
    leftovers listed in ``.gitignore``). Hidden files count. uv also honours ``.ignore``
    files; those are not read here.
    """
    files: list[str] = []
    for dirpath, _dirnames, filenames in os.walk(directory):
        rel = os.path.relpath(dirpath, directory)
        files.extend(name if rel == "." else f"{rel}/{name}" for name in filenames)
        if len(files) > 5000:
            return False
    if not files:
        return True
    return _git_ignores_all(directory, files)


def _git_ignores_all(directory: Path, files: Sequence[str]) -> bool:
    if _git_work_tree(directory) is None:
        return False
    try:
        result = subprocess.run(
            ["git", "check-ignore", "--no-index", "-z", "--stdin"],
            cwd=directory,
            input="\0".join(files) + "\0",
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    if result.returncode not in (0, 1):
        return False
    ignored = {name for name in result.stdout.split("\0") if name}
    return all(name in ignored for name in files)


def _git_work_tree(directory: Path) -> Path | None:
    for candidate in (directory, *directory.parents):
        if (candidate / ".git").exists():
            return candidate
    return None
