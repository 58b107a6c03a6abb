"""Split a selection of member runs into N disjoint shards of similar duration.

Weights come from the durations pytest-wsenv records in the pytest cache under
:data:`DURATIONS_KEY` (``{member run key: seconds}``); a run never timed counts by its
number of tests, converted to seconds at the average rate of the timed runs. The split
is greedy longest-processing-time first with a stable tie-break, so the same weights
always give the same shards, whatever order they come in.
"""

from __future__ import annotations

import ast
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from ..errors import SelectionError
from ..workspace import Member, Workspace

__all__ = [
    "DURATIONS_KEY",
    "assign_shards",
    "count_tests",
    "member_weights",
    "parse_shard",
    "read_durations",
    "select_shard",
    "valid_durations",
]

#: ``config.cache`` key of ``{member run key: seconds}`` from earlier runs.
DURATIONS_KEY = "wsenv/durations"

_SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*\Z")
_SKIP_DIRS = frozenset({"node_modules", "__pycache__", "build", "dist"})


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` -> ``(2, 4)``; SelectionError unless ``1 <= K <= N``."""
    match = _SHARD.match(text)
    if match is None:
        raise SelectionError(f"shard {text!r} must look like K/N, e.g. 1/4")
    k, n = int(match.group(1)), int(match.group(2))
    if n < 1 or not 1 <= k <= n:
        raise SelectionError(f"shard {text!r}: K must be between 1 and N, and N at least 1")
    return k, n


def assign_shards(weights: Mapping[str, float], n: int) -> list[list[str]]:
    """Partition the keys of ``weights`` into ``n`` lists (some empty when ``n`` is large).

    Heaviest first, each to the least loaded shard (ties: fewer keys, then lower index);
    keys of equal weight go in name order. Each list is sorted by key.
    """
    if n < 1:
        raise SelectionError(f"the number of shards must be at least 1, not {n}")
    for key, weight in weights.items():
        if not math.isfinite(weight) or weight < 0:
            raise SelectionError(f"weight of {key!r} must be a non-negative number, not {weight}")
    loads = [0.0] * n
    shards: list[list[str]] = [[] for _ in range(n)]
    for key in sorted(weights, key=lambda k: (-weights[k], k)):
        index = min(range(n), key=lambda i: (loads[i], len(shards[i]), i))
        loads[index] += weights[key]
        shards[index].append(key)
    return [sorted(shard) for shard in shards]


def select_shard(weights: Mapping[str, float], k: int, n: int) -> list[str]:
    """The keys of shard ``k`` (1-based) of ``n``."""
    if not 1 <= k <= n:
        raise SelectionError(f"shard {k}/{n}: K must be between 1 and N")
    return assign_shards(weights, n)[k - 1]


def _base(key: str) -> str:
    return key.partition("@")[0]


def member_weights(
    keys: Iterable[str],
    durations: Mapping[str, float],
    test_counts: Mapping[str, int],
) -> dict[str, float]:
    """A weight for each member run key (``bird-feeder`` or ``bird-feeder@py3.12``).

    Seconds from ``durations`` by the exact key, else by the member name (the key before
    ``@``), else the mean of the member's other timed keys. A key never timed weighs
    its test count (from ``test_counts`` by key or member name, at least 1) times the
    seconds per test of the timed keys that have counts (1 when there are none).
    """
    keys = list(dict.fromkeys(keys))
    by_base: dict[str, list[float]] = {}
    for key, value in durations.items():
        by_base.setdefault(_base(key), []).append(value)

    def timed(key: str) -> float | None:
        if key in durations:
            return durations[key]
        if _base(key) in durations:
            return durations[_base(key)]
        found = by_base.get(_base(key))
        return sum(found) / len(found) if found else None

    def known(key: str) -> int | None:
        return test_counts.get(key, test_counts.get(_base(key)))

    def count(key: str) -> int:
        return max(1, known(key) or 1)

    seconds = {key: timed(key) for key in keys}
    pairs = [(s, c) for k, s in seconds.items() if s is not None and (c := known(k))]
    total_tests = sum(c for _, c in pairs)
    total_seconds = sum(s for s, _ in pairs)
    rate = total_seconds / total_tests if total_tests and total_seconds > 0 else 1.0
    return {key: s if s is not None else count(key) * rate for key, s in seconds.items()}


def read_durations(cache_dir: Path) -> dict[str, float]:
    """``{member run key: seconds}`` from ``<cache_dir>/v/wsenv/durations``.

    A missing or unreadable file, or entries that are not numbers, count as not timed.
    """
    path = cache_dir / "v" / DURATIONS_KEY
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    return valid_durations(data)


def valid_durations(data: object) -> dict[str, float]:
    """The usable entries of a recorded durations value (``config.cache.get`` result)."""
    if not isinstance(data, dict):
        return {}
    return {
        str(key): float(value)
        for key, value in data.items()
        if isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    }


def _parametrize_size(node: ast.expr) -> int:
    """How many cases a ``@pytest.mark.parametrize(names, [..])`` decorator makes (or 1)."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "parametrize"
        and len(node.args) >= 2
        and isinstance(node.args[1], (ast.List, ast.Tuple))
    ):
        return max(1, len(node.args[1].elts))
    return 1


def _count_functions(body: Sequence[ast.stmt], in_class: bool) -> int:
    total = 0
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith(
            "test"
        ):
            cases = 1
            for decorator in node.decorator_list:
                cases *= _parametrize_size(decorator)
            total += cases
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test") and not in_class:
            total += _count_functions(node.body, True)
    return total


def _count_file(path: Path) -> int:
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return 1
    return _count_functions(tree.body, False)


def count_tests(workspace: Workspace, member: Member) -> int:
    """A static estimate of ``member``'s tests: ``test*`` functions and ``Test*`` methods
    in ``test_*.py``/``*_test.py`` files under its directory (nested members and hidden
    directories left out), each multiplied by literal ``parametrize`` lists."""
    nested = {
        str(m.path)
        for m in workspace.members.values()
        if m.name != member.name and member.path in m.path.parents
    }
    total = 0
    for dirpath, dirnames, filenames in os.walk(member.path):
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not d.startswith(".")
            and d not in _SKIP_DIRS
            and os.path.join(dirpath, d) not in nested
        )
        for filename in sorted(filenames):
            if filename.endswith(".py") and (
                filename.startswith("test_") or filename.endswith("_test.py")
            ):
                total += _count_file(Path(dirpath, filename))
    return total
