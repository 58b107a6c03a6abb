"""Shards: disjoint, complete, balanced, deterministic; weights from the pytest cache."""

from __future__ import annotations

import json
import random
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_wsenv.ci import (
    DURATIONS_KEY,
    Job,
    assign_shards,
    count_tests,
    member_weights,
    parse_shard,
    plan_shard,
    read_durations,
    select_shard,
    shard_jobs,
)
from pytest_wsenv.cli import main
from pytest_wsenv.errors import SelectionError
from pytest_wsenv.workspace import Workspace

from .support.workspaces import write_workspace

weights_st = st.dictionaries(
    st.text(alphabet="abcdefgh-@.0123", min_size=1, max_size=8),
    st.floats(min_value=0, max_value=1e4, allow_nan=False, allow_infinity=False),
    max_size=30,
)


@given(weights=weights_st, n=st.integers(min_value=1, max_value=8))
def test_shards_are_disjoint_and_complete(weights: dict[str, float], n: int) -> None:
    shards = assign_shards(weights, n)
    assert len(shards) == n
    flat = [key for shard in shards for key in shard]
    assert sorted(flat) == sorted(weights)  # every key once: disjoint and complete
    assert [select_shard(weights, k, n) for k in range(1, n + 1)] == shards


@given(weights=weights_st, n=st.integers(min_value=1, max_value=8))
def test_shards_do_not_depend_on_input_order(weights: dict[str, float], n: int) -> None:
    items = list(weights.items())
    random.Random(len(items)).shuffle(items)
    assert assign_shards(dict(items), n) == assign_shards(weights, n)


@given(weights=weights_st, n=st.integers(min_value=1, max_value=8))
def test_shards_are_balanced(weights: dict[str, float], n: int) -> None:
    shards = assign_shards(weights, n)
    loads = [sum(weights[k] for k in shard) for shard in shards]
    # greedy LPT: no shard exceeds another by more than the heaviest single item
    heaviest = max(weights.values(), default=0.0)
    assert max(loads) - min(loads) <= heaviest + 1e-6


def test_lpt_assignment_and_tie_break() -> None:
    weights = {"a": 5.0, "b": 4.0, "c": 3.0, "d": 3.0, "e": 3.0}
    assert assign_shards(weights, 2) == [["a", "d"], ["b", "c", "e"]]
    # equal weights: name order, round robin over the shards
    assert assign_shards(dict.fromkeys("fedcba", 1.0), 3) == [["a", "d"], ["b", "e"], ["c", "f"]]
    assert assign_shards({"only": 1.0}, 3) == [["only"], [], []]


@pytest.mark.parametrize("bad", [{"a": -1.0}, {"a": float("nan")}, {"a": float("inf")}])
def test_bad_weights(bad: dict[str, float]) -> None:
    with pytest.raises(SelectionError, match="non-negative"):
        assign_shards(bad, 2)


@pytest.mark.parametrize(("text", "expected"), [("1/1", (1, 1)), (" 2 / 4 ", (2, 4))])
def test_parse_shard(text: str, expected: tuple[int, int]) -> None:
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text", ["0/2", "3/2", "1/0", "2", "a/b", "-1/2", "1/2/3"])
def test_parse_shard_rejects(text: str) -> None:
    with pytest.raises(SelectionError, match="shard"):
        parse_shard(text)


def test_assign_shards_needs_one_shard() -> None:
    with pytest.raises(SelectionError, match="at least 1"):
        assign_shards({"a": 1.0}, 0)


def test_member_weights_timed_and_counted() -> None:
    durations = {"a": 10.0, "b@py3.12": 4.0, "b@py3.11": 6.0, "c": 2.0}
    counts = {"a": 5, "c": 5, "d": 3}
    weights = member_weights(["a", "b@py3.11", "b@py3.13", "c@py3.12", "d", "e"], durations, counts)
    assert weights["a"] == 10.0
    assert weights["b@py3.11"] == 6.0  # exact key
    assert weights["b@py3.13"] == 5.0  # mean of the member's other timed keys
    assert weights["c@py3.12"] == 2.0  # by member name
    # untimed: test count at the rate of the timed members that have counts (12s / 10)
    assert weights["d"] == pytest.approx(3 * 1.2)
    assert weights["e"] == pytest.approx(1 * 1.2)


def test_member_weights_without_any_timing_are_test_counts() -> None:
    assert member_weights(["a", "b", "c"], {}, {"a": 7, "b": 0}) == {"a": 7.0, "b": 1.0, "c": 1.0}


def test_read_durations_written_by_pytest_cache(pytester: pytest.Pytester) -> None:
    recorded = {"bird-feeder": 12.5, "seeds@py3.12": 3}
    pytester.makeconftest(
        f"""
        def pytest_sessionfinish(session):
            session.config.cache.set({DURATIONS_KEY!r}, {recorded!r})
        """
    )
    pytester.makepyfile("def test_nothing(): pass")
    pytester.runpytest_subprocess("-p", "no:wsenv").assert_outcomes(passed=1)
    assert read_durations(pytester.path / ".pytest_cache") == {
        "bird-feeder": 12.5,
        "seeds@py3.12": 3.0,
    }


@pytest.mark.parametrize(
    "text",
    ["not json", "[1, 2]", '{"a": "slow", "b": true, "c": -1, "d": NaN, "e": 2}'],
)
def test_read_durations_ignores_corrupt_records(tmp_path: Path, text: str) -> None:
    path = tmp_path / "v" / DURATIONS_KEY
    path.parent.mkdir(parents=True)
    path.write_text(text)
    assert read_durations(tmp_path) == ({"e": 2.0} if text.startswith("{") else {})
    assert read_durations(tmp_path / "missing") == {}


def test_count_tests_is_a_static_estimate(tmp_path: Path) -> None:
    root = write_workspace(
        tmp_path / "ws",
        {
            "pyproject.toml": '[project]\nname = "top"\nversion = "1"\n'
            '[tool.uv.workspace]\nmembers = ["inner"]\n',
            "tests/test_a.py": textwrap.dedent(
                """
                import pytest

                def test_one(): pass
                async def test_two(): pass
                def helper(): pass

                @pytest.mark.parametrize("x", [1, 2, 3])
                @pytest.mark.parametrize("y", (1, 2))
                def test_grid(x, y): pass

                class TestThing:
                    def test_method(self): pass
                    def other(self): pass

                class Helper:
                    def test_not_collected(self): pass
                """
            ),
            "tests/check_test.py": "def test_x(): pass\n",
            "tests/conftest.py": "def test_fixture_like(): pass\n",
            "tests/test_broken.py": "def test_(:\n",
            ".hidden/test_h.py": "def test_h(): pass\n",
            "inner/pyproject.toml": '[project]\nname = "inner"\nversion = "1"\n',
            "inner/test_inner.py": "def test_i(): pass\ndef test_j(): pass\n",
        },
    )
    ws = Workspace.discover(root)
    # 1 + 1 + 6 + 1 in test_a, 1 in check_test, 1 for the unparsable file
    assert count_tests(ws, ws.members["top"]) == 11
    assert count_tests(ws, ws.members["inner"]) == 2


def test_shard_jobs_fold_members_per_python_and_keep_extras_jobs() -> None:
    jobs = [
        Job(("a",), (), "3.11"),
        Job(("a",), ("x",), "3.11"),
        Job(("b",), (), "3.11"),
        Job(("c",), (), "3.11"),
        Job(("a",), (), "3.12"),
        Job(("z",), (), "3.13"),
    ]
    # 3.11: a fair share is 18/2, nothing is heavier; z weighs nothing: no part to make
    shards = shard_jobs(jobs, 2, {"a": 9.0, "b": 4.0, "c": 5.0, "z": 0.0})
    assert shards == [
        Job(("a",), (), "3.11", shard=(1, 2)),
        Job(("b", "c"), (), "3.11", shard=(2, 2)),
        # alone on 3.12, a is heavier than a fair share (9/2): one part in each shard
        Job(("a",), (), "3.12", shard=(1, 2), parts=(("a", 1, 2),)),
        Job(("a",), (), "3.12", shard=(2, 2), parts=(("a", 2, 2),)),
        Job(("z",), (), "3.13", shard=(1, 2)),  # shard 2/2 of 3.13 would be empty
        Job(("a",), ("x",), "3.11"),
    ]
    assert shards[1].args == ("--ws-package", "b", "--ws-package", "c", "--ws-python", "3.11")
    assert shards[2].args == ("--ws-package", "a", "--ws-part", "a:1/2", "--ws-python", "3.12")
    assert shards[2].labels == ("a[1/2]",)
    assert shards[2].name == "shard 1/2 py3.12"


def test_shard_jobs_plan_what_ws_shard_runs() -> None:
    """One rule: shard job K holds what plan_shard gives --ws-shard K/N, parts included."""
    weights = {"big": 10.0, "a": 1.0, "b": 2.0, "c": 1.5}
    jobs = [Job((m,), (), "3.12") for m in weights]
    planned = shard_jobs(jobs, 3, weights)
    assert len(planned) == 3
    for job in planned:
        assert job.shard is not None
        plan = plan_shard(weights, *job.shard)
        assert job.members == plan.keys
        held: dict[str, tuple[list[int], int]] = {}
        for member, part, count in job.parts:
            held.setdefault(member, ([], count))[0].append(part - 1)
        assert {m: (tuple(p), c) for m, (p, c) in held.items()} == dict(plan.parts)
    labels = sorted(label for job in planned for label in job.labels)
    assert labels == ["a", "b", "big[1/3]", "big[2/3]", "big[3/3]", "c"]


def _workspace_with_tests(tmp_path: Path, tests: dict[str, int]) -> Path:
    files = {"pyproject.toml": '[tool.uv.workspace]\nmembers = ["packages/*"]\n'}
    for name, count in tests.items():
        files[f"packages/{name}/pyproject.toml"] = (
            f'[project]\nname = "{name}"\nversion = "1"\nrequires-python = ">=3.12"\n'
        )
        files[f"packages/{name}/tests/test_{name}.py"] = "".join(
            f"def test_{i}(): pass\n" for i in range(count)
        )
    return write_workspace(tmp_path / "ws", files)


def _shards(
    capsys: pytest.CaptureFixture[str], where: Path, *argv: str
) -> list[tuple[str, list[str]]]:
    assert main(["-C", str(where), "matrix", "--format", "github", "--shards", "2", *argv]) == 0
    include = json.loads(capsys.readouterr().out)["include"]
    for entry in include:  # args: the members, then the parts the readable labels name
        labels = entry["members"].split()
        names = dict.fromkeys(label.partition("[")[0] for label in labels)
        parts = [label.replace("[", ":").rstrip("]") for label in labels if "[" in label]
        assert entry["args"].split()[:-2] == [
            *(x for name in names for x in ("--ws-package", name)),
            *(x for part in parts for x in ("--ws-part", part)),
        ]
    return [(e["shard"], e["members"].split()) for e in include]


def test_matrix_shards_balance_by_test_count_then_by_durations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _workspace_with_tests(tmp_path, {"big": 8, "mid": 5, "small": 3, "tiny": 1})
    # never timed: by number of tests, 8+1 against 5+3
    assert _shards(capsys, root) == [("1/2", ["big", "tiny"]), ("2/2", ["mid", "small"])]

    durations = {"big": 1.0, "mid": 30.0, "small": 2.0, "tiny@py3.12": 20.0}
    cache = root / ".pytest_cache" / "v" / DURATIONS_KEY
    cache.parent.mkdir(parents=True)
    cache.write_text(json.dumps(durations))
    # mid (30) is heavier than a fair share (53/2): cut in two, but both parts fall to the
    # same shard, which runs it whole
    expected = [("1/2", ["big", "small", "tiny"]), ("2/2", ["mid"])]
    assert _shards(capsys, root) == expected
    # the same cache given explicitly from elsewhere
    moved = tmp_path / "elsewhere"
    (root / ".pytest_cache").rename(moved)
    assert _shards(capsys, root / "packages", "--cache-dir", str(moved)) == expected
    # mid alone heavier than the rest: its parts are spread over the shards
    (moved / "v" / DURATIONS_KEY).write_text(json.dumps({**durations, "mid": 90.0}))
    assert _shards(capsys, root, "--cache-dir", str(moved), "--shards", "3") == [
        ("1/3", ["mid[1/3]", "tiny"]),
        ("2/3", ["mid[2/3]", "small"]),
        ("3/3", ["big", "mid[3/3]"]),
    ]


def test_matrix_shards_must_be_positive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _workspace_with_tests(tmp_path, {"a": 1})
    assert main(["-C", str(root), "matrix", "--shards", "0"]) == 2
    assert "--shards must be at least 1, not 0" in capsys.readouterr().err
