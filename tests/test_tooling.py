"""Test tooling found, not asked for: pytest and the pytest plugins of a member's groups and
of the workspace root's ``dev`` group, at the lock's versions, and nothing else of the root.

The workspaces have the shapes met in real repositories: a root ``dev`` group holding the
tooling beside other tools, a member whose own ``dev`` group has no pytest (uv then does not
fall back to the root's group), a member without any group, a member whose group names
pytest but not the plugin.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pytest_wsenv.envs.interpreters import find_interpreter
from pytest_wsenv.envs.manager import EnvManager
from pytest_wsenv.lock import Lock
from pytest_wsenv.target import Target
from pytest_wsenv.workspace import Workspace

from .conftest import MakeWorkspace
from .support.wheels import build_wheel

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

#: A pytest plugin: a fixture, a command-line option and an ini key, as pytest-timeout or
#: pytest-recording define them; it needs tinyright (and so tinyleft).
PLUGIN = """
import pytest

def pytest_addoption(parser):
    parser.addoption("--tiny-mode", default="off", help="tinyplug mode")
    parser.addini("tiny_flag", "tinyplug flag", default="unset")

@pytest.fixture
def tiny(request):
    return (request.config.getoption("tiny_mode"), request.config.getini("tiny_flag"))
"""


@pytest.fixture
def plugin_wheel(wheelhouse: Path) -> Path:
    """``pytest-tinyplug`` 1.0 (a ``pytest11`` plugin) in the session wheelhouse."""
    found = list(wheelhouse.glob("pytest_tinyplug-1.0-*.whl"))
    if found:
        return found[0]
    return build_wheel(
        wheelhouse,
        "pytest-tinyplug",
        "1.0",
        requires=["tinyright"],
        modules={
            "pytest_tinyplug/__init__.py": PLUGIN,
            "pytest_tinyplug-1.0.dist-info/entry_points.txt": (
                "[pytest11]\ntinyplug = pytest_tinyplug\n"
            ),
        },
    )


def _member(name: str, deps: str, groups: str = "") -> dict[str, str]:
    module = name.replace("-", "_")
    return {
        f"packages/{name}/pyproject.toml": f"""
            [project]
            name = "{name}"
            version = "0.1.0"
            requires-python = ">=3.11"
            dependencies = {deps}
            {groups}
            {{BUILD_SYSTEM}}
        """,
        f"packages/{name}/src/{module}/__init__.py": "",
        f"packages/{name}/tests/test_{module}.py": """
            import importlib.util

            def test_plugin_fixture(tiny):
                assert tiny[0] == "off"

            def test_no_other_root_tool():
                assert importlib.util.find_spec("tinyextra") is None
        """,
    }


#: Virtual root: its dev group holds pytest, a plugin and a non-tooling package (tinyextra).
FILES = {
    "pyproject.toml": """
        [tool.uv.workspace]
        members = ["packages/*"]
        [dependency-groups]
        dev = ["pytest", "pytest-tinyplug", "tinyextra"]
    """,
    # its own dev group, without pytest: uv does not fall back to the root's
    **_member("own-group", '["tinyleft"]', '[dependency-groups]\ndev = ["tiny-yaml-dist"]'),
    # no group at all
    **_member("no-group", '["tinyleft"]'),
    # its dev group names pytest but not the plugin
    **_member("with-pytest", "[]", '[dependency-groups]\ndev = ["pytest"]'),
}


def _manager(root: Path, cache: Path, **options: object) -> EnvManager:
    workspace = Workspace.discover(root)
    lock = Lock.load(workspace.lock_path)
    return EnvManager(workspace, lock, cache_dir=cache, log=lambda _: None, **options)  # type: ignore[arg-type]


def _names(manager: EnvManager, member: str) -> set[str]:
    spec = manager.spec_for(Target(packages=(member,)), manager.interpreter(None))
    return set(spec.closure.names())


def test_each_member_gets_the_root_tooling_and_nothing_else_of_the_root(
    make_workspace: MakeWorkspace, plugin_wheel: Path, uv_bin: str, tmp_path: Path
) -> None:
    root = make_workspace(FILES)
    manager = _manager(root, tmp_path / "cache")
    tooling = {"pytest", "iniconfig", "packaging", "pluggy", "pygments", "pytest-tinyplug"}
    assert _names(manager, "own-group") == {
        "own-group",
        "tinyleft",
        "tiny-yaml-dist",
        "tinyright",
        *tooling,
    }
    assert _names(manager, "no-group") == {"no-group", "tinyleft", "tinyright", *tooling}
    assert _names(manager, "with-pytest") == {"with-pytest", "tinyleft", "tinyright", *tooling}
    spec = manager.spec_for(Target(packages=("with-pytest",)), manager.interpreter(None))
    assert spec.layers[0] == "uv.lock: with-pytest"
    assert spec.layers[1].startswith("tooling from with-pytest's groups: pytest ")
    assert spec.layers[2] == (
        "tooling from the workspace root's group 'dev': pytest-tinyplug 1.0 "
        "(+2 locked dependencies)"
    )
    assert len(spec.layers) == 3  # no runner layer: pytest comes from the lock


def test_key_changes_with_the_tooling_and_not_with_the_rest_of_the_root_group(
    make_workspace: MakeWorkspace,
    plugin_wheel: Path,
    uv_bin: str,
    tmp_path: Path,
    wheelhouse: Path,
) -> None:
    from .support.workspaces import uv_lock

    root = make_workspace(FILES)
    interpreter = find_interpreter(None)

    def key() -> str:
        manager = _manager(root, tmp_path / "cache")
        return manager.spec_for(Target(packages=("no-group",)), interpreter).key

    before = key()
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text()
    # another non-tooling package in the root's dev group: the env is the same
    pyproject.write_text(text.replace('"tinyextra"]', '"tinyextra", "tinyfork"]'))
    uv_lock(root, wheelhouse)
    assert key() == before
    # the root's tooling changes: so does the key
    pyproject.write_text(text.replace('"pytest-tinyplug", ', ""))
    uv_lock(root, wheelhouse)
    assert key() != before


def test_isolated_run_uses_the_root_tooling_and_says_so(
    pytester: pytest.Pytester,
    make_workspace: MakeWorkspace,
    plugin_wheel: Path,
    uv_bin: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = make_workspace(FILES)
    monkeypatch.chdir(root)
    result = pytester.runpytest("--ws-isolated", "-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(
        [
            "wsenv: no-group: uv.lock: no-group; tooling from the workspace root's group "
            "'dev': pytest *, pytest-tinyplug 1.0 (+* locked dependencies)",
        ]
    )
    # the env really holds the plugin, installed at the lock's pin, and not tinyextra
    envs = [
        p
        for p in (root / ".wsenv").iterdir()
        if p.name.startswith("no-group-py") and (p / "bin" / "python").exists()
    ]
    (env,) = envs
    python = env / "bin" / "python"
    out = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.metadata as m, json; "
            "print(json.dumps(sorted(d.metadata['Name'] for d in m.distributions())))",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=root,
    )
    names = json.loads(out.stdout)
    assert "pytest-tinyplug" in names
    assert "tinyextra" not in names


def test_closure_command_shows_the_tooling_and_its_source(
    make_workspace: MakeWorkspace,
    plugin_wheel: Path,
    uv_bin: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from pytest_wsenv.cli import main

    root = make_workspace(FILES)
    assert main(["-C", str(root), "closure", "--package", "with-pytest"]) == 0
    plain = capsys.readouterr().out.splitlines()
    assert not [line for line in plain if "tinyplug" in line]  # as uv export
    assert main(["-C", str(root), "closure", "--package", "with-pytest", "--tooling"]) == 0
    lines = capsys.readouterr().out.splitlines()
    marked = [line.split("==")[0] for line in lines if "# test tooling" in line]
    assert marked == ["pytest-tinyplug", "tinyleft", "tinyright"]
    assert "pytest==" in "\n".join(lines)  # from the member's own group, not marked
