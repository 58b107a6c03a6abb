"""Shards below member granularity: a member heavier than a fair share is split by test.

:func:`plan_shard` decides, from the member weights of :func:`~.shards.member_weights`,
what shard K of N runs: whole members, and parts of the members that weigh more than a
fair share (the total over N). Such a member is cut into ``ceil(weight / fair share)``
parts of equal weight (at most N), and the parts are assigned with the whole members,
heaviest first, to the least loaded shard, as :func:`~.shards.assign_shards` does; a
shard that draws every part of a member runs it whole.

Which tests make up each part is only known once the member's child has collected:
:func:`split_tests` cuts the member's sorted test ids into contiguous parts of similar
duration, from the seconds per test recorded in the pytest cache under
:data:`TEST_DURATIONS_KEY` (``{node id: seconds}``); a test never timed weighs the mean
of the member's timed tests (1 when none is). Every shard computes the same split from
the same inputs, without talking to the others.

:func:`shard_jobs` plans the shard jobs of ``pytest-wsenv matrix --shards N`` with the
same :func:`plan_shard`: each job names its whole members with ``--ws-package`` and each
part it runs of a split member with ``--ws-part MEMBER:I/N`` (:func:`parse_part`), which
the job's session cuts from the collected tests by :func:`split_tests`, as a
``--ws-shard`` session does.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from ..errors import SelectionError
from .matrix import Job
from .shards import assign_shards

__all__ = [
    "TEST_DURATIONS_KEY",
    "ShardPlan",
    "parse_part",
    "plan_shard",
    "shard_jobs",
    "split_tests",
]

#: ``config.cache`` key of ``{test node id: seconds}`` from earlier runs.
TEST_DURATIONS_KEY = "wsenv/test-durations"

_PART = re.compile(r"(?P<name>.*):\s*(?P<part>\d+)\s*/\s*(?P<count>\d+)\s*\Z")


@dataclass(frozen=True)
class ShardPlan:
    """What one shard runs: whole run keys, and parts of split run keys."""

    whole: tuple[str, ...]
    # split run key -> (the 0-based parts this shard runs, the number of parts)
    parts: Mapping[str, tuple[tuple[int, ...], int]] = field(
        default_factory=lambda: MappingProxyType({})
    )

    @property
    def keys(self) -> tuple[str, ...]:
        """Every run key the shard runs, whole or in part, sorted."""
        return tuple(sorted({*self.whole, *self.parts}))


def _part_count(weight: float, fair: float, n: int, tests: int | None) -> int:
    if fair <= 0 or weight <= fair:
        return 1
    return max(1, min(n, math.ceil(weight / fair), n if tests is None else tests))


def plan_shard(
    weights: Mapping[str, float],
    k: int,
    n: int,
    tests: Mapping[str, int] | None = None,
) -> ShardPlan:
    """Shard ``k`` (1-based) of ``n`` over the run keys of ``weights``.

    ``tests`` (by run key) caps how many parts a run is cut into: a part without a test
    would leave a shard with nothing to run.
    """
    if not 1 <= k <= n:
        raise SelectionError(f"shard {k}/{n}: K must be between 1 and N")
    fair = sum(weights.values()) / n
    pieces: dict[str, float] = {}
    owner: dict[str, tuple[str, int, int]] = {}  # piece name -> (run key, part, parts)
    for key, weight in weights.items():
        count = _part_count(weight, fair, n, (tests or {}).get(key))
        if count == 1:
            pieces[key] = weight
            continue
        for part in range(count):
            # "\0" sorts before any character of a key: pieces never collide with keys
            name = f"{key}\0{part:04d}"
            pieces[name] = weight / count
            owner[name] = (key, part, count)
    chosen = assign_shards(pieces, n)[k - 1]
    whole = [name for name in chosen if name not in owner]
    parts: dict[str, tuple[list[int], int]] = {}
    for name in chosen:
        if name in owner:
            key, part, count = owner[name]
            parts.setdefault(key, ([], count))[0].append(part)
    # a shard that drew every part of a run runs it whole
    whole += [key for key, (held, count) in parts.items() if len(held) == count]
    return ShardPlan(
        whole=tuple(sorted(whole)),
        parts=MappingProxyType(
            {
                key: (tuple(sorted(held)), count)
                for key, (held, count) in parts.items()
                if len(held) < count
            }
        ),
    )


def _fill(weights: Sequence[float], cap: float, parts: int) -> list[int] | None:
    """The part of each weight, filling parts in order up to ``cap`` (None: too many
    parts). A part is also closed when the weights left are just enough to give every
    part after it one."""
    index, load = 0, 0.0
    result: list[int] = []
    for position, weight in enumerate(weights):
        started = bool(result) and result[-1] == index
        left = len(weights) - position
        if started and (load + weight > cap or left <= parts - index - 1):
            index, load = index + 1, 0.0
            if index >= parts:
                return None
        result.append(index)
        load += weight
    return result


def split_tests(
    nodeids: Sequence[str], durations: Mapping[str, float], parts: int
) -> list[list[str]]:
    """Cut ``nodeids`` (sorted first) into ``parts`` contiguous lists of similar duration.

    The cut makes the longest part as short as a contiguous cut can (a bisection on the
    longest part's seconds), and leaves no part empty while there are tests enough.
    Contiguous parts keep the tests of one module together as far as the balance allows,
    so module fixtures run in as few parts as possible.
    """
    if parts < 1:
        raise SelectionError(f"the number of parts must be at least 1, not {parts}")
    ordered = sorted(set(nodeids))
    timed = [durations[i] for i in ordered if i in durations]
    default = sum(timed) / len(timed) if timed else 1.0
    weights = [durations.get(i, default) for i in ordered]
    if sum(weights) <= 0:  # nothing timed above zero: count tests
        weights = [1.0] * len(ordered)
    result: list[list[str]] = [[] for _ in range(parts)]
    if not ordered:
        return result
    low, high = max(weights), sum(weights)
    best = _fill(weights, high, parts)
    for _ in range(60):
        if high - low <= 1e-9 * high:
            break
        middle = (low + high) / 2
        found = _fill(weights, middle, parts)
        if found is None:
            low = middle
        else:
            high, best = middle, found
    assert best is not None  # one part per test at most, or everything in the last
    for nodeid, index in zip(ordered, best, strict=True):
        result[index].append(nodeid)
    return result


def parse_part(text: str) -> tuple[str, int, int]:
    """``"big:1/3"`` -> ``("big", 1, 3)``; SelectionError naming ``text`` unless the name is
    not empty and ``1 <= I <= N``."""
    match = _PART.match(text)
    if match is None or not match.group("name").strip():
        raise SelectionError(f"--ws-part {text!r} must look like MEMBER:I/N, e.g. big:1/3")
    part, count = int(match.group("part")), int(match.group("count"))
    if not 1 <= part <= count:
        raise SelectionError(f"--ws-part {text!r}: I must be between 1 and N, and N at least 1")
    return match.group("name").strip(), part, count


def shard_jobs(
    jobs: Sequence[Job],
    n: int,
    weights: Mapping[str, float],
    tests: Mapping[str, int] | None = None,
) -> list[Job]:
    """Fold the single-member jobs without extras into ``n`` shard jobs per python.

    Shard K of a python holds what :func:`plan_shard` gives shard K of ``n`` over that
    python's members: whole members, and parts (``Job.parts``) of the members heavier
    than a fair share, so the planned jobs split as ``--ws-shard K/N`` would. ``weights``
    is by member name (missing members weigh 1), and so are the ``tests`` that cap the
    number of parts of a member. Jobs with extras stay as they are (one
    pytest run cannot give one member two extras sets), after the shards. Empty shards
    (more shards than members and parts) are left out.
    """
    if n < 1:
        raise SelectionError(f"--shards must be at least 1, not {n}")
    by_python: dict[str, list[str]] = {}
    rest: list[Job] = []
    for job in jobs:
        if job.extras or job.shard is not None or len(job.members) != 1:
            rest.append(job)
        else:
            by_python.setdefault(job.python, []).extend(job.members)
    shards: list[Job] = []
    for python, members in by_python.items():
        table = {m: weights.get(m, 1.0) for m in members}
        for k in range(1, n + 1):
            plan = plan_shard(table, k, n, tests)
            if not plan.keys:
                continue
            parts = tuple(
                (member, index + 1, count)
                for member, (held, count) in sorted(plan.parts.items())
                for index in held
            )
            shards.append(Job(plan.keys, (), python, shard=(k, n), parts=parts))
    return shards + rest
