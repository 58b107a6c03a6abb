"""The AST scan: which imports a file makes, and in which context."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from pytest_wsenv.audit.files import is_test_path, member_layout
from pytest_wsenv.audit.static import ImportUse, scan_file, scan_source
from pytest_wsenv.workspace import Workspace

HERE = Path("/ws/pkg/mod.py")


def uses(text: str) -> dict[str, ImportUse]:
    found = scan_source(textwrap.dedent(text), HERE)
    return {u.module: u for u in found}


def test_plain_imports_are_absolute_names_with_lines() -> None:
    found = uses(
        """\
        import a.b as ab, c
        from d.e import f, g
        from . import sibling
        from .rel import thing
        """
    )
    assert set(found) == {"a.b", "c", "d.e"}
    assert found["d.e"].names == ("f", "g")
    assert found["d.e"].candidates() == ("d.e.f", "d.e.g", "d.e")
    assert found["c"].line == 1 and found["d.e"].line == 2
    assert all(u.toplevel and not u.guarded and u.kind == "import" for u in found.values())


def test_try_except_import_error_guards_body_and_fallback() -> None:
    found = uses(
        """\
        try:
            import fast
        except ImportError:
            import slow
        try:
            import strict
        except ValueError:
            pass
        try:
            import loose
        except (OSError, ModuleNotFoundError):
            pass
        """
    )
    assert found["fast"].guarded and found["slow"].guarded and found["loose"].guarded
    assert not found["strict"].guarded


def test_contextlib_suppress_import_error_guards() -> None:
    found = uses(
        """\
        import contextlib
        with contextlib.suppress(ImportError):
            import optional
        with open("x"):
            import needed
        """
    )
    assert found["optional"].guarded and not found["needed"].guarded


@pytest.mark.parametrize(
    "condition",
    ["TYPE_CHECKING", "typing.TYPE_CHECKING", "t.TYPE_CHECKING", "TC"],
)
def test_type_checking_imports_are_not_runtime_imports(condition: str) -> None:
    found = uses(
        f"""\
        import typing
        import typing as t
        from typing import TYPE_CHECKING
        from typing import TYPE_CHECKING as TC
        if {condition}:
            import only_for_types
        else:
            import at_runtime
        if not {condition}:
            import also_at_runtime
        """
    )
    assert "only_for_types" not in found
    assert not found["at_runtime"].guarded and not found["also_at_runtime"].guarded


def test_version_and_platform_branches_follow_the_running_interpreter() -> None:
    found = uses(
        """\
        import sys
        if sys.version_info >= (3, 11):
            import tomllib_ish
        else:
            import tomli_ish
        if sys.version_info[:2] < (3, 0):
            import ancient
        if sys.platform == "definitely-not-a-platform":
            import exotic
        if sys.platform.startswith("linux") or sys.platform != "definitely-not":
            import usual
        if sys.getrecursionlimit() > 10:
            import undecidable
        """
    )
    new = sys.version_info >= (3, 11)
    assert ("tomllib_ish" in found) is new and ("tomli_ish" in found) is not new
    assert "ancient" not in found and "exotic" not in found
    assert not found["usual"].guarded
    assert found["undecidable"].guarded  # about the interpreter, but not decidable here


def test_find_spec_condition_guards() -> None:
    found = uses(
        """\
        import importlib.util
        if importlib.util.find_spec("numpy") is not None:
            import numpy
        """
    )
    assert found["numpy"].guarded


def test_other_conditions_do_not_guard() -> None:
    found = uses(
        """\
        import os
        if os.environ.get("PLOT"):
            import matplotlib
        """
    )
    assert not found["matplotlib"].guarded


def test_function_level_imports_are_not_toplevel() -> None:
    found = uses(
        """\
        import top
        class K:
            import in_class
            def method(self):
                import in_method
        async def coro():
            import in_coro
        f = lambda: __import__("in_lambda")
        """
    )
    assert found["top"].toplevel and found["in_class"].toplevel
    assert not found["in_method"].toplevel and not found["in_coro"].toplevel
    assert not found["in_lambda"].toplevel


def test_importorskip_and_dynamic_literal_imports() -> None:
    found = uses(
        """\
        import importlib
        import pytest
        from pytest import importorskip as skip_unless
        yaml = pytest.importorskip("yaml")
        np = skip_unless("numpy", minversion="1")
        mod = importlib.import_module("json5")
        other = __import__("toml")
        relative = importlib.import_module(".sub", package="pkg")
        computed = importlib.import_module("x" + "y")
        """
    )
    assert found["yaml"].kind == "skip" and found["numpy"].kind == "skip"
    assert found["json5"].kind == "import" and found["toml"].kind == "import"
    assert ".sub" not in found and "pkg" not in found
    assert set(found) == {"importlib", "pytest", "yaml", "numpy", "json5", "toml"}


def test_multiline_statement_records_its_line_range() -> None:
    found = uses(
        """\
        from package import (
            one,
            two,
        )
        """
    )
    assert (found["package"].line, found["package"].end_line) == (1, 4)


def test_unparsable_and_unreadable_files_give_nothing(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("def (:\n")
    assert scan_file(broken) == []
    assert scan_file(tmp_path / "missing.py") == []


@pytest.mark.parametrize(
    ("path", "is_test"),
    [
        ("tests/helpers.py", True),
        ("src/pkg/test/data.py", True),
        ("test_x.py", True),
        ("pkg/x_test.py", True),
        ("conftest.py", True),
        ("src/pkg/core.py", False),
        ("src/pkg/testing_tools.py", False),
    ],
)
def test_test_paths(path: str, is_test: bool) -> None:
    assert is_test_path(Path(path)) is is_test


def test_member_layout_sources_tests_and_local_names(tmp_path: Path) -> None:
    files = {
        "pyproject.toml": '[project]\nname = "otel-sdk"\nversion = "1"\n',
        "src/opentelemetry/sdk/__init__.py": "",
        "src/opentelemetry/sdk/trace.py": "",
        "tests/conftest.py": "",
        "tests/helpers.py": "",
        "tests/test_trace.py": "",
        "docs/conf.py": "import sphinx\n",
        ".venv/lib/site.py": "",
        "build/lib/opentelemetry/sdk/__init__.py": "",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    workspace = Workspace.discover(tmp_path)
    layout = member_layout(workspace, workspace.member("otel-sdk"))
    rel = {p.relative_to(tmp_path).as_posix() for p in layout.files}
    assert rel == {
        "src/opentelemetry/sdk/__init__.py",
        "src/opentelemetry/sdk/trace.py",
        "tests/conftest.py",
        "tests/helpers.py",
        "tests/test_trace.py",
    }
    assert layout.package_prefixes == {"opentelemetry.sdk"}
    assert {"helpers", "conftest", "tests"} <= layout.local_names
    assert "opentelemetry" not in layout.local_names
