"""End to end: ``--ws-shard`` splits a member heavier than a fair share by test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_wsenv.ci import TEST_DURATIONS_KEY, combine_reports

from .conftest import MakeWorkspace

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _member(name: str, tests: str) -> dict[str, str]:
    module = name.replace("-", "_")
    return {
        f"packages/{name}/pyproject.toml": f"""
            [project]
            name = "{name}"
            version = "0.1.0"
            requires-python = ">=3.11"
            {{BUILD_SYSTEM}}
        """,
        f"packages/{name}/src/{module}/__init__.py": "",
        f"packages/{name}/tests/test_{module}.py": tests,
    }


BIG_TESTS = "".join(
    f"def test_big_{i:02d}():\n    assert {i} != {'7' if i == 7 else '-1'}\n" for i in range(12)
)
WORKSPACE = {
    "pyproject.toml": """
        [project]
        name = "gull"
        version = "0.1.0"
        requires-python = ">=3.11"
        [tool.uv.workspace]
        members = ["packages/*"]
        [dependency-groups]
        dev = ["pytest"]
        {BUILD_SYSTEM}
    """,
    "tests/test_root.py": "def test_root():\n    pass\n",
    **_member("big", BIG_TESTS),  # 12 tests, one failing: more than a fair share
    **_member("small-a", "def test_a1():\n    pass\ndef test_a2():\n    pass\n"),
    **_member("small-b", "def test_b1():\n    pass\ndef test_b2():\n    pass\n"),
}
BIG = "packages/big/tests/test_big.py"


@pytest.fixture
def gull(make_workspace: MakeWorkspace, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = make_workspace(WORKSPACE)
    monkeypatch.chdir(root)
    return root


def _ids(result: pytest.RunResult) -> list[str]:
    return [
        line.split(" ")[0]
        for line in result.outlines
        if line.endswith("]") and (" PASSED" in line or " FAILED" in line)
    ]


def _run(
    pytester: pytest.Pytester, root: Path, cache: str, *args: str
) -> tuple[pytest.RunResult, list[str]]:
    result = pytester.runpytest(
        "--ws-isolated", "-v", "-p", "no:randomly", "-o", f"cache_dir={root / cache}", *args
    )
    return result, _ids(result)


def test_shards_split_the_big_member_and_combine_to_the_whole(
    pytester: pytest.Pytester, gull: Path
) -> None:
    reports = gull / "reports"
    whole, everything = _run(pytester, gull, "c-whole", f"--junitxml={reports / 'whole.xml'}")
    whole.assert_outcomes(passed=16, failed=1)
    assert len(everything) == 17
    shards: list[list[str]] = []
    for k in (1, 2, 3):
        result, ids = _run(
            pytester,
            gull,
            f"c-{k}",
            "--ws-shard",
            f"{k}/3",
            f"--junitxml={reports / 'shards' / f'{k}.xml'}",
            "-o",
            f"junit_suite_name=shard {k}/3 py3.11",
        )
        # 17 tests by count, a fair share is 17/3: big (12) is cut in 3 parts of 4
        result.stdout.fnmatch_lines(
            [f"wsenv: big* split by test into 3 parts: shard {k}/3 runs part {k}"]
        )
        assert len([i for i in ids if i.startswith(BIG)]) == 4
        result.stdout.fnmatch_lines(["*collected * items / 8 deselected / * selected"])
        result.stdout.fnmatch_lines(["big py3.11*: big-py3.11-* 4 tests*"])
        shards.append(ids)
    together = [i for ids in shards for i in ids]
    assert sorted(together) == sorted(everything)  # every test exactly once
    # the small members stay whole, each in one shard
    for prefix in ("packages/small-a/", "packages/small-b/"):
        assert sum(any(i.startswith(prefix) for i in ids) for ids in shards) == 1
    # the parts are contiguous runs of the sorted ids
    assert [[i for i in ids if i.startswith(BIG)] for ids in shards] == [
        sorted(i for i in everything if i.startswith(BIG))[p * 4 : p * 4 + 4] for p in range(3)
    ]
    combined = combine_reports(sorted((reports / "shards").glob("*.xml")))
    alone = combine_reports([reports / "whole.xml"])
    assert not combined.duplicates
    assert dict(combined.counts) == dict(alone.counts)
    assert sorted(c.id for s in combined.suites for c in s.cases) == sorted(
        c.id for s in alone.suites for c in s.cases
    )
    # each session recorded its tests' seconds, by node id
    recorded = json.loads((gull / "c-2" / "v" / TEST_DURATIONS_KEY).read_text())
    assert set(recorded) == set(shards[1])
    # a part's seconds are not the member's: no member duration for big from a shard
    members = json.loads((gull / "c-2" / "v" / "wsenv" / "durations").read_text())
    assert not any(key.startswith("big") for key in members)


def test_recorded_test_durations_move_the_split(pytester: pytest.Pytester, gull: Path) -> None:
    big = [f"{BIG}::test_big_{i:02d}" for i in range(12)]
    durations = {nodeid: 0.01 for nodeid in big}
    durations[big[0]] = 5.0  # the first test alone outweighs a part
    parts: list[list[str]] = []
    for k in (1, 2, 3):
        cache = gull / f"c-{k}" / "v" / TEST_DURATIONS_KEY
        cache.parent.mkdir(parents=True)
        cache.write_text(json.dumps(durations))
        _, ids = _run(pytester, gull, f"c-{k}", "--ws-shard", f"{k}/3")
        parts.append([i for i in ids if i.startswith(BIG)])
    assert parts[0] == [big[0]]
    assert sorted(parts[1] + parts[2]) == big[1:]
    assert [len(p) for p in parts] != [4, 4, 4]


def test_k_and_lf_apply_within_a_shard(pytester: pytest.Pytester, gull: Path) -> None:
    _, everything = _run(pytester, gull, "c-whole", "-k", "big and not test_big_00")
    assert len(everything) == 11
    union: list[str] = []
    for k in (1, 2):
        result, ids = _run(pytester, gull, f"c-{k}", "--ws-shard", f"{k}/2", "-k", "big")
        union += ids
        assert ids
        if f"{BIG}::test_big_07" in ids:
            holder = k
    # -k selects in each shard first; the split is over what -k selected
    assert sorted(i for i in union if i != f"{BIG}::test_big_00") == sorted(everything)
    result, ids = _run(pytester, gull, f"c-{holder}", "--ws-shard", f"{holder}/2", "--lf")
    assert ids == [f"{BIG}::test_big_07"]
    result.assert_outcomes(failed=1)
