"""Children forked from a warm interpreter: what they can import, and the fork server's
own failure paths. Real environments, real fork servers, real children."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from pytest_wsenv.envs.backends.venv import site_packages
from pytest_wsenv.runner.forkserver import ForkServers
from pytest_wsenv.runner.runtime import Runtime, runtime_of

from ._runner_workspace import fork_servers_with
from .conftest import MakeWorkspace

PROBE = """
    import importlib.metadata, importlib.util, json, os, sys, sysconfig
    from pathlib import Path

    def test_probe():
        facts = {
            "parent": os.getppid(),
            "path": sys.path,
            "prefix": [sys.prefix, sys.exec_prefix, sys.base_prefix],
            "executable": sys.executable,
            "purelib": sysconfig.get_paths()["purelib"],
            "distributions": sorted(d.metadata["Name"] for d in importlib.metadata.distributions()),
            "importable": {
                name: importlib.util.find_spec(name) is not None
                for name in ("tinyleft", "tinyextra", "left_member", "right_member")
            },
            "cwd": os.getcwd(),
            "env": {k: os.environ.get(k) for k in ("PYTEST_WSENV_MEMBER", "VIRTUAL_ENV")},
            "path_head": os.environ["PATH"].split(os.pathsep)[0],
            "bytecode": [sys.pycache_prefix, sys.dont_write_bytecode],
            "builtins": [callable(exit), callable(quit)],
        }
        out = Path(os.environ["WSENV_PROBE_DIR"]) / (os.environ["PYTEST_WSENV_MEMBER"] + ".json")
        out.write_text(json.dumps(facts))
"""

WORKSPACE = {
    "pyproject.toml": """
        [tool.uv.workspace]
        members = ["packages/*"]
        [dependency-groups]
        dev = ["pytest"]
    """,
    "packages/left/pyproject.toml": """
        [project]
        name = "left-member"
        version = "0.1.0"
        requires-python = ">=3.11"
        dependencies = ["tinyleft"]
        {BUILD_SYSTEM}
    """,
    "packages/left/src/left_member/__init__.py": "",
    "packages/left/tests/test_left.py": PROBE,
    "packages/right/pyproject.toml": """
        [project]
        name = "right-member"
        version = "0.1.0"
        requires-python = ">=3.11"
        dependencies = ["tinyextra"]
        {BUILD_SYSTEM}
    """,
    "packages/right/src/right_member/__init__.py": "",
    "packages/right/tests/test_right.py": PROBE,
}


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_forked_child_sees_exactly_what_a_new_interpreter_sees(
    pytester: pytest.Pytester,
    make_workspace: MakeWorkspace,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    root = make_workspace(WORKSPACE)
    monkeypatch.chdir(root)
    facts = {}
    for mode, flags in (("forked", []), ("new", ["--ws-no-fork"])):
        probe_dir = tmp_path / mode
        probe_dir.mkdir()
        monkeypatch.setenv("WSENV_PROBE_DIR", str(probe_dir))
        result = pytester.runpytest("--ws-isolated", str(root), "-v", *flags)
        result.assert_outcomes(passed=2)
        lines = [line for line in result.outlines if ": left-member-py" in line]
        assert len(lines) == 1
        assert lines[0].endswith(", forked") == (mode == "forked"), lines
        assert "not forked" not in lines[0]  # --ws-no-fork needs no explanation
        assert fork_servers_with(str(probe_dir)) == []  # the server ended with the session
        facts[mode] = {
            member: json.loads((probe_dir / f"{member}.json").read_text())
            for member in ("left-member", "right-member")
        }
    # one fork server (the forked children's parent) served both members
    assert facts["forked"]["left-member"].pop("parent") == facts["forked"]["right-member"].pop(
        "parent"
    )
    for member in facts["new"].values():
        member.pop("parent")
    assert facts["forked"] == facts["new"]
    # one server served both members, yet neither sees the other's packages
    left, right = facts["forked"]["left-member"], facts["forked"]["right-member"]
    assert left["importable"] == {
        "tinyleft": True,
        "tinyextra": False,
        "left_member": True,
        "right_member": False,
    }
    assert right["importable"]["tinyextra"] and not right["importable"]["tinyleft"]
    assert left["executable"].startswith(left["prefix"][0])
    assert left["purelib"].startswith(left["prefix"][0])

    # without pytest's RECORD the left member cannot be vouched for: -v says why it ran
    # as a new interpreter, the right member is still forked
    (record,) = (root / ".wsenv").glob("left-member-py*/lib/*/site-packages/pytest-*/RECORD")
    record.unlink()
    monkeypatch.setenv("WSENV_PROBE_DIR", str(tmp_path / "forked"))
    result = pytester.runpytest("--ws-isolated", str(root), "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "left-member py*, not forked: pytest's RECORD was not found in its environment",
            "right-member py*, forked",
        ],
        consecutive=False,
    )


def _dist(site: Path, name: str, version: str, requires: list[str], record: str) -> None:
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    headers = [f"Name: {name}", f"Version: {version}", *(f"Requires-Dist: {r}" for r in requires)]
    (info / "METADATA").write_text("\n".join(headers) + "\n\nlong description\n")
    (info / "RECORD").write_text(record)


def test_runtime_key_follows_the_files_of_pytest_and_its_requirements(tmp_path: Path) -> None:
    python = Path(sys.executable)
    sites = {}
    for env in ("a", "b", "c", "d"):
        site = tmp_path / env
        _dist(
            site,
            "pytest",
            "9.0",
            ["pluggy>=1", "tomli; python_version < '3.11'", "hypothesis; extra == 'dev'"],
            # a console script names the env's own python: its hash differs per env
            f"pytest/__init__.py,sha256=x,1\n../../../bin/pytest,sha256={env},9\n",
        )
        _dist(site, "pluggy", "1.6", [], "pluggy/__init__.py,sha256=y,1\n")
        _dist(site, f"other_{env}", "1.0", [], "other.py,,\n")  # not pytest's: not compared
        sites[env] = site
    (sites["c"] / "pluggy-1.6.dist-info" / "RECORD").write_text("pluggy/__init__.py,sha256=z,1\n")
    keys = {env: runtime_of(python, [site], {}) for env, site in sites.items()}
    assert all(keys.values())
    a, b, c = keys["a"], keys["b"], keys["c"]
    assert a is not None and b is not None and c is not None
    assert a.key == b.key != c.key
    assert a.paths == (str(sites["a"]),)
    assert [Path(r).parent.name for r in a.records] == [
        "pytest-9.0.dist-info",
        "pluggy-1.6.dist-info",
    ]
    # the interpreter and start-time PYTHON* variables are part of the key; the bytecode
    # settings, which are applied after the fork, are not
    assert runtime_of(python, [sites["a"]], {"PYTHONHASHSEED": "0"}).key != a.key  # type: ignore[union-attr]
    assert runtime_of(python, [sites["a"]], {"PYTHONPYCACHEPREFIX": "/x"}).key == a.key  # type: ignore[union-attr]
    # pytest in a layer after the env's own site-packages
    empty = tmp_path / "empty"
    empty.mkdir()
    layered = runtime_of(python, [empty, sites["a"]], {})
    assert layered is not None and layered.key == a.key and layered.paths == (str(sites["a"]),)
    assert runtime_of(python, [empty], {}) is None  # no pytest: never forked
    (sites["d"] / "pluggy-1.6.dist-info" / "RECORD").unlink()
    assert runtime_of(python, [sites["d"]], {}) is None  # cannot vouch for the files


@pytest.mark.timeout(60)
def test_a_server_that_dies_at_start_says_what_it_printed(tmp_path: Path) -> None:
    """The reason a server gives for not serving includes the last line it wrote to
    stderr when it ended before it was ready."""
    python = tmp_path / "python"
    python.write_text("#!/bin/sh\necho 'first line' >&2\necho 'Fatal: no encodings' >&2\nexit 3\n")
    python.chmod(0o755)
    runtime = Runtime(str(python), "dies-at-start")
    servers = ForkServers()
    try:
        assert servers.warm(runtime, dict(os.environ)) is None
        assert servers.why_not(runtime) == (
            "the fork server ended before it was ready (Fatal: no encodings)"
        )
    finally:
        servers.close()
    missing = Runtime(str(tmp_path / "nowhere"), "missing")
    servers = ForkServers()
    assert servers.warm(missing, dict(os.environ)) is None
    assert servers.why_not(missing).startswith("cannot start a fork server: ")


@pytest.mark.timeout(60)
def test_server_that_cannot_vouch_for_its_modules_serves_nothing() -> None:
    """A server whose imports are not all listed in the RECORDs it was given refuses to
    serve; children are then started as new interpreters."""
    python = Path(sys.executable)
    site = site_packages(python)
    real = runtime_of(Path(getattr(sys, "_base_executable", python)), [site], dict(os.environ))
    assert real is not None
    partial = Runtime(real.python, real.key + "-partial", real.entries[:1])
    servers = ForkServers()
    try:
        assert servers.warm(partial, dict(os.environ)) is None
        assert servers.ready(partial) is None
        (server,) = servers._servers.values()
        assert "imported from outside pytest" in server.reason
        assert "pluggy" in server.reason
        assert servers.why_not(partial) == server.reason
        good = servers.warm(real, dict(os.environ))
        assert good is not None and good.pytest == pytest.__version__
    finally:
        servers.close()
    assert servers.warm(real, dict(os.environ)) is None  # closed: nothing new starts
    assert all(s.proc.poll() is not None for s in servers._servers.values())
