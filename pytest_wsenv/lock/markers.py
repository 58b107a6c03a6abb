"""PEP 508 markers as uv writes them in ``uv.lock``, evaluated with ``packaging.markers``.

uv encodes "this extra/group/project of a workspace member is active" (conflict markers)
as ``extra == 'extra-4-root-cpu'``, ``extra == 'group-4-root-dev'`` or
``extra == 'project-4-root'``, and one marker may test several of them. ``packaging`` has
a single ``extra`` value, so each such test is replaced by a constant-valued one before
evaluation; everything else is evaluated by ``packaging`` itself.

:func:`equivalent` decides whether two markers mean the same (uv rewrites
``python_version == '3.13'`` to ``python_full_version == '3.13.*'`` in its metadata) by
evaluating both on every combination of the boundary values they mention.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet

from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

__all__ = ["MarkerEvaluator", "encode_extra", "encode_group", "encode_project", "equivalent"]

_CONFLICT_TEST = re.compile(r"""\bextra\s*(==|!=)\s*(?:'([^']*)'|"([^"]*)")""")
_ON = "wsenv-on"


class MarkerFailure(ValueError):
    """A marker that ``packaging`` cannot parse or evaluate (reported by the caller)."""


def encode_extra(package: str, extra: str) -> str:
    return f"extra-{len(package)}-{package}-{extra}"


def encode_group(package: str, group: str) -> str:
    return f"group-{len(package)}-{package}-{group}"


def encode_project(package: str) -> str:
    return f"project-{len(package)}-{package}"


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> Marker:
    try:
        return Marker(text)
    except InvalidMarker as exc:
        raise MarkerFailure(f"invalid marker {text!r}: {exc}") from exc


@functools.lru_cache(maxsize=4096)
def _conflict_values(text: str) -> tuple[str, ...]:
    return tuple(
        sorted({(m.group(2) or m.group(3) or "").lower() for m in _CONFLICT_TEST.finditer(text)})
    )


def _substitute(text: str, active: frozenset[str]) -> str:
    def repl(match: re.Match[str]) -> str:
        value = (match.group(2) or match.group(3) or "").lower()
        truth = (value in active) == (match.group(1) == "==")
        return f"extra {'==' if truth else '!='} '{_ON}'"

    return _CONFLICT_TEST.sub(repl, text)


def _evaluate(marker: Marker, env: Mapping[str, str]) -> bool:
    try:
        return marker.evaluate(dict(env))
    except (UndefinedComparison, UndefinedEnvironmentName, InvalidVersion, TypeError) as exc:
        raise MarkerFailure(f"cannot evaluate marker {str(marker)!r}: {exc}") from exc


class MarkerEvaluator:
    """Evaluate lock markers for one interpreter, caching by marker text.

    ``active`` is the set of encoded conflict items (see :func:`encode_extra`) that hold;
    it may grow between calls (the closure walk activates extras as it goes).
    """

    __slots__ = ("_cache", "_env")

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = {**env, "extra": _ON}
        self._cache: dict[tuple[str, frozenset[str]], bool] = {}

    def __call__(self, text: str | None, active: AbstractSet[str] = frozenset()) -> bool:
        if not text:
            return True
        values = _conflict_values(text)
        relevant = frozenset(v for v in values if v in active) if values else frozenset()
        key = (text, relevant)
        hit = self._cache.get(key)
        if hit is None:
            parsed = _parse(_substitute(text, relevant) if values else text)
            hit = self._cache[key] = _evaluate(parsed, self._env)
        return hit


# --- semantic equality -------------------------------------------------------------------

_VERSION_VARS = frozenset({"python_version", "python_full_version", "implementation_version"})
_ATOM = re.compile(
    r"""(?P<var>[a-z_]+)\s*(?:===|==|!=|<=|>=|~=|<|>|not\s+in|in)\s*(?:'(?P<v1>[^']*)'|"(?P<v2>[^"]*)")"""
    r"""|(?:'(?P<v3>[^']*)'|"(?P<v4>[^"]*)")\s*(?:not\s+in|in|==|!=)\s*(?P<var2>[a-z_]+)"""
)


def _version_samples(literals: Iterable[str]) -> list[str]:
    """Versions just below, at and just above every literal (and a wildcard's series)."""
    out = {"2.7.0", "3.0.0", "99.0.0"}
    for raw in literals:
        text = raw.rstrip("*").rstrip(".")
        try:
            v = Version(text)
        except InvalidVersion:
            continue
        rel = [*v.release, 0, 0][:3]
        major, minor, micro = rel
        out.update(
            {
                f"{major}.{minor}.{micro}",
                f"{major}.{minor}.{micro + 1}",
                f"{major}.{minor + 1}.0",
                f"{major}.{max(minor - 1, 0)}.99",
                f"{major + 1}.0.0",
                f"{max(major - 1, 0)}.99.0",
            }
        )
        if micro:
            out.add(f"{major}.{minor}.{micro - 1}")
    return sorted(out, key=Version)


def equivalent(
    a: str | None, b: str | None, *, requires_python: str | None = None, limit: int = 4096
) -> bool:
    """True when markers ``a`` and ``b`` agree on every environment that matters.

    Both are evaluated on the cross product of the values they compare against (each
    string variable: its literals plus one unlisted value; Python versions: points at and
    around each literal, with ``python_version`` derived from ``python_full_version``).
    ``extra`` is a variable like any other. Points outside ``requires_python`` are skipped
    (uv may simplify a marker under it). Falls back to comparing the normalized text when
    the product would exceed ``limit`` points.
    """
    if not a or not b:
        return not (a or "").strip() and not (b or "").strip()
    try:
        ma, mb = _parse(a), _parse(b)
    except MarkerFailure:
        return a.strip() == b.strip()
    if str(ma) == str(mb):
        return True
    literals: dict[str, set[str]] = {}
    for match in itertools.chain(_ATOM.finditer(str(ma)), _ATOM.finditer(str(mb))):
        var = match.group("var") or match.group("var2")
        value = next(v for v in match.group("v1", "v2", "v3", "v4") if v is not None)
        literals.setdefault(var, set()).add(value)
    axes: list[tuple[str, list[str]]] = []
    versions = set()
    for var, values in literals.items():
        if var in _VERSION_VARS:
            versions |= values
        else:
            axes.append((var, [*sorted(values), "\x00unlisted"]))
    if versions:
        axes.append(("python_full_version", _version_samples(versions)))
    size = 1
    for _, points in axes:
        size *= len(points)
    if size > limit:
        return str(ma) == str(mb)
    names = [name for name, _ in axes]
    python = _specifier(requires_python)
    for combo in itertools.product(*(values for _, values in axes)):
        env = dict(zip(names, combo, strict=True))
        full = env.get("python_full_version", "3.12.0")
        if python is not None and not python.contains(full, prereleases=True):
            continue
        env.setdefault("python_full_version", full)
        env["python_version"] = ".".join(full.split(".")[:2])
        env.setdefault("implementation_version", full)
        env.setdefault("extra", "")
        try:
            if _evaluate(ma, env) != _evaluate(mb, env):
                return False
        except MarkerFailure:
            return str(ma) == str(mb)
    return True


def _specifier(text: str | None) -> SpecifierSet | None:
    if not text:
        return None
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        return None
