"""``pytest-wsenv members`` and ``pytest-wsenv closure``, in-process and as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.markers import Marker

from pytest_wsenv.cli import main
from pytest_wsenv.envs.interpreters import marker_env_for

from .conftest import REAL_FIXTURES
from .support.workspaces import write_workspace

EXPORT_FLAGS = "uv export --frozen --no-hashes --no-header --no-annotate"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2
    assert err.startswith("pytest-wsenv: error: ")
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    build = '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
    write_workspace(
        root,
        {
            "pyproject.toml": (
                '[project]\nname = "app"\nversion = "1"\nrequires-python = ">=3.9"\n'
                'dependencies = ["bird-feeder"]\n'
                "[project.optional-dependencies]\nfast = []\nui = []\n"
                '[dependency-groups]\ndev = ["pytest"]\n'
                '[tool.uv.workspace]\nmembers = ["packages/*"]\n'
                "[tool.uv.sources]\nbird-feeder = { workspace = true }\n"
                "seeds = { workspace = true }\n" + build
            ),
            "packages/bird-feeder/pyproject.toml": (
                '[project]\nname = "Bird_Feeder"\nversion = "1"\nrequires-python = ">=3.11"\n'
                'dependencies = ["seeds"]\n' + build
            ),
            "packages/bird-feeder/src/bird_feeder/__init__.py": "",
            "packages/seeds/pyproject.toml": (
                '[project]\nname = "seeds"\nversion = "1"\n[tool.uv]\ndefault-groups = "all"\n'
            ),
        },
    )
    return root


# -- members ----------------------------------------------------------------------------


def test_members_text_is_aligned_and_sorted(
    capsys: pytest.CaptureFixture[str], workspace: Path
) -> None:
    code, out, err = run(capsys, "-C", str(workspace), "members")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "app          .                     extras=fast,ui  groups=dev  deps=bird-feeder",
        "bird-feeder  packages/bird-feeder  extras=         groups=     deps=seeds",
        "seeds        packages/seeds        extras=         groups=     deps=",
    ]


@pytest.mark.parametrize(
    "start", [".", "packages/bird-feeder/src/bird_feeder", "packages/seeds/pyproject.toml"]
)
def test_members_same_answer_from_anywhere_inside(
    capsys: pytest.CaptureFixture[str], workspace: Path, start: str
) -> None:
    expected = run(capsys, "-C", str(workspace), "members", "--json")
    assert run(capsys, "-C", str(workspace / start), "members", "--json") == expected
    assert run(capsys, "--directory", str(workspace / start), "members")[0] == 0


def test_members_json_schema(capsys: pytest.CaptureFixture[str], workspace: Path) -> None:
    code, out, _ = run(capsys, "-C", str(workspace / "packages"), "members", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["schema"] == 1
    assert doc["root"] == str(workspace.resolve())
    assert doc["kind"] == "explicit"
    assert doc["requires_python"] == ">=3.11"  # the intersection, simplified
    assert [m["name"] for m in doc["members"]] == ["app", "bird-feeder", "seeds"]
    app, feeder, seeds = doc["members"]
    assert app == {
        "name": "app",
        "path": ".",
        "is_root": True,
        "package": True,
        "extras": ["fast", "ui"],
        "groups": ["dev"],
        "default_groups": ["dev"],
        "workspace_deps": ["bird-feeder"],
        "requires_python": ">=3.9",
    }
    assert feeder["path"] == "packages/bird-feeder"
    assert feeder["requires_python"] == ">=3.11"
    assert seeds["package"] is False
    assert seeds["default_groups"] == "all"
    assert seeds["requires_python"] is None


def test_members_of_real_workspaces_match_the_lock(capsys: pytest.CaptureFixture[str]) -> None:
    if not REAL_FIXTURES.is_dir():
        pytest.skip("real workspace fixtures not found beside the checkout")
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    for name in ("mcp-python-sdk", "otel-python"):
        root = REAL_FIXTURES / name / "workspace"
        code, out, _ = run(capsys, "-C", str(root), "members", "--json")
        assert code == 0
        lock = tomllib.loads((root / "uv.lock").read_text(encoding="utf-8"))
        names = [m["name"] for m in json.loads(out)["members"]]
        assert names == sorted(lock["manifest"]["members"])
    code, out, _ = run(capsys, "-C", str(REAL_FIXTURES / "mcp-python-sdk/workspace"), "members")
    assert "mcp-example-stories                  examples  " in out


def test_members_bad_pyproject_is_one_line(
    capsys: pytest.CaptureFixture[str], workspace: Path
) -> None:
    bad = workspace / "packages" / "seeds" / "pyproject.toml"
    bad.write_text('[project]\nname = "seeds"\n[project.optional-dependencies]\ntorch = "x"\n')
    code, out, err = run(capsys, "-C", str(workspace), "members")
    assert out == ""
    assert_one_line_error(
        code, err, str(bad), "project.optional-dependencies.torch must be a list of strings"
    )


# -- closure ----------------------------------------------------------------------------


def test_closure_without_a_lock(capsys: pytest.CaptureFixture[str], workspace: Path) -> None:
    code, out, err = run(capsys, "-C", str(workspace), "closure", "--package", "seeds")
    assert out == ""
    assert_one_line_error(code, err, "no uv.lock", "uv lock")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--package", "seeds", "--all-packages"], "--package cannot be used with --all-packages"),
        (["--extra", "x", "--all-extras"], "--extra cannot be used with --all-extras"),
        (["--group", "a", "--only-group", "b"], "--group cannot be used with --only-group"),
        (["--all-groups", "--only-group", "b"], "--all-groups cannot be used with --only-group"),
    ],
)
def test_closure_refuses_what_uv_export_refuses(
    capsys: pytest.CaptureFixture[str], workspace: Path, flags: list[str], message: str
) -> None:
    code, _, err = run(capsys, "-C", str(workspace), "closure", *flags)
    assert_one_line_error(code, err, message)


def _manifest(name: str) -> list[tuple[str, list[str]]]:
    """(export file, flags) for the first recorded export of each kind of flags."""
    path = REAL_FIXTURES / name / "uv-export" / "MANIFEST.tsv"
    if not path.is_file():
        return []
    chosen: dict[str, tuple[str, list[str]]] = {}
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        file, rc, _count, command = line.split("\t")
        flags = command.removeprefix(EXPORT_FLAGS).split()
        shape = " ".join(f if f.startswith("--") else "X" for f in flags)
        if rc == "0":
            chosen.setdefault(shape, (file, flags))
    return sorted(chosen.values())


def _expected_lines(export: Path, python: str) -> list[str]:
    """uv's universal export evaluated for one interpreter (markers dropped)."""
    env = marker_env_for(python).as_dict()
    lines = []
    for raw in export.read_text(encoding="utf-8").splitlines():
        requirement, _, marker = raw.partition(" ; ")
        if requirement.strip() and (not marker or Marker(marker).evaluate(env)):
            lines.append(requirement.strip())
    return lines


CASES = [
    (fixture, file, flags)
    for fixture in ("mcp-python-sdk", "otel-python")
    for file, flags in _manifest(fixture)
]


@pytest.mark.skipif(not CASES, reason="real workspace fixtures not found beside the checkout")
@pytest.mark.parametrize(("fixture", "export", "flags"), CASES)
def test_closure_matches_recorded_uv_export(
    capsys: pytest.CaptureFixture[str], fixture: str, export: str, flags: list[str]
) -> None:
    root = REAL_FIXTURES / fixture / "workspace"
    code, out, err = run(capsys, "-C", str(root), "closure", *flags, "--python", "3.12")
    assert (code, err) == (0, "")
    expected = _expected_lines(REAL_FIXTURES / fixture / "uv-export" / export, "3.12")
    assert sorted(out.splitlines()) == sorted(expected)


@pytest.mark.skipif(not REAL_FIXTURES.is_dir(), reason="real workspace fixtures not found")
@pytest.mark.parametrize("python", ["3.10", "3.12"])
def test_closure_of_mcp_example_stories(capsys: pytest.CaptureFixture[str], python: str) -> None:
    root = REAL_FIXTURES / "mcp-python-sdk" / "workspace"
    argv = ["-C", str(root / "examples"), "closure", "--package", "mcp-example-stories"]
    code, out, err = run(capsys, *argv, "--python", python)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    export = REAL_FIXTURES / "mcp-python-sdk" / "uv-export" / "mcp-example-stories.txt"
    assert sorted(lines) == sorted(_expected_lines(export, python))
    assert {"-e .", "-e ./examples", "-e ./src/mcp-types"} <= set(lines)
    assert ("tomli==2.4.1" in lines) is (python == "3.10")

    code, out, _ = run(capsys, *argv, "--python", python, "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["python"].startswith(python + ".")
    packages = {p["name"]: p for p in doc["packages"]}
    assert [p["name"] for p in doc["packages"]] == sorted(packages)
    # one requirement line per package, in the same order: sorted by name, editables too
    assert len(packages) == len(lines)
    for line, package in zip(lines, doc["packages"], strict=True):
        if package["editable"]:
            assert line == ("-e ." if package["source"] == "." else f"-e ./{package['source']}")
        else:
            assert line == f"{package['name']}=={package['version']}"
    assert packages["mcp-example-stories"]["editable"] is True
    assert packages["mcp-example-stories"]["source"] == "examples"
    assert packages["anyio"] == {
        "name": "anyio",
        "version": "4.10.0",
        "source_kind": "registry",
        "source": "https://pypi.org/simple",
        "editable": False,
        "hashes": packages["anyio"]["hashes"],
    }
    assert all(h.startswith("sha256:") for h in packages["anyio"]["hashes"])


@pytest.mark.skipif(not REAL_FIXTURES.is_dir(), reason="real workspace fixtures not found")
def test_closure_unknown_package_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    root = REAL_FIXTURES / "mcp-python-sdk" / "workspace"
    code, _, err = run(capsys, "-C", str(root), "closure", "--package", "nope", "--python", "3.12")
    assert_one_line_error(code, err, "nope")


# -- as a real process ------------------------------------------------------------------


def _process(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_wsenv", *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_process_exit_codes_and_no_traceback(workspace: Path) -> None:
    ok = _process("members", cwd=workspace / "packages" / "seeds")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[0].startswith("app  ")

    (workspace / "packages" / "seeds" / "pyproject.toml").write_text("[project\n")
    bad = _process("members", "--json", cwd=workspace)
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert_one_line_error(bad.returncode, bad.stderr, "pyproject.toml", "line 1")

    missing = _process("-C", str(workspace / "nowhere"), "closure", cwd=workspace)
    assert_one_line_error(missing.returncode, missing.stderr, "nowhere")
