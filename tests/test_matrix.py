"""``pytest-wsenv matrix``: jobs per (member, extras, python), [tool.wsenv], output formats."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from pytest_wsenv.ci import (
    GITLAB_MAX_JOBS,
    Job,
    MatrixConfig,
    plan_jobs,
    python_allowed,
    render,
)
from pytest_wsenv.cli import main
from pytest_wsenv.errors import ConfigError, SelectionError
from pytest_wsenv.workspace import Workspace

from .support.workspaces import write_workspace

VIRTUAL_ROOT = """
[tool.uv.workspace]
members = ["packages/*"]
"""


def member(
    name: str,
    requires: str = ">=3.10",
    extras: Mapping[str, list[str]] | None = None,
    deps: tuple[str, ...] = (),
) -> str:
    lines = ["[project]", f'name = "{name}"', 'version = "1.0"', f'requires-python = "{requires}"']
    lines.append("dependencies = [" + ", ".join(json.dumps(d) for d in deps) + "]")
    if extras:
        lines.append("[project.optional-dependencies]")
        lines += [f"{extra} = {json.dumps(reqs)}" for extra, reqs in extras.items()]
    if deps:
        lines.append("[tool.uv.sources]")
        lines += [f"{dep} = {{ workspace = true }}" for dep in deps]
    return "\n".join(lines) + "\n"


def virtual(tmp_path: Path, members: Mapping[str, str], root_extra: str = "") -> Workspace:
    files = {"pyproject.toml": VIRTUAL_ROOT + root_extra}
    files.update({f"packages/{name}/pyproject.toml": text for name, text in members.items()})
    write_workspace(tmp_path / "ws", files)
    return Workspace.discover(tmp_path / "ws")


def cells(workspace: Workspace, **kwargs: object) -> list[tuple[str, tuple[str, ...], str]]:
    plan = plan_jobs(workspace, MatrixConfig.load(workspace), **kwargs)  # type: ignore[arg-type]
    return [(job.members[0], job.extras, job.python) for job in plan.jobs]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- pythons --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "python", "expected"),
    [
        (">=3.10", "3.10", True),
        (">=3.10", "3.9", False),
        (">=3.10.4", "3.10", True),  # some 3.10.x qualifies
        ("<3.10", "3.10", False),
        ("==3.11.*", "3.11", True),
        ("==3.11.*", "3.12", False),
        (">=3.10,!=3.11.*", "3.11", False),
        (">=3.10.4", "3.10.2", False),  # a full version is checked exactly
    ],
)
def test_python_allowed(spec: str, python: str, expected: bool) -> None:
    assert python_allowed(SpecifierSet(spec), python) is expected


def test_default_python_is_lowest_allowed_by_member_and_workspace(tmp_path: Path) -> None:
    ws = virtual(tmp_path, {"old": member("old", ">=3.9"), "new": member("new", ">=3.11")})
    # uv locks for the intersection of requires-python, so 3.9 and 3.10 are out for both
    assert cells(ws) == [("new", (), "3.11"), ("old", (), "3.11")]


def test_requested_pythons_filtered_by_requires_python(tmp_path: Path) -> None:
    ws = virtual(
        tmp_path,
        {"a": member("a", ">=3.10"), "b": member("b", ">=3.11,<3.13")},
    )
    got = cells(ws, pythons=["3.13", "3.10", "3.11", "3.12"])
    assert got == [
        ("a", (), "3.11"),
        ("a", (), "3.12"),
        ("b", (), "3.11"),
        ("b", (), "3.12"),
    ]


def test_member_whose_requires_python_excludes_every_python_gets_no_job(tmp_path: Path) -> None:
    ws = virtual(
        tmp_path,
        {"a": member("a", ">=3.11")},
        '[tool.wsenv.members.a]\npythons = ["3.9", "3.10"]\n',
    )
    plan = plan_jobs(ws, MatrixConfig.load(ws))
    assert plan.jobs == ()
    assert "allows none of 3.9, 3.10" in plan.skipped["a"]


# -- extras ---------------------------------------------------------------------------------


def test_extras_combos_without_config_is_none_plus_each_single_extra(tmp_path: Path) -> None:
    ws = virtual(
        tmp_path,
        {
            "feeder": member("feeder", extras={"Torch": [], "cuda": []}),
            "plain": member("plain"),
        },
    )
    assert cells(ws) == [("feeder", (), "3.10"), ("plain", (), "3.10")]
    assert cells(ws, extras_combos=True) == [
        ("feeder", (), "3.10"),
        ("feeder", ("cuda",), "3.10"),
        ("feeder", ("torch",), "3.10"),
        ("plain", (), "3.10"),
    ]


def test_configured_extras_combinations_win_over_extras_combos(tmp_path: Path) -> None:
    ws = virtual(
        tmp_path,
        {"feeder": member("feeder", extras={"torch": [], "cuda": []})},
        "[tool.wsenv.members.feeder]\n"
        'extras = [["torch", "CUDA"], [], ["torch"], ["cuda", "torch"]]\n',
    )
    expected = [
        ("feeder", ("cuda", "torch"), "3.10"),
        ("feeder", (), "3.10"),
        ("feeder", ("torch",), "3.10"),
    ]
    assert cells(ws) == expected
    assert cells(ws, extras_combos=True) == expected


# -- [tool.wsenv] ---------------------------------------------------------------------------


def test_tool_wsenv_pythons_skip_and_member_overrides(tmp_path: Path) -> None:
    config = """
[tool.wsenv]
pythons = ["3.12", "3.11"]
skip = ["Docs_Tools"]

[tool.wsenv.members.feeder]
pythons = ["3.13"]
extras = [[], ["torch"]]
"""
    ws = virtual(
        tmp_path,
        {
            "docs-tools": member("docs-tools"),
            "feeder": member("feeder", extras={"torch": []}),
            "seeds": member("seeds"),
        },
        config,
    )
    plan = plan_jobs(ws, MatrixConfig.load(ws))
    assert [(j.members[0], j.extras, j.python) for j in plan.jobs] == [
        ("feeder", (), "3.13"),
        ("feeder", ("torch",), "3.13"),
        ("seeds", (), "3.11"),
        ("seeds", (), "3.12"),
    ]
    assert plan.skipped == {"docs-tools": "listed in tool.wsenv.skip"}
    # --python replaces both the global and the per-member pythons
    assert cells(ws, pythons=["3.10"]) == [
        ("feeder", (), "3.10"),
        ("feeder", ("torch",), "3.10"),
        ("seeds", (), "3.10"),
    ]


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ("[tool]\nwsenv = 3\n", "tool.wsenv must be a table"),
        ('[tool.wsenv]\npython = ["3.12"]\n', "tool.wsenv.python is not a known key"),
        ('[tool.wsenv]\npythons = "3.12"\n', "tool.wsenv.pythons must be a list of strings"),
        ("[tool.wsenv]\npythons = []\n", "tool.wsenv.pythons must list at least one"),
        ('[tool.wsenv]\npythons = ["3.12", "py3"]\n', "tool.wsenv.pythons[1] must be a Python"),
        ('[tool.wsenv]\npythons = ["3.12", 3]\n', "tool.wsenv.pythons[1] must be a string"),
        ('[tool.wsenv]\nskip = ["a", "nope"]\n', "tool.wsenv.skip[1] names no workspace member"),
        ("[tool.wsenv]\nmembers = []\n", "tool.wsenv.members must be a table"),
        ("[tool.wsenv.members.nope]\n", "tool.wsenv.members.nope names no workspace member"),
        ('[tool.wsenv.members."a b"]\n', 'tool.wsenv.members."a b" names no workspace member'),
        ("[tool.wsenv.members.a]\nextra = []\n", "tool.wsenv.members.a.extra is not a known key"),
        ("[tool.wsenv.members.a]\nextras = []\n", "tool.wsenv.members.a.extras must be a non"),
        ("[tool.wsenv.members.a]\nextras = [[], 'x']\n", "tool.wsenv.members.a.extras[1] must"),
        (
            '[tool.wsenv.members.a]\nextras = [[], ["torch", "gpu"]]\n',
            "tool.wsenv.members.a.extras[1][1] names 'gpu', which member 'a' does not define "
            "(its extras: torch)",
        ),
        ('[tool.wsenv.members.a]\npythons = ["3"]\n', "tool.wsenv.members.a.pythons[0] must"),
    ],
)
def test_bad_config_is_one_error_naming_the_key(tmp_path: Path, table: str, key: str) -> None:
    ws = virtual(tmp_path, {"a": member("a", extras={"torch": []})}, table)
    with pytest.raises(ConfigError) as info:
        MatrixConfig.load(ws)
    assert key in str(info.value)
    assert str(info.value).startswith(str(ws.root_pyproject))


def test_bad_config_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = virtual(tmp_path, {"a": member("a")}, '[tool.wsenv]\nskip = "a"\n')
    code, out, err = run_cli(capsys, "-C", str(ws.root), "matrix")
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert "tool.wsenv.skip must be a list of strings" in err


# -- roots ----------------------------------------------------------------------------------


def test_explicit_root_is_a_member_job_virtual_root_is_not(tmp_path: Path) -> None:
    explicit = tmp_path / "explicit"
    write_workspace(
        explicit,
        {
            "pyproject.toml": member("albatross", deps=("seeds",))
            + '[tool.uv.workspace]\nmembers = ["packages/*"]\n',
            "packages/seeds/pyproject.toml": member("seeds"),
        },
    )
    ws = Workspace.discover(explicit)
    assert ws.kind == "explicit"
    assert cells(ws) == [("albatross", (), "3.10"), ("seeds", (), "3.10")]

    ws = virtual(tmp_path, {"seeds": member("seeds")})
    assert ws.kind == "virtual"
    assert cells(ws) == [("seeds", (), "3.10")]


# -- output ---------------------------------------------------------------------------------


def sample(tmp_path: Path) -> Workspace:
    return virtual(
        tmp_path,
        {
            "bird-feeder": member("bird-feeder", extras={"torch": []}, deps=("seeds",)),
            "seeds": member("seeds", ">=3.11"),
        },
        '[tool.wsenv]\npythons = ["3.11", "3.12"]\n',
    )


def test_github_format_is_a_strategy_matrix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = sample(tmp_path)
    code, out, _ = run_cli(
        capsys, "-C", str(ws.root), "matrix", "--format", "github", "--extras-combos"
    )
    assert code == 0
    assert out.count("\n") == 1  # one line, for $GITHUB_OUTPUT
    data = json.loads(out)
    assert list(data) == ["include"]
    assert data["include"][0] == {
        "name": "bird-feeder py3.11",
        "member": "bird-feeder",
        "extras": "",
        "python": "3.11",
        "args": "--ws-package bird-feeder --ws-python 3.11",
    }
    assert data["include"][1]["args"] == (
        "--ws-package bird-feeder --ws-extra torch --ws-python 3.11"
    )
    assert [(e["member"], e["extras"], e["python"]) for e in data["include"]] == [
        ("bird-feeder", "", "3.11"),
        ("bird-feeder", "torch", "3.11"),
        ("bird-feeder", "", "3.12"),
        ("bird-feeder", "torch", "3.12"),
        ("seeds", "", "3.11"),
        ("seeds", "", "3.12"),
    ]


def test_gitlab_format_is_a_parallel_matrix_fragment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = sample(tmp_path)
    code, out, _ = run_cli(capsys, "-C", str(ws.root), "matrix", "--format", "gitlab")
    assert code == 0
    lines = out.splitlines()
    assert lines[:3] == [".wsenv-matrix:", "  parallel:", "    matrix:"]
    entries = [line for line in lines if line.startswith("      - ")]
    assert len(entries) == 4
    assert lines[3:9] == [
        '      - WSENV_NAME: "bird-feeder py3.11"',
        '        WSENV_MEMBER: "bird-feeder"',
        '        WSENV_EXTRAS: ""',
        '        WSENV_PYTHON: "3.11"',
        '        WSENV_ARGS: "--ws-package bird-feeder --ws-python 3.11"',
        '      - WSENV_NAME: "bird-feeder py3.12"',
    ]
    for line in lines[3:]:
        assert re.fullmatch(r' {6}(- | {2})WSENV_[A-Z]+: "[^"]*"', line), line


def test_json_format_lists_everything(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = sample(tmp_path)
    code, out, _ = run_cli(capsys, "-C", str(ws.root), "matrix", "--python", "3.12")
    assert code == 0
    assert json.loads(out) == [
        {
            "name": "bird-feeder py3.12",
            "members": ["bird-feeder"],
            "extras": [],
            "python": "3.12",
            "shard": None,
            "args": ["--ws-package", "bird-feeder", "--ws-python", "3.12"],
        },
        {
            "name": "seeds py3.12",
            "members": ["seeds"],
            "extras": [],
            "python": "3.12",
            "shard": None,
            "args": ["--ws-package", "seeds", "--ws-python", "3.12"],
        },
    ]


def test_same_output_from_every_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = sample(tmp_path)
    outputs = set()
    for where in (ws.root, ws.root / "packages", ws.members["seeds"].path):
        monkeypatch.chdir(where)
        for fmt in ("github", "gitlab", "json"):
            code, out, _ = run_cli(capsys, "matrix", "--format", fmt, "--extras-combos")
            assert code == 0
            outputs.add((fmt, out))
    assert len(outputs) == 3


def test_empty_selection_renders_valid_matrices() -> None:
    assert render([], "github") == '{"include":[]}'
    gitlab = render([], "gitlab")
    assert '      - WSENV_NAME: ""' in gitlab
    assert '        WSENV_ARGS: ""' in gitlab
    assert json.loads(render([], "json")) == []


def test_gitlab_refuses_more_jobs_than_it_runs() -> None:
    jobs = [Job(members=(f"m{i}",), extras=(), python="3.12") for i in range(GITLAB_MAX_JOBS + 1)]
    with pytest.raises(SelectionError, match=r"at most 200 jobs.*--shards"):
        render(jobs, "gitlab")
    assert render(jobs[:GITLAB_MAX_JOBS], "gitlab").count("- WSENV_NAME") == GITLAB_MAX_JOBS


def test_bad_python_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = sample(tmp_path)
    code, _, err = run_cli(capsys, "-C", str(ws.root), "matrix", "--python", "python3")
    assert code == 2
    assert "--python: 'python3' is not a Python version" in err
