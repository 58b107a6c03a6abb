"""Per-test durations, and the tests of a split member that belong to other shards.

``--ws-shard K/N`` runs a member heavier than a fair share only in part (see
:mod:`pytest_wsenv.ci.split`), and ``--ws-part MEMBER:I/N`` (what ``pytest-wsenv matrix
--shards`` plans) names such parts itself (:func:`requested_parts`). Which of its tests
form this shard's part is decided once
its child has collected: :class:`ShardSplitter` wraps ``pytest_collection_modifyitems`` just
outside the runner's replay (which adds the stand-ins) and inside ``--lf``/``--ff`` (which
select among what is left), and deselects the stand-ins of the other parts through
``pytest_deselected``, as ``-k`` does. Every session records its tests' seconds (setup,
call and teardown) under :data:`~pytest_wsenv.ci.TEST_DURATIONS_KEY`, merged into the
earlier records, so the next split is by time rather than by count.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence

import pytest
from packaging.utils import canonicalize_name

from ..errors import SelectionError
from ..runner import IsolatedItem
from ..selection import MemberRun
from ..workspace import Workspace

__all__ = ["ShardSplitter", "requested_parts"]

Splits = Mapping[str, tuple[tuple[int, ...], int]]


def requested_parts(
    values: Sequence[str], workspace: Workspace, runs: Sequence[MemberRun]
) -> Splits:
    """``--ws-part`` values -> run key -> (the 0-based parts to run, the number of parts).

    A value names a member (every run of it: each interpreter's) or one run key
    (``big@py3.12``). A name that is no member, a member this session does not select,
    or one member cut into two different numbers of parts is a SelectionError naming
    the value.
    """
    if not values:
        return {}
    from ..ci import parse_part

    held: dict[str, tuple[set[int], int, str]] = {}
    for value in values:
        name, part, count = parse_part(value)
        keys = [r.key for r in runs if r.key == name] or [
            r.key for r in runs if r.member == canonicalize_name(name)
        ]
        if not keys:
            selected = ", ".join(sorted({r.key for r in runs})) or "none"
            if canonicalize_name(name) in workspace.members:
                raise SelectionError(
                    f"--ws-part {value}: member {name!r} is not selected in this session "
                    f"(selected: {selected}); select it, e.g. with --ws-package {name}"
                )
            members = ", ".join(workspace.members) or "none"
            raise SelectionError(
                f"--ws-part {value}: {name!r} is no workspace member (members: {members})"
            )
        for key in keys:
            parts, known, first = held.setdefault(key, (set(), count, value))
            if known != count:
                raise SelectionError(
                    f"--ws-part {value}: {key} is already cut into {known} parts by "
                    f"--ws-part {first}; give every part of a member with the same N"
                )
            parts.add(part - 1)
    return {key: (tuple(sorted(parts)), count) for key, (parts, count, _) in held.items()}


class ShardSplitter:
    """Plugin object: split members' tests by shard, record every test's duration."""

    def __init__(self, config: pytest.Config, splits: Splits) -> None:
        self.config = config
        self.splits = splits
        #: a member's part is chosen from its own tests alone (--ws-stream may run members
        #: as they collect; with splits the isolation asks for the whole collection anyway)
        self.wsenv_sees_members_alone = True
        self._seconds: dict[str, float] = {}

    @pytest.hookimpl(wrapper=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> Generator[None, object, object]:
        result = yield
        if self.splits:
            self._keep_this_shard(items)
        return result

    def _keep_this_shard(self, items: list[pytest.Item]) -> None:
        from ..ci import TEST_DURATIONS_KEY, split_tests, valid_durations

        cache = getattr(self.config, "cache", None)
        durations = valid_durations(cache.get(TEST_DURATIONS_KEY, {}) if cache else {})
        by_key: dict[str, list[str]] = {}
        for item in items:
            if isinstance(item, IsolatedItem) and item.key in self.splits:
                by_key.setdefault(item.key, []).append(item.nodeid)
        keep: set[str] = set()
        for key, nodeids in by_key.items():
            held, count = self.splits[key]
            parts = split_tests(nodeids, durations, count)
            for index in held:
                keep.update(parts[index])
        kept: list[pytest.Item] = []
        dropped: list[pytest.Item] = []
        for item in items:
            if isinstance(item, IsolatedItem) and item.key in by_key and item.nodeid not in keep:
                dropped.append(item)
            else:
                kept.append(item)
        if dropped:
            self.config.hook.pytest_deselected(items=dropped)
            items[:] = kept

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._seconds[report.nodeid] = self._seconds.get(report.nodeid, 0.0) + report.duration

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        cache = getattr(self.config, "cache", None)
        if cache is None or not self._seconds:
            return
        from ..ci import TEST_DURATIONS_KEY, valid_durations

        recorded = valid_durations(cache.get(TEST_DURATIONS_KEY, {}))
        sharded = bool(
            self.config.getoption("ws_shard", None) or self.config.getoption("ws_part", None)
        )
        recorded.update(
            {
                nodeid: round(s, 4)
                for nodeid, s in self._seconds.items()
                # a shard only adds what is missing: the other shards must split alike
                if not (sharded and nodeid in recorded)
            }
        )
        cache.set(TEST_DURATIONS_KEY, recorded)
