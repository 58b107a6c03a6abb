"""The runner's pure parts: child environment, node id routing, wire decoding, the child file."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from pytest_wsenv.errors import ChildProtocolError, InterpreterNotFoundError
from pytest_wsenv.runner import (
    ChildRequest,
    ChildSpec,
    clean_child_env,
    route_args,
    to_child_arg,
    to_parent_nodeid,
)
from pytest_wsenv.runner.protocol import (
    BOOTSTRAP,
    CHILD_SCRIPT,
    SCHEMA_VERSION,
    PathMapper,
    decode_line,
    encode_command,
    rebuild_report,
    rebuild_warning,
)
from pytest_wsenv.runner.reports import describe_exit, output_tail


def _spec(prefix: str, suffix: str = "", key: str | None = None) -> ChildSpec:
    return ChildSpec(
        key=key or (prefix + suffix),
        member=prefix.rpartition("/")[2] or "root",
        python=Path(sys.executable),
        rootdir=Path("/ws") / prefix,
        args=(),
        env={},
        nodeid_prefix=prefix,
        nodeid_suffix=suffix,
    )


# --- environment -----------------------------------------------------------------------------


def test_clean_child_env_drops_and_sets() -> None:
    base = {
        "PATH": "/usr/bin",
        "PYTHONPATH": "/leak",
        "PYTHONHOME": "/home",
        "VIRTUAL_ENV": "/parent/venv",
        "PYTEST_ADDOPTS": "--ws-isolated",
        "PYTEST_CURRENT_TEST": "x",
        "PYTEST_XDIST_WORKER": "gw0",
        "KEEP_ME": "1",
        "PYTEST_PLUGINS": "myplugin",
    }
    env = clean_child_env(base, Path("/envs/e1/bin"), "bird-feeder", {"EXTRA": "yes"})
    assert env["PATH"] == "/envs/e1/bin:/usr/bin"
    assert env["VIRTUAL_ENV"] == "/envs/e1"
    assert env["PYTEST_WSENV_MEMBER"] == "bird-feeder"
    assert env["EXTRA"] == "yes"
    assert env["KEEP_ME"] == "1"
    assert env["PYTEST_PLUGINS"] == "myplugin"
    for gone in ("PYTHONPATH", "PYTHONHOME", "PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST"):
        assert gone not in env
    assert "PYTEST_XDIST_WORKER" not in env
    assert base["PYTHONPATH"] == "/leak"  # the input is not modified


def test_clean_child_env_bytecode_choices() -> None:
    plain = clean_child_env({"PATH": ""}, Path("/e/bin"), "m")
    assert "PYTHONDONTWRITEBYTECODE" not in plain and "PYTHONPYCACHEPREFIX" not in plain
    assert plain["PATH"] == "/e/bin"
    ambient = clean_child_env({"PYTHONDONTWRITEBYTECODE": "1"}, Path("/e/bin"), "m")
    assert "PYTHONDONTWRITEBYTECODE" not in ambient
    assert ambient["PYTHONPYCACHEPREFIX"] == "/e/.wsenv-pycache"
    own_prefix = clean_child_env(
        {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": "/mine"}, Path("/e/bin"), "m"
    )
    assert own_prefix["PYTHONPYCACHEPREFIX"] == "/mine"
    asked = clean_child_env({}, Path("/e/bin"), "m", write_bytecode=False)
    assert asked["PYTHONDONTWRITEBYTECODE"] == "1"
    override = clean_child_env({}, Path("/e/bin"), "m", {"PYTHONDONTWRITEBYTECODE": "1"})
    assert override["PYTHONDONTWRITEBYTECODE"] == "1"


# --- node ids --------------------------------------------------------------------------------


def test_to_parent_nodeid() -> None:
    assert to_parent_nodeid("tests/test_x.py::t", "packages/a") == "packages/a/tests/test_x.py::t"
    assert (
        to_parent_nodeid("tests/test_x.py::t[1]", "", "@py3.12") == "tests/test_x.py::t[1]@py3.12"
    )
    assert to_parent_nodeid("", "packages/a", "@b") == "packages/a@b"


@pytest.mark.parametrize(
    ("parent_id", "expected"),
    [
        ("packages/a/tests/test_x.py::test_y[1]", "tests/test_x.py::test_y[1]"),
        ("packages/a/tests/test_x.py", "tests/test_x.py"),
        ("packages/a", "."),
        ("packages/a/", "."),
        ("packages/a::weird", ".::weird"),
        ("packages/ab/tests/test_x.py::t", None),
        ("packages/b/tests/test_x.py::t", None),
    ],
)
def test_to_child_arg(parent_id: str, expected: str | None) -> None:
    assert to_child_arg(_spec("packages/a"), parent_id) == expected


def test_to_child_arg_suffix_and_root_member() -> None:
    suffixed = _spec("packages/a", "@py3.12")
    assert to_child_arg(suffixed, "packages/a/t.py::x@py3.12") == "t.py::x"
    assert to_child_arg(suffixed, "packages/a/t.py::x") is None
    assert to_child_arg(suffixed, "packages/a/t.py::x@py3.13") is None
    root = _spec("")
    assert to_child_arg(root, "tests/test_r.py::t") == "tests/test_r.py::t"
    request = ChildRequest("k", "a", lambda: _spec("a"), "packages/a", "")
    assert to_child_arg(request, "packages/a/t.py") == "t.py"


def test_route_args_longest_prefix_and_variants() -> None:
    specs = [
        _spec("", key="root"),
        _spec("packages/a", "@py3.12"),
        _spec("packages/a", "@py3.13"),
        _spec("packages/b"),
    ]
    routed = route_args(
        specs,
        [
            "tests/test_root.py::t",
            "packages/a/tests/test_x.py::t@py3.12",
            "packages/a/tests/test_x.py::u",
            "packages/b/tests/test_b.py",
            "packages/b/tests/test_b.py",
            "packages/c/tests/test_c.py::t",
        ],
    )
    assert routed == {
        "root": ["tests/test_root.py::t", "packages/c/tests/test_c.py::t"],
        "packages/a@py3.12": ["tests/test_x.py::t", "tests/test_x.py::u"],
        "packages/a@py3.13": ["tests/test_x.py::u"],
        "packages/b": ["tests/test_b.py", "tests/test_b.py"],
    }


# --- wire ------------------------------------------------------------------------------------


def test_decode_line() -> None:
    assert decode_line(b'{"kind": "hello", "schema": 1}') == {"kind": "hello", "schema": 1}
    assert decode_line(b"not json") is None
    assert decode_line(b"[1, 2]") is None
    assert decode_line(b'{"no": "kind"}') is None
    assert decode_line(b"\xff\xfe") is None
    assert json.loads(encode_command({"cmd": "run", "ids": ["a"]})) == {"cmd": "run", "ids": ["a"]}


def _mapper(tmp_path: Path, prefix: str = "packages/a", suffix: str = "") -> PathMapper:
    return PathMapper(
        prefix=prefix,
        suffix=suffix,
        child_cwd=tmp_path / prefix,
        child_root=tmp_path / prefix,
        parent_root=tmp_path,
        parent_cwd=tmp_path,
    )


def test_rebuild_report_rewrites_ids_paths_and_tuples(
    pytestconfig: pytest.Config, tmp_path: Path
) -> None:
    skipped = pytest.TestReport(
        "tests/test_x.py::t",
        ("tests/test_x.py", 3, "t"),
        {},
        "skipped",
        (str(tmp_path / "packages/a/tests/test_x.py"), 4, "Skipped: later"),
        "setup",
        [("Captured stdout setup", "hi")],
        0.1,
    )
    data = json.loads(
        json.dumps(
            pytestconfig.hook.pytest_report_to_serializable(config=pytestconfig, report=skipped)
        )
    )
    report = rebuild_report(
        pytestconfig, data, _mapper(tmp_path, suffix="@x"), member="a", key="a@x", child_pytest="8"
    )
    assert report.nodeid == "packages/a/tests/test_x.py::t@x"
    assert report.location == ("packages/a/tests/test_x.py", 3, "t")
    assert isinstance(report.longrepr, tuple)
    assert report.sections == [("Captured stdout setup", "hi")]
    assert report.wsenv_member == "a@x"


def test_rebuild_report_makes_traceback_paths_parent_relative(
    pytestconfig: pytest.Config, tmp_path: Path
) -> None:
    def failing() -> None:
        raise ValueError("boom")

    try:
        failing()
    except ValueError:
        excinfo = pytest.ExceptionInfo.from_current()
    report = pytest.TestReport(
        "tests/test_x.py::t", ("tests/test_x.py", 1, "t"), {}, "failed", excinfo.getrepr(), "call"
    )
    data = json.loads(
        json.dumps(
            pytestconfig.hook.pytest_report_to_serializable(config=pytestconfig, report=report)
        )
    )
    # As the child printed it: relative to its working directory (the member).
    tracebacks = [data["longrepr"]["reprtraceback"], *(c[0] for c in data["longrepr"]["chain"])]
    for traceback in tracebacks:
        for entry in traceback["reprentries"]:
            entry["data"]["reprfileloc"]["path"] = "tests/test_x.py"
    rebuilt = rebuild_report(
        pytestconfig, data, _mapper(tmp_path), member="a", key="a", child_pytest=None
    )
    assert "\npackages/a/tests/test_x.py:" in str(rebuilt.longrepr)


def test_rebuild_report_errors_name_both_versions(
    pytestconfig: pytest.Config, tmp_path: Path
) -> None:
    with pytest.raises(ChildProtocolError, match=r"child pytest 7\.0, parent pytest"):
        rebuild_report(
            pytestconfig,
            {"$report_type": "Mystery", "nodeid": "x"},
            _mapper(tmp_path),
            member="a",
            key="a",
            child_pytest="7.0",
        )
    with pytest.raises(ChildProtocolError, match="malformed report"):
        rebuild_report(
            pytestconfig, ["x"], _mapper(tmp_path), member="a", key="a", child_pytest=None
        )


def test_rebuild_warning_does_not_import_member_code() -> None:
    message = rebuild_warning(
        {
            "message": "old",
            "category": ["member_only_module_xyz", "Outer.CustomWarning"],
            "filename": "/ws/a/tests/test_w.py",
            "lineno": 3,
            "line": None,
        }
    )
    assert "member_only_module_xyz" not in sys.modules
    assert message.category.__name__ == "CustomWarning"
    assert message.category.__module__ == "member_only_module_xyz"
    assert issubclass(message.category, Warning)
    assert str(message.message) == "old" and message.lineno == 3
    builtin = rebuild_warning({"message": "dep", "category": ["builtins", "DeprecationWarning"]})
    assert builtin.category is DeprecationWarning
    known = rebuild_warning({"message": "p", "category": ["pytest", "PytestWarning"]})
    assert known.category is pytest.PytestWarning
    assert isinstance(rebuild_warning("garbage"), warnings.WarningMessage)


def test_exit_descriptions_and_output_tail() -> None:
    assert describe_exit(-11) == "signal 11, SIGSEGV"
    assert describe_exit(3) == "exit code 3"
    assert "nothing" in output_tail(b"", b"")
    text = output_tail(b"out\n", b"")
    assert "(stdout)" in text and text.endswith("out")
    many = b"".join(b"line %d\n" % i for i in range(100))
    tail = output_tail(b"", many + b"Fatal Python error: Segmentation fault\n" + many)
    assert "Fatal Python error: Segmentation fault" in tail
    assert "line 0" not in tail.partition("Fatal")[0]


# --- the child file --------------------------------------------------------------------------


CHILD_COVERAGE = CHILD_SCRIPT.with_name("child_coverage.py")


def _imports(path: Path) -> tuple[set[str], set[str]]:
    """Top-level names of every import in ``path``, and of those at module level."""
    tree = ast.parse(path.read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").partition(".")[0])
    top = {
        alias.name.partition(".")[0]
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (node.names if isinstance(node, ast.Import) else [])
    }
    return imported, top


def test_child_uses_stdlib_and_pytest_only() -> None:
    imported, _ = _imports(CHILD_SCRIPT)
    assert imported - {"__future__", "pytest"} <= set(sys.stdlib_module_names)
    # coverage only with --cov, in the module loaded beside it, where it is used
    imported, top = _imports(CHILD_COVERAGE)
    assert imported - {"__future__", "pytest", "coverage"} <= set(sys.stdlib_module_names)
    assert "coverage" not in top
    source = CHILD_SCRIPT.read_text()
    assert f"SCHEMA = {SCHEMA_VERSION}\n" in source


@pytest.mark.parametrize("script", [CHILD_SCRIPT, CHILD_COVERAGE], ids=lambda p: p.name)
def test_child_compiles_on_the_oldest_python(script: Path) -> None:
    from pytest_wsenv.envs.interpreters import find_interpreter

    try:
        python = find_interpreter("3.10").executable
    except InterpreterNotFoundError:
        pytest.skip("no Python 3.10 on this machine")
    code = f"import sys; compile(open({str(script)!r}).read(), {script.name!r}, 'exec')"
    subprocess.run([str(python), "-c", code], check=True)


def test_bootstrap_keeps_cwd_off_sys_path(tmp_path: Path) -> None:
    """The member directory must not shadow imports: '' is removed from sys.path."""
    (tmp_path / "json.py").write_text("raise SystemExit('shadowed')\n")
    script = tmp_path / "probe.py"
    script.write_text("import json, sys\nprint(repr(sys.path[0]), json.__name__)\n")
    out = subprocess.run(
        [sys.executable, "-c", BOOTSTRAP, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "''" not in out.stdout.split()[0]
    assert out.stdout.split()[1] == "json"


def test_the_max_idle_ini_default_is_the_runners(pytester: pytest.Pytester) -> None:
    """plugin.py spells the default out (it imports nothing until used)."""
    from pytest_wsenv.runner.session import DEFAULT_MAX_IDLE

    assert int(pytester.parseconfig().getini("wsenv_max_idle")) == DEFAULT_MAX_IDLE
