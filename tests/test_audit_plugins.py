"""Missing pytest plugins: never advised as runtime dependencies, and one warning line per
member when the tests show pytest's signs of a missing plugin.

The workspace has the shape that hides plugins in real workspaces: the root's ``dev``
group holds the test tooling (pytest, pytest-asyncio, a mock plugin), while the member has
its own ``dev`` group with pytest only, so uv does not fall back to the root's group.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pytest_wsenv.audit.diagnose import Explainer
from pytest_wsenv.audit.plugins import PluginSigns, config_keys, sign_of
from pytest_wsenv.lock import Lock
from pytest_wsenv.workspace import Workspace

from .support.wheels import build_wheel
from .support.workspaces import BUILD_SYSTEM, find_uv, uv_lock, write_workspace

TOOLING = {
    "pyproject.toml": """\
        [tool.uv.workspace]
        members = ["packages/*"]

        [dependency-groups]
        dev = ["pytest", "pytest-asyncio", "pytest-tinymock"]
        """,
    "packages/feeder/pyproject.toml": f"""\
[project]
name = "feeder"
version = "1.0"
dependencies = []

[dependency-groups]
dev = ["pytest"]

[tool.pytest.ini_options]
asyncio_mode = "auto"

{BUILD_SYSTEM}""",
    "packages/feeder/src/feeder/__init__.py": "",
    "packages/feeder/tests/test_feeder.py": """\
        import pytest


        def test_sync():
            pass


        @pytest.mark.asyncio
        async def test_async():
            pass


        def test_mock():
            import pytest_tinymock
        """,
}


@pytest.fixture
def tooling(tmp_path: Path, wheelhouse: Path) -> Path:
    if find_uv() is None:
        pytest.skip("uv is not installed; this test needs `uv lock`")
    wheels = tmp_path / "wheels"
    shutil.copytree(wheelhouse, wheels)
    build_wheel(wheels, "pytest-asyncio", "1.0", modules={"pytest_asyncio/__init__.py": ""})
    build_wheel(wheels, "pytest-tinymock", "1.0", modules={"pytest_tinymock/__init__.py": ""})
    root = write_workspace(tmp_path / "tooling", TOOLING)
    uv_lock(root, wheels)
    return root


def test_a_plugin_a_test_imports_is_advised_as_test_tooling(tooling: Path) -> None:
    workspace = Workspace.discover(tooling)
    explainer = Explainer(workspace, Lock.load(workspace.lock_path), site_dirs=[])
    assert explainer.explain("feeder", "pytest_tinymock") == (
        "feeder imports 'pytest_tinymock', a pytest plugin: it is test "
        "tooling, not a runtime dependency. Add it to feeder's dev group (uv add --package "
        "feeder --dev pytest-tinymock), or to the workspace root's dev group for every "
        "member's tests (the workspace root (group 'dev') declares pytest-tinymock "
        "(pyproject.toml))."
    )


@pytest.mark.parametrize(
    ("text", "sign"),
    [
        ("Unknown config option: asyncio_mode\n", ("option", "asyncio_mode")),
        ("Unknown pytest.mark.asyncio - is this a typo?", ("marker", "asyncio")),
        ("'asyncio' not found in `markers` configuration option", ("marker", "asyncio")),
        ("Missing required plugins: pytest-asyncio>=0.23, pytest-mock", None),
        ("async def functions are not natively supported.\nYou need ...", ("async", "")),
        ("assert 1 == 2", None),
    ],
)
def test_signs_pytest_gives(text: str, sign: tuple[str, str] | None) -> None:
    if sign is None and text.startswith("Missing"):
        sign = ("required", "pytest-asyncio>=0.23, pytest-mock")
    assert sign_of(text) == sign


def test_a_sign_names_the_plugin_the_workspace_knows() -> None:
    signs = PluginSigns(["pytest-asyncio", "pytest-timeout", "flaky"], {})
    assert signs.plugins_for("option", "asyncio_mode") == ["pytest-asyncio"]
    assert signs.plugins_for("option", "timeout") == ["pytest-timeout"]
    assert signs.plugins_for("marker", "flaky") == ["flaky"]
    assert signs.plugins_for("async", "") == ["pytest-asyncio"]
    assert signs.plugins_for("required", "pytest-mock>=3, pytest-env") == [
        "pytest-mock",
        "pytest-env",
    ]
    assert signs.plugins_for("marker", "slowish") == [
        "the plugin that provides the marker 'slowish'"
    ]
    assert PluginSigns([]).plugins_for("async", "") == ["pytest-asyncio or anyio"]


def test_config_keys_of_the_file_pytest_reads(tmp_path: Path) -> None:
    member = tmp_path / "packages" / "m"
    member.mkdir(parents=True)
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\ntimeout = "5"\n')
    (member / "pyproject.toml").write_text('[project]\nname = "m"\n')
    assert config_keys(member, tmp_path) == {"timeout"}
    (member / "tox.ini").write_text("[pytest]\nasyncio_mode = auto\n")
    assert config_keys(member, tmp_path) == {"asyncio_mode"}


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_isolated_run_warns_once_per_member_naming_the_plugin(
    pytester: pytest.Pytester, tooling: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tooling)
    result = pytester.runpytest(
        "--ws-isolated", str(tooling / "packages" / "feeder"), "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*- wsenv missing plugins -*",
            "feeder: the tests show signs of a missing pytest plugin: pytest-asyncio (async "
            "def functions are not natively supported, unknown config option 'asyncio_mode', "
            "unknown marker 'asyncio'); add it to feeder's dev group: uv add --package feeder "
            "--dev pytest-asyncio (declared in pytest-asyncio: the workspace root (group "
            "'dev'))",
        ]
    )
    out = result.stdout.str()
    assert out.count("signs of a missing pytest plugin") == 1
    assert "a pytest plugin: it is test tooling, not a runtime dependency" in out
    assert "Add it to feeder's dependencies" not in out
