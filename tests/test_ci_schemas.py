"""The pipelines of docs/ci.md and what ``pytest-wsenv matrix`` generates, checked against
the CI engines' published schemas (check-jsonschema's vendored ``github-workflows`` and
``gitlab-ci``, offline), and by ``actionlint`` where one is on PATH."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_wsenv.ci import DURATIONS_KEY

from .test_ci_docs import CI_PAGE, _matrix, _sample, _yaml_blocks, load_yaml

pytest.importorskip("check_jsonschema")

Kind = str  # "github-workflow" | "github-jobs" | "gitlab-ci" | "gitlab-template"


def validate(schema: str, files: Sequence[Path]) -> subprocess.CompletedProcess[str]:
    """check-jsonschema's CLI with one of its vendored schemas (no network)."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            f"vendor.{schema}",
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def assert_valid(schema: str, files: Sequence[Path]) -> None:
    proc = validate(schema, files)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if schema == "github-workflows" and shutil.which("actionlint"):
        lint = subprocess.run(
            ["actionlint", "-no-color", *map(str, files)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert lint.returncode == 0, lint.stdout + lint.stderr


def kind(doc: Any) -> Kind | None:
    """Which engine file a YAML block of the page is."""
    if not isinstance(doc, dict):
        return None
    if "jobs" in doc and "on" in doc:
        return "github-workflow"
    if "stages" in doc:
        return "gitlab-ci"
    values = list(doc.values())
    if values and all(isinstance(v, dict) and "runs-on" in v for v in values):
        return "github-jobs"
    if values and all(isinstance(v, dict) and v.get("extends") == ".wsenv-matrix" for v in values):
        return "gitlab-template"
    return None


def blocks() -> list[tuple[Kind | None, str]]:
    return [(kind(load_yaml(body)), body) for body in _yaml_blocks()]


def recipe() -> dict[str, Any]:
    (body,) = [b for k, b in blocks() if k == "github-workflow"]
    return load_yaml(body)  # type: ignore[no-any-return]


def write_yaml(path: Path, doc: Any) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def test_every_yaml_block_of_the_page_is_an_engine_file() -> None:
    found = blocks()
    assert [k for k, _ in found if k is None] == []
    kinds = [k for k, _ in found]
    assert kinds.count("github-workflow") == 1
    assert {"github-jobs", "gitlab-ci", "gitlab-template"} <= set(kinds)


def test_the_page_validates_against_the_engines_schemas(tmp_path: Path) -> None:
    github: list[Path] = []
    gitlab: list[Path] = []
    template = ""
    for index, (which, body) in enumerate(blocks()):
        path = tmp_path / f"block{index}.yml"
        if which == "github-workflow":
            path.write_text(body, encoding="utf-8")
            github.append(path)
        elif which == "github-jobs":
            # a fragment: the complete workflow with these jobs added or replaced
            workflow = recipe()
            workflow["jobs"].update(load_yaml(body))
            github.append(write_yaml(path, workflow))
        elif which == "gitlab-ci":
            path.write_text(body, encoding="utf-8")
            gitlab.append(path)
        else:
            template = body
            path.write_text(body, encoding="utf-8")
            gitlab.append(path)
    assert github and gitlab and template
    assert_valid("github-workflows", github)
    assert_valid("gitlab-ci", gitlab)


def test_the_schemas_reject_broken_pipelines(tmp_path: Path) -> None:
    """The check is real: small mistakes in the page's pipelines are refused."""
    workflow = recipe()
    broken = copy.deepcopy(workflow)
    del broken["jobs"]["test"]["runs-on"]
    matrix5 = copy.deepcopy(workflow)
    matrix5["jobs"]["test"]["strategy"]["matrix"] = 5
    for name, doc in (("no-runs-on", broken), ("matrix5", matrix5)):
        proc = validate("github-workflows", [write_yaml(tmp_path / f"{name}.yml", doc)])
        assert proc.returncode == 1, name
    (template,) = [b for k, b in blocks() if k == "gitlab-template"]
    bad = tmp_path / "gitlab.yml"
    bad.write_text(template + "  when: sometimes\n", encoding="utf-8")
    assert validate("gitlab-ci", [bad]).returncode == 1


@pytest.mark.parametrize(
    "argv",
    [(), ("--extras-combos",), ("--shards", "2"), ("--python", "3.11", "--python", "3.12")],
)
def test_generated_github_matrix_makes_a_valid_workflow(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    root = _sample(tmp_path)
    matrix = json.loads(_matrix(capsys, root, "--format", "github", *argv))
    assert matrix["include"]
    workflow = recipe()
    # what GitHub runs once it has evaluated fromJSON(needs.plan.outputs.matrix)
    workflow["jobs"]["test"]["strategy"]["matrix"] = matrix
    assert_valid("github-workflows", [write_yaml(tmp_path / "tests.yml", workflow)])


@pytest.mark.parametrize(
    ("config", "argv"),
    [
        ("", ()),
        ("", ("--extras-combos",)),
        ("", ("--shards", "2")),
        ('[tool.wsenv]\nskip = ["bird-feeder", "seeds"]\n', ("--allow-empty",)),
    ],
)
def test_generated_gitlab_child_pipeline_is_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config: str, argv: tuple[str, ...]
) -> None:
    """The child pipeline the plan job writes: the template, then the fragment."""
    pipeline = load_yaml(next(b for k, b in blocks() if k == "gitlab-ci"))
    script = "\n".join(pipeline["plan"]["script"])
    assert re.search(r"cat \S+ matrix\.yml > tests\.yml", script)
    (template,) = [b for k, b in blocks() if k == "gitlab-template"]
    fragment = _matrix(capsys, _sample(tmp_path, config), "--format", "gitlab", *argv)
    child = tmp_path / "tests.yml"
    child.write_text(template + fragment + "\n", encoding="utf-8")
    assert ".wsenv-matrix" in load_yaml(child.read_text())
    assert_valid("gitlab-ci", [child])


def test_matrices_with_parts_of_a_member_are_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """bird-feeder weighs more than a fair share of 3 shards: it is planned in parts."""
    root = _sample(tmp_path)
    tests = "".join(f"def test_{i}():\n    pass\n" for i in range(3))
    (root / "packages" / "bird-feeder" / "test_feeder.py").write_text(tests)
    durations = root / ".pytest_cache" / "v" / DURATIONS_KEY
    durations.parent.mkdir(parents=True)
    durations.write_text(json.dumps({"bird-feeder": 100.0, "seeds": 1.0}))
    matrix = json.loads(_matrix(capsys, root, "--format", "github", "--shards", "3"))
    assert [e["members"] for e in matrix["include"]] == [
        "bird-feeder[1/3] seeds",
        "bird-feeder[2/3]",
        "bird-feeder[3/3]",
    ]
    assert "--ws-part bird-feeder:3/3" in matrix["include"][2]["args"]
    workflow = recipe()
    workflow["jobs"]["test"]["strategy"]["matrix"] = matrix
    assert_valid("github-workflows", [write_yaml(tmp_path / "tests.yml", workflow)])
    (template,) = [b for k, b in blocks() if k == "gitlab-template"]
    fragment = _matrix(capsys, root, "--format", "gitlab", "--shards", "3")
    assert 'WSENV_MEMBERS: "bird-feeder[1/3] seeds"' in fragment
    child = tmp_path / "child.yml"
    child.write_text(template + fragment + "\n", encoding="utf-8")
    assert_valid("gitlab-ci", [child])


def test_recipe_plan_test_combine() -> None:
    """plan -> matrix of member jobs (uv cache, .wsenv keyed by cache-key) -> combine."""
    jobs = recipe()["jobs"]
    assert list(jobs) == ["plan", "test", "combine"]
    test, combine = jobs["test"], jobs["combine"]
    uv = next(s for s in test["steps"] if str(s.get("uses", "")).startswith("astral-sh/setup-uv"))
    assert uv["with"]["enable-cache"] is True
    (run,) = [s["run"] for s in test["steps"] if "pytest ${{ matrix.args }}" in s.get("run", "")]
    assert "--junitxml=reports/junit.xml" in run
    assert '-o "junit_suite_name=${{ matrix.name }}"' in run
    (upload,) = [s for s in test["steps"] if s.get("uses") == "actions/upload-artifact@v4"]
    assert upload["if"] == "always()"
    assert "reports/junit.xml" in upload["with"]["path"]
    assert ".coverage" in upload["with"]["path"]
    assert upload["with"]["include-hidden-files"] is True  # .coverage is a hidden file

    assert combine["needs"] == ["plan", "test"]
    assert combine["if"].startswith("always() && ")
    download = next(s for s in combine["steps"] if s.get("uses", "").startswith("actions/download"))
    assert download["with"]["pattern"] == upload["with"]["name"].replace(
        "${{ strategy.job-index }}", "*"
    )
    (step,) = [s for s in combine["steps"] if "pytest-wsenv combine" in s.get("run", "")]
    assert step["env"]["MATRIX"] == "${{ needs.plan.outputs.matrix }}"
    command = step["run"].replace("\\\n", " ")
    assert re.search(
        rf"pytest-wsenv combine {download['with']['path']} --matrix matrix\.json\s+"
        r"--junit-xml junit\.xml --cov-xml coverage\.xml",
        command,
    ), command
    (publish,) = [s for s in combine["steps"] if s.get("uses") == "actions/upload-artifact@v4"]
    assert publish["with"]["path"].split() == ["junit.xml", "coverage.xml"]
    page = CI_PAGE.read_text(encoding="utf-8")
    assert "## Combining the reports" in page
