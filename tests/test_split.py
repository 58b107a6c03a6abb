"""Shards below member granularity: which parts a shard runs, and which tests form a part."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_wsenv.ci import plan_shard, split_tests
from pytest_wsenv.errors import SelectionError

weights_st = st.dictionaries(
    st.text(alphabet="abcdefgh-@.0123", min_size=1, max_size=8),
    st.floats(min_value=0, max_value=1e4, allow_nan=False, allow_infinity=False),
    max_size=20,
)


@given(weights=weights_st, n=st.integers(min_value=1, max_value=6))
def test_every_run_and_every_part_is_in_exactly_one_shard(
    weights: dict[str, float], n: int
) -> None:
    plans = [plan_shard(weights, k, n) for k in range(1, n + 1)]
    wholes = [key for plan in plans for key in plan.whole]
    assert len(wholes) == len(set(wholes))
    split = {key for plan in plans for key in plan.parts}
    assert not split & set(wholes)
    assert set(wholes) | split == set(weights)
    for key in split:
        counts = {plan.parts[key][1] for plan in plans if key in plan.parts}
        assert len(counts) == 1
        held = sorted(p for plan in plans if key in plan.parts for p in plan.parts[key][0])
        assert held == list(range(counts.pop()))


def test_only_runs_heavier_than_a_fair_share_are_split() -> None:
    weights = {"big": 10.0, "a": 1.0, "b": 1.0, "c": 1.0}  # fair share of 3: 13/3
    plans = [plan_shard(weights, k, 3) for k in (1, 2, 3)]
    assert {p.parts["big"][1] for p in plans if "big" in p.parts} == {3}  # ceil(10 / 4.33)
    assert sorted(k for p in plans for k in p.whole) == ["a", "b", "c"]
    assert all("big" in p.parts for p in plans)
    # one shard: nothing is heavier than the whole
    assert plan_shard(weights, 1, 1).whole == ("a", "b", "big", "c")
    assert not plan_shard(weights, 1, 1).parts
    # a member just above a fair share is cut in two, not in N
    two = [plan_shard({"big": 6.0, "a": 3.5, "b": 0.5}, k, 3) for k in (1, 2, 3)]
    assert [p.parts["big"] for p in two if "big" in p.parts] == [((0,), 2), ((1,), 2)]


def test_a_shard_that_draws_every_part_runs_the_member_whole() -> None:
    # big is cut in two parts of 2.5, and both go to the third shard
    plans = [plan_shard({"big": 5.0, "a": 4.0, "b": 3.0}, k, 3) for k in (1, 2, 3)]
    assert [(p.whole, dict(p.parts)) for p in plans] == [
        (("a",), {}),
        (("b",), {}),
        (("big",), {}),
    ]


def test_a_run_is_cut_in_no_more_parts_than_it_has_tests() -> None:
    weights = {"big": 100.0, "a": 1.0}
    plans = [plan_shard(weights, k, 4, {"big": 2, "a": 1}) for k in (1, 2, 3, 4)]
    assert [p.parts["big"] for p in plans if "big" in p.parts] == [((0,), 2), ((1,), 2)]
    assert not plan_shard({"big": 100.0, "a": 1.0}, 1, 4, {"big": 0}).parts


def test_plan_shard_rejects_a_shard_out_of_range() -> None:
    with pytest.raises(SelectionError, match="between 1 and N"):
        plan_shard({"a": 1.0}, 3, 2)


@given(
    ids=st.lists(st.text(alphabet="abc/:[]0123", min_size=1, max_size=6), max_size=40),
    parts=st.integers(min_value=1, max_value=6),
    timed=st.floats(min_value=0, max_value=100, allow_nan=False),
)
def test_split_tests_is_a_partition_in_sorted_runs(
    ids: list[str], parts: int, timed: float
) -> None:
    durations = {i: timed for i in ids[::3]}
    result = split_tests(ids, durations, parts)
    assert len(result) == parts
    flat = [i for part in result for i in part]
    assert flat == sorted(set(ids))  # contiguous, in order, each once
    assert split_tests(list(reversed(ids)), durations, parts) == result


def test_split_tests_counts_tests_without_durations() -> None:
    ids = [f"t.py::test_{i}" for i in range(6)]
    assert [len(p) for p in split_tests(ids, {}, 3)] == [2, 2, 2]
    assert [len(p) for p in split_tests(ids[:4], {}, 3)] == [2, 1, 1]
    assert [len(p) for p in split_tests(ids[:2], {}, 3)] == [1, 1, 0]


def test_recorded_durations_move_the_cut() -> None:
    ids = [f"t.py::test_{i}" for i in range(6)]
    slow_first = split_tests(ids, {ids[0]: 10.0, **{i: 1.0 for i in ids[1:]}}, 2)
    assert slow_first == [[ids[0]], ids[1:]]
    slow_last = split_tests(ids, {ids[-1]: 10.0, **{i: 1.0 for i in ids[:-1]}}, 2)
    assert slow_last == [ids[:-1], [ids[-1]]]
    # untimed tests weigh the mean of the timed ones
    assert split_tests(ids, {ids[0]: 3.0, ids[1]: 3.0}, 2) == [ids[:3], ids[3:]]


def test_split_tests_needs_a_part() -> None:
    with pytest.raises(SelectionError):
        split_tests(["a"], {}, 0)
