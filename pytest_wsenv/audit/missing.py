"""Which module's absence failed or skipped a report of an isolated run.

A failure names it in its exception line (``ModuleNotFoundError: No module named 'x'``).
For a skip: pytest's own reason (``could not import 'x'``), else the
``importorskip("x")`` call at the skip's line (read from the test file), else a guarded
import of the file (``try: import x``) whose name the reason mentions.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from .modules import is_stdlib
from .static import ImportUse, scan_file

__all__ = ["missing_module"]

_NO_MODULE = re.compile(r"No module named '([A-Za-z_][\w.]*)'")
#: The exception line of a traceback, not an assertion message that happens to quote one.
_RAISED = re.compile(r"(?:ModuleNotFoundError|ImportError): No module named '([A-Za-z_][\w.]*)'")
_COULD_NOT_IMPORT = re.compile(r"could not import '([A-Za-z_][\w.]*)'")


def _text(longrepr: Any) -> str:
    if isinstance(longrepr, str):
        return longrepr
    for attribute in ("text", "longrepr"):  # MemberFailure, CollectErrorRepr
        value = getattr(longrepr, attribute, None)
        if isinstance(value, str):
            return value
    try:
        return str(longrepr)
    except Exception:
        return ""


def _uses(path: Path, cache: dict[Path, list[ImportUse]]) -> list[ImportUse]:
    if path not in cache:
        cache[path] = scan_file(path)
    return cache[path]


def _skipped_module(
    path: str, line: object, reason: str, cache: dict[Path, list[ImportUse]]
) -> str | None:
    found = _COULD_NOT_IMPORT.search(reason) or _NO_MODULE.search(reason)
    if found:
        return found.group(1)
    file = Path(path)
    if file.suffix != ".py" or not file.is_file():
        return None
    uses = _uses(file, cache)
    for use in uses:
        if use.kind == "skip" and use.line <= (line if isinstance(line, int) else -1) <= max(
            use.end_line, use.line
        ):
            return use.module
    for use in uses:
        mentioned = re.search(rf"(?<![\w.]){re.escape(use.top)}(?![\w])", reason)
        if use.guarded and mentioned and not is_stdlib(use.module):
            return use.module
    return None


def missing_module(
    report: pytest.TestReport | pytest.CollectReport,
    cache: dict[Path, list[ImportUse]] | None = None,
) -> str | None:
    """The module whose absence failed or skipped ``report``, if that is what happened."""
    longrepr = report.longrepr
    if report.skipped:
        if hasattr(report, "wasxfail") or not (isinstance(longrepr, tuple) and len(longrepr) == 3):
            return None
        path, line, reason = longrepr
        return _skipped_module(str(path), line, str(reason), {} if cache is None else cache)
    if not report.failed or longrepr is None:
        return None
    crash = getattr(longrepr, "reprcrash", None)
    found = _RAISED.match(str(getattr(crash, "message", "") or ""))
    if found:
        return found.group(1)
    matches = _RAISED.findall(_text(longrepr))
    return matches[-1] if matches else None
