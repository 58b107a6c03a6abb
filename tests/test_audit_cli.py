"""``pytest-wsenv check-imports``: text, JSON, exit codes, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_wsenv.cli import check_imports

from ._audit_support import AVIARY
from .conftest import MakeWorkspace

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "albatross"


@pytest.fixture
def aviary(make_workspace: MakeWorkspace) -> Path:
    return make_workspace(AVIARY, name="aviary")


def test_text_lists_one_line_per_finding_and_fails(
    aviary: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check_imports.main(["-C", str(aviary), "check-imports"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "undeclared imports (they fail in the member's isolated environment):",
        "  alpha: 'tinyextra' (tinyextra) at packages/alpha/tests/test_alpha.py:6; "
        "declared by alpha[x]: tinyextra",
        "  beta: 'tinyright' (tinyright) at packages/beta/tests/test_beta.py:1; "
        "declared by alpha: tinyright",
        "  beta: 'alpha' (alpha) at packages/beta/tests/test_beta.py:2; "
        "alpha is the workspace member at packages/alpha, which beta does not depend on: "
        "add it to beta's dependencies (with `alpha = { workspace = true }` in "
        "[tool.uv.sources])",
        "tests that skip in isolation (pytest.importorskip of a missing module):",
        "  gamma: 'tinyyaml' (tiny-yaml-dist) at packages/gamma/tests/test_gamma.py:3; "
        "declared by alpha: tiny-yaml-dist",
        "transitive-only imports (installed only as a dependency of a dependency):",
        "  alpha: 'tinyleft' (tinyleft) at packages/alpha/tests/test_alpha.py:2; "
        "not declared by the member itself",
        lines[-1],
    ]
    assert lines[-1].startswith(
        "3 members, 6 files: 3 undeclared, 1 skipping, 1 transitive-only, 1 suppressed ("
    )


def test_verbose_lists_suppressed(aviary: Path, capsys: pytest.CaptureFixture[str]) -> None:
    check_imports.main(["-C", str(aviary), "check-imports", "-v", "--package", "gamma"])
    out = capsys.readouterr().out
    assert "suppressed by [tool.wsenv.check-imports] ignore:" in out
    assert "[suppressed: fixture data only]" in out


def test_package_and_extra_narrow_the_check(
    aviary: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check_imports.main(["-C", str(aviary), "check-imports", "--package", "gamma"]) == 0
    assert (
        check_imports.main(
            ["-C", str(aviary), "check-imports", "--package", "alpha", "--extra", "x"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "beta" not in out and "0 undeclared" in out


def test_json_document(aviary: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert check_imports.main(["-C", str(aviary), "check-imports", "--json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["schema"] == 1
    assert document["root"] == str(aviary)
    assert document["members"] == ["alpha", "beta", "gamma"]
    assert document["failed"] is True
    first = document["findings"][0]
    assert first == {
        "kind": "undeclared",
        "member": "alpha",
        "module": "tinyextra",
        "distributions": ["tinyextra"],
        "path": "packages/alpha/tests/test_alpha.py",
        "line": 6,
        "test": True,
        "sources": ["static"],
        "origin": "lock wheel",
        "declared_by": [
            {
                "member": "alpha",
                "extra": "x",
                "group": None,
                "requirement": "tinyextra",
                "pyproject": "packages/alpha/pyproject.toml",
            }
        ],
        "workspace_member": None,
    }
    assert [s["reason"] for s in document["suppressed"]] == ["fixture data only"]


def test_errors_are_one_line_exit_2(
    make_workspace: MakeWorkspace, capsys: pytest.CaptureFixture[str]
) -> None:
    files = dict(AVIARY)
    files["pyproject.toml"] += "ignore-me = 1\n[tool.wsenv.check-imports.extra]\n"
    root = make_workspace(files, lock=False)
    assert check_imports.main(["-C", str(root), "check-imports"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pytest-wsenv: error: ")
    assert "tool.wsenv.check-imports.ignore-me is not a known key (known: ignore)" in err
    assert len(err.splitlines()) == 1


def test_stale_lock_is_an_error(aviary: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pyproject = aviary / "packages" / "gamma" / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("dependencies = []", 'dependencies = ["q"]'))
    assert check_imports.main(["-C", str(aviary), "check-imports"]) == 2
    assert "gamma" in capsys.readouterr().err


def test_example_workspace(capsys: pytest.CaptureFixture[str]) -> None:
    if not (EXAMPLE / "uv.lock").is_file():
        pytest.skip("the example workspace is not in this checkout")
    assert check_imports.main(["-C", str(EXAMPLE), "check-imports", "--json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert [(f["kind"], f["member"], f["module"]) for f in document["findings"]] == [
        ("undeclared", "bird-feeder", "sortedcontainers"),
        ("skip", "seeds", "tqdm"),
    ]


def test_registered_in_the_pytest_wsenv_command(aviary: Path) -> None:
    from pytest_wsenv.cli import _COMMANDS

    if "check_imports" not in _COMMANDS:
        pytest.skip("cli/__init__.py does not list check_imports yet")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_wsenv", "-C", str(aviary), "check-imports"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert "3 undeclared" in proc.stdout
