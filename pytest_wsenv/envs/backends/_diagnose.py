"""Turn a failed installer run into one short, actionable EnvBuildError.

The message names the environment directory and the first meaningful error line; the
error's ``log_tail`` carries the last lines of the installer's output. When a package
is missing, the installer's error is read for its name (best effort: uv and pip
wordings); failing that, while offline or without an index, the plan's pins that have
no local copy in the find-links directories are listed instead.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from ...errors import EnvBuildError
from ...lock.pins import file_url_path
from ._process import Output
from .base import InstallPlan

__all__ = ["failure", "first_error", "missing_locally", "requirement_name"]

_ERROR = re.compile(r"^\s*(?:\u00d7\s*)?(?:ERROR|error):\s*(?P<text>.+)$")
_CAUSE = re.compile(r"^\s*(?:cause|Caused by):\s*(?P<text>.+)$")
_GENERIC = re.compile(
    r"^(?:subprocess-exited-with-error|failed-wheel-build-for-install|"
    r"No solution found when resolving dependencies.*|Failed to (?:download|fetch|prepare)"
    r" distributions?.*)$"
)

#: pip's hash errors: a long sentence, then the requirement on the next (indented) line.
_PIP_HASH_ERRORS = (
    ("DO NOT MATCH THE HASHES", "hash mismatch for"),
    ("Hashes are required in --require-hashes mode", "no hash given for"),
)

#: Installer wordings that name a package which could not be found.
_MISSING_NAME = (
    re.compile(r"Because (?P<name>[A-Za-z0-9][A-Za-z0-9._-]*) was not found in the "),
    re.compile(r"Because there is no version of (?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)[=<>!~ ]"),
    re.compile(r"No matching distribution found for (?P<req>\S+)"),
    re.compile(r"Could not find a version that satisfies the requirement (?P<req>\S+)"),
    re.compile(r"Failed to (?:download|fetch) `(?P<req>[^`]+)`"),
)
#: Wordings that name a file or URL which could not be found.
_MISSING_LOCATION = (
    re.compile(r"Distribution not found at: (?P<loc>\S+)"),
    re.compile(r"wasn't found in the cache for: `?(?P<loc>[^`\s]+)"),
    re.compile(r"No such file or directory: '(?P<loc>[^']+)'"),
)
#: Only these mean "missing"; a download failure for another reason (hash mismatch) is not.
_MISSING_HINT = re.compile(
    r"was not found in the|there is no version of|No matching distribution|"
    r"Could not find a version|Distribution not found at|wasn't found in the cache|"
    r"No such file or directory"
)


def first_error(lines: tuple[str, ...]) -> str:
    """The first meaningful error line: uv's ``error:`` (made specific by its last
    ``cause:``) or pip's first ``ERROR:``; the last non-empty line when neither exists."""
    upper = [m.group("text").strip() for line in lines if (m := _ERROR.match(line))]
    for index, line in enumerate(lines):
        match = _ERROR.match(line)
        if match is None:
            continue
        text = match.group("text").strip()
        causes = []
        for follow in lines[index + 1 :]:
            cause = _CAUSE.match(follow)
            if cause is not None:
                causes.append(cause.group("text").strip())
            elif follow.strip() and not follow.startswith((" ", "\t")):
                break
        if causes:
            return f"{text}: {causes[-1]}"
        for marker, label in _PIP_HASH_ERRORS:
            if marker in text and index + 1 < len(lines):
                culprit = re.split(r" from | --hash", lines[index + 1].strip())[0]
                return f"{label} {culprit}"
        if _GENERIC.match(text):
            specific = [u for u in upper if not _GENERIC.match(u)]
            if specific:
                return _first_sentence(specific[0])
        return _first_sentence(text)
    for line in reversed(lines):
        if line.strip():
            return line.strip()
    return "no output"


def _first_sentence(text: str) -> str:
    return text.split(". ", maxsplit=1)[0] if len(text) > 120 else text


def requirement_name(line: str) -> str | None:
    """The normalized project name of a requirement line (``None`` for ``-e``/paths)."""
    text = _strip_options(line)
    if not text or text.startswith("-"):
        return None
    try:
        return canonicalize_name(Requirement(text).name)
    except InvalidRequirement:
        return None


def _strip_options(line: str) -> str:
    return re.split(r"\s+--?[a-z]", " " + line.strip())[0].strip() if line.strip() else ""


def _name_from_location(location: str) -> str | None:
    path = unquote(urlsplit(location).path) if "://" in location else location
    parts = [p for p in path.rstrip("/").split("/") if p]
    if not parts:
        return None
    filename = parts[-1]
    try:
        return canonicalize_name(parse_wheel_filename(filename)[0])
    except InvalidWheelFilename:
        pass
    try:
        return canonicalize_name(parse_sdist_filename(filename)[0])
    except InvalidSdistFilename:
        pass
    if len(parts) >= 2 and parts[-2] == "simple":
        return canonicalize_name(filename)
    return None


def _missing(lines: tuple[str, ...], plan: InstallPlan) -> str | None:
    """The plan's requirement (without options) that the installer could not find."""
    text = "\n".join(lines)
    if not _MISSING_HINT.search(text):
        return None
    by_name = {
        name: _strip_options(req)
        for req in plan.requirements
        if (name := requirement_name(req)) is not None
    }
    for pattern in _MISSING_LOCATION:
        for match in pattern.finditer(text):
            location = match.group("loc").rstrip(".,;")
            for req in plan.requirements:
                if location in req or unquote(location) in unquote(req):
                    return _strip_options(req)
            name = _name_from_location(location)
            if name in by_name:
                return by_name[name]
    for pattern in _MISSING_NAME:
        for match in pattern.finditer(text):
            if "name" in match.groupdict():
                name = canonicalize_name(match.group("name"))
                return by_name.get(name, match.group("name"))
            found = requirement_name(match.group("req"))
            if found is not None and found in by_name:
                return by_name[found]
            return match.group("req")
    return None


def _local_dirs(plan: InstallPlan) -> list[Path]:
    dirs = []
    for link in plan.index.find_links:
        if link.startswith("file://"):
            dirs.append(file_url_path(link))
        elif "://" not in link:
            dirs.append(Path(link))
    return [d for d in dirs if d.is_dir()]


def missing_locally(plan: InstallPlan) -> tuple[str, ...]:
    """The plan's pins that no local file provides (find-links dirs, ``file:`` URLs)."""
    available: set[tuple[str, str]] = set()
    for directory in _local_dirs(plan):
        for entry in directory.iterdir():
            try:
                name, version, *_ = parse_wheel_filename(entry.name)
            except InvalidWheelFilename:
                try:
                    name, version = parse_sdist_filename(entry.name)
                except InvalidSdistFilename:
                    continue
            available.add((name, str(version)))
    missing = []
    for line in plan.requirements:
        text = _strip_options(line)
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        if req.url is not None:
            if urlsplit(req.url).scheme == "file" and not file_url_path(req.url).exists():
                missing.append(text)
            continue
        pinned = [s.version for s in req.specifier if s.operator in ("==", "===")]
        name = canonicalize_name(req.name)
        if pinned and not any(
            (name, v) in available or (name, _normal(v)) in available for v in pinned
        ):
            missing.append(text)
    return tuple(missing)


def _normal(version: str) -> str:
    try:
        return str(Version(version))
    except InvalidVersion:
        return version


def _missing_message(requirement: str, plan: InstallPlan) -> str:
    origin = f" (from {plan.origin})" if plan.origin else ""
    if plan.index.offline:
        return (
            f"offline: no local copy of '{requirement}'{origin}; "
            "run once online or drop --ws-offline"
        )
    if plan.index.no_index:
        links = ", ".join(plan.index.find_links) or "none"
        return (
            f"no local copy of '{requirement}'{origin} in the find-links directories "
            f"({links}) and package indexes are disabled (no-index)"
        )
    return f"'{requirement}'{origin} was not found on the configured package indexes"


def failure(action: str, output: Output, plan: InstallPlan, *, where: Path | None) -> EnvBuildError:
    """The EnvBuildError for a failed ``action`` (e.g. ``"uv pip install"``)."""
    missing = _missing(output.lines, plan)
    if missing is not None:
        message = _missing_message(missing, plan)
    else:
        message = f"{action} failed: {first_error(output.lines)}"
        if plan.index.offline or plan.index.no_index:
            absent = missing_locally(plan)
            if absent:
                message += f" (no local copy of: {', '.join(absent)})"
    return EnvBuildError(message, path=where, log_tail=output.tail())
