"""End to end: ``matrix --shards N`` plans parts of a heavy member, and each planned job's
``--ws-part`` flags run exactly its part."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

from pytest_wsenv.ci import DURATIONS_KEY, combine_reports
from pytest_wsenv.cli import main

from .conftest import MakeWorkspace
from .support.pythons import second_python
from .test_shard_split import BIG, WORKSPACE, _ids

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


@pytest.fixture
def gull(make_workspace: MakeWorkspace, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = make_workspace(WORKSPACE)
    monkeypatch.chdir(root)
    return root


def _plan(capsys: pytest.CaptureFixture[str], root: Path, *argv: str) -> list[dict[str, str]]:
    argv = ("-C", str(root), "matrix", "--format", "github", "--python", PYTHON, *argv)
    capsys.readouterr()  # what in-process pytest runs printed before
    assert main(list(argv)) == 0
    include: list[dict[str, str]] = json.loads(capsys.readouterr().out)["include"]
    return include


def _pytest(pytester: pytest.Pytester, root: Path, cache: str, *args: str) -> pytest.RunResult:
    return pytester.runpytest(*args, "-v", "-p", "no:randomly", "-o", f"cache_dir={root / cache}")


def test_planned_shard_jobs_run_every_test_once_and_combine_to_the_whole(
    pytester: pytest.Pytester, gull: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = gull / "reports"
    whole = _pytest(pytester, gull, "c-whole", "--ws-isolated", f"--junitxml={reports / 'w.xml'}")
    whole.assert_outcomes(passed=16, failed=1)
    everything = _ids(whole)
    assert len(everything) == 17

    # 17 tests by count, a fair share is 17/3: big (12) is cut in 3 parts of 4, one a shard
    include = _plan(capsys, gull, "--shards", "3")
    assert [(e["name"], e["members"]) for e in include] == [
        (f"shard 1/3 py{PYTHON}", "big[1/3] small-a"),
        (f"shard 2/3 py{PYTHON}", "big[2/3] small-b"),
        (f"shard 3/3 py{PYTHON}", "big[3/3] gull"),
    ]
    assert include[0]["args"] == (
        f"--ws-package big --ws-package small-a --ws-part big:1/3 --ws-python {PYTHON}"
    )
    matrix = gull / "matrix.json"
    matrix.write_text(json.dumps({"include": include}))

    shards: list[list[str]] = []
    for k, entry in enumerate(include, start=1):
        result = _pytest(
            pytester,
            gull,
            f"c-{k}",  # each job its own cache, as CI jobs have
            *shlex.split(entry["args"]),
            f"--junitxml={reports / 'shards' / f'{k}.xml'}",
            "-o",
            f"junit_suite_name={entry['name']}",
        )
        assert result.ret in (0, 1)
        result.stdout.fnmatch_lines(
            [
                f"wsenv: big split by test into 3 parts: --ws-part runs part {k}",
                "*collected * items / 8 deselected / * selected",
            ]
        )
        ids = _ids(result)
        assert len([i for i in ids if i.startswith(BIG)]) == 4
        shards.append(ids)
        # a part's seconds are not the member's: no member duration for big from a part
        members = json.loads((gull / f"c-{k}" / "v" / DURATIONS_KEY).read_text())
        assert "big" not in members
    together = [i for ids in shards for i in ids]
    assert sorted(together) == sorted(everything)  # every test exactly once
    # the parts are contiguous runs of big's sorted test ids
    assert [[i for i in ids if i.startswith(BIG)] for ids in shards] == [
        sorted(i for i in everything if i.startswith(BIG))[p * 4 : p * 4 + 4] for p in range(3)
    ]

    combined = gull / "combined.xml"
    capsys.readouterr()
    code = main(
        ["combine", str(reports / "shards"), "--matrix", str(matrix), "--junit-xml", str(combined)]
    )
    out = capsys.readouterr().out
    assert code == 1  # big's test_big_07 fails, in the unsharded run as in its shard
    assert "MISSING" not in out and "DUPLICATE" not in out
    assert "1 failed, 16 passed in " in out and "(3 reports)" in out
    merged, alone = combine_reports([combined]), combine_reports([reports / "w.xml"])
    assert not merged.duplicates and not merged.missing
    assert dict(merged.counts) == dict(alone.counts)
    assert sorted(c.id for s in merged.suites for c in s.cases) == sorted(
        c.id for s in alone.suites for c in s.cases
    )


def test_ws_part_takes_several_parts(pytester: pytest.Pytester, gull: Path) -> None:
    first = _ids(_pytest(pytester, gull, "c1", "--ws-package", "big", "--ws-part", "big:1/3"))
    rest = _ids(
        _pytest(
            pytester, gull, "c2", "--ws-part", "big:3/3", "--ws-package", "big", "--ws-part=big:2/3"
        )
    )
    assert len(first) == 4 and len(rest) == 8
    assert sorted(first + rest) == sorted(f"{BIG}::test_big_{i:02d}" for i in range(12))
    # without --ws-package every member runs, big only in part
    result = _pytest(pytester, gull, "c3", "--ws-part", "big:2/3")
    result.assert_outcomes(passed=8, failed=1)  # 4 of big (with test_big_07, failing) + 5


def test_ws_part_names_a_member_or_one_run_key(pytester: pytest.Pytester, gull: Path) -> None:
    other = second_python()
    if other is None:
        pytest.skip("no second CPython (3.12 or 3.13) found")
    two = ("--ws-package", "big", "--ws-python", PYTHON, "--ws-python", other)
    # a member name: each interpreter's run of it is cut alike
    ids = _ids(_pytest(pytester, gull, "c1", *two, "--ws-part", "big:1/3"))
    assert sorted(ids) == sorted(
        f"{BIG}::test_big_{i:02d}@py{python}" for i in range(4) for python in (PYTHON, other)
    )
    # a run key: only that run
    result = _pytest(pytester, gull, "c2", *two, "--ws-part", f"big@py{other}:3/3")
    ids = _ids(result)
    assert len([i for i in ids if i.endswith(f"@py{PYTHON}")]) == 12
    assert sorted(i for i in ids if i.endswith(f"@py{other}")) == sorted(
        f"{BIG}::test_big_{i:02d}@py{other}" for i in range(8, 12)
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--ws-part", "big"), "--ws-part 'big' must look like MEMBER:I/N, e.g. big:1/3"),
        (("--ws-part", "big:4/3"), "--ws-part 'big:4/3': I must be between 1 and N*"),
        (("--ws-part", "big:0/0"), "--ws-part 'big:0/0': I must be between 1 and N*"),
        (("--ws-part", ":1/2"), "--ws-part ':1/2' must look like MEMBER:I/N*"),
        (
            ("--ws-part", "albatross:1/2"),
            "*--ws-part albatross:1/2: 'albatross' is no workspace member (members: *big*)",
        ),
        (
            ("--ws-package", "small-a", "--ws-part", "big:1/2"),
            "*--ws-part big:1/2: member 'big' is not selected in this session (selected: "
            "small-a); select it, e.g. with --ws-package big",
        ),
        (
            ("--ws-part", "big:1/3", "--ws-part", "big:2/2"),
            "*--ws-part big:2/2: big is already cut into 3 parts by --ws-part big:1/3*",
        ),
        (
            ("--ws-shard", "1/3", "--ws-part", "big:1/3"),
            "*--ws-part cannot be combined with --ws-shard*",
        ),
    ],
)
def test_bad_ws_part_is_one_usage_error(
    pytester: pytest.Pytester, gull: Path, args: tuple[str, ...], message: str
) -> None:
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: pytest-wsenv: {message.lstrip('*')}*"])
    assert "Traceback" not in result.stderr.str()
