"""``--ws-check-imports`` in a normal run: the import tracker and the audit plugin.

The workspace's distributions are installed into a directory on ``sys.path`` (the shared
environment of these runs) and the members' sources are put on ``sys.path`` like editable
installs. Most tests register :class:`ImportAuditPlugin` from a conftest, exactly as
``plugin.py`` does for ``--ws-check-imports``; the option tests need that registration and
skip while ``pytest --help`` does not list the option.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from pytest_wsenv.audit.runtime import ImportAuditPlugin, ImportTracker

from ._audit_support import AVIARY, install_wheels
from .support.workspaces import BUILD_SYSTEM, find_uv, uv_lock, write_workspace

pytestmark = pytest.mark.uv

CONFTEST = """
import json
import os
from pathlib import Path

from pytest_wsenv.audit.report import json_document
from pytest_wsenv.audit.runtime import ImportAuditPlugin

MODE = os.environ.get("AUDIT_TEST_MODE", "warn")


def pytest_configure(config):
    if MODE != "option":
        config.pluginmanager.register(ImportAuditPlugin(config, MODE), "wsenv-check-imports")


def pytest_unconfigure(config):
    plugin = config.pluginmanager.get_plugin("wsenv-check-imports")
    if plugin is not None and plugin.result is not None and not hasattr(config, "workerinput"):
        document = json_document(plugin.result, str(config.rootpath))
        (Path(__file__).parent / "audit.json").write_text(json.dumps(document))
"""

DYNAMIC = {
    # a module the static scan cannot name, imported after beta already imported it
    "packages/gamma/tests/test_dynamic.py": """\
        def test_dynamic():
            name = "tiny" + "right"
            assert __import__(name)
        """,
}


@pytest.fixture
def aviary(pytester: pytest.Pytester, wheelhouse: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    if find_uv() is None:
        pytest.skip("uv is not installed; this test needs `uv lock`")
    root = pytester.path
    files = {**AVIARY, **DYNAMIC, "conftest.py": CONFTEST}
    write_workspace(root, {k: v.replace("{BUILD_SYSTEM}", BUILD_SYSTEM) for k, v in files.items()})
    uv_lock(root, wheelhouse)
    site = install_wheels(
        wheelhouse, root / "_site", ["tinyleft", "tinyright", "tinyextra", "tiny-yaml-dist"]
    )
    paths = [site, *(root / "packages" / m / "src" for m in ("alpha", "beta", "gamma"))]
    for path in paths:
        pytester.syspathinsert(path)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(map(str, paths)))
    monkeypatch.setenv("AUDIT_TEST_MODE", "warn")
    return root


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """A run from the workspace root whose conftest is loaded even for a member's path."""
    return pytester.runpytest("-p", "no:cacheprovider", f"--confcutdir={pytester.path}", *args)


def findings(root: Path) -> dict[tuple[str, str], dict[str, object]]:
    document = json.loads((root / "audit.json").read_text())
    return {(f["member"], f["module"]): f for f in document["findings"]}


def test_warn_prints_a_section_and_keeps_the_outcome(
    pytester: pytest.Pytester, aviary: Path
) -> None:
    result = run(pytester)
    result.assert_outcomes(passed=4)
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "*= wsenv import audit =*",
            "undeclared imports (they fail in the member's isolated environment):",
            "  alpha: 'tinyextra' (tinyextra) at packages/alpha/tests/test_alpha.py:6; "
            "declared by alpha[x]: tinyextra",
            "  beta: 'tinyright' (tinyright) at packages/beta/tests/test_beta.py:1; "
            "declared by alpha: tinyright",
            "*beta: 'alpha' (alpha) at packages/beta/tests/test_beta.py:2; "
            "alpha is the workspace member at packages/alpha, which beta*",
            "  gamma: 'tinyright' (tinyright) at packages/gamma/tests/test_dynamic.py:3; *",
            "tests that skip in isolation*",
            "  gamma: 'tinyyaml' (tiny-yaml-dist) at packages/gamma/tests/test_gamma.py:3; *",
            "transitive-only imports*",
            "  alpha: 'tinyleft' (tinyleft) at packages/alpha/tests/test_alpha.py:2; *",
            "3 members, 7 files: 4 undeclared, 1 skipping, 1 transitive-only, 1 suppressed*",
        ]
    )


def test_runtime_attribution_and_merge_with_the_static_scan(
    pytester: pytest.Pytester, aviary: Path
) -> None:
    run(pytester)
    found = findings(aviary)
    # recorded although tinyright was already imported (by beta) before gamma's test ran
    assert found[("gamma", "tinyright")]["sources"] == ["runtime"]
    # importorskip: attributed to the calling test file, and also found statically
    assert found[("gamma", "tinyyaml")]["sources"] == ["runtime", "static"]
    assert found[("gamma", "tinyyaml")]["kind"] == "skip"
    # in a function, executed by the test: seen both ways
    assert found[("alpha", "tinyextra")]["sources"] == ["runtime", "static"]
    # collected at import of the test module
    assert found[("beta", "tinyright")]["sources"] == ["runtime", "static"]


def test_error_mode_fails_the_session(pytester: pytest.Pytester, aviary: Path) -> None:
    os.environ["AUDIT_TEST_MODE"] = "error"  # restored by the fixture's monkeypatch
    result = run(pytester)
    result.assert_outcomes(passed=4)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*4 undeclared*; failing the session (--ws-check-imports=error)"])


def test_error_mode_passes_when_only_warnings_remain(
    pytester: pytest.Pytester, aviary: Path
) -> None:
    os.environ["AUDIT_TEST_MODE"] = "error"
    result = run(pytester, "packages/gamma/tests/test_gamma.py")
    result.assert_outcomes(passed=1)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["1 member, 3 files: 0 undeclared, 1 skipping*"])


def test_only_members_whose_tests_ran_are_audited(pytester: pytest.Pytester, aviary: Path) -> None:
    run(pytester, "packages/beta")
    document = json.loads((aviary / "audit.json").read_text())
    assert document["members"] == ["alpha", "beta"]  # alpha: its source ran (import alpha)
    assert {f["member"] for f in document["findings"]} == {"beta"}


def test_xdist_workers_send_their_imports(pytester: pytest.Pytester, aviary: Path) -> None:
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    result.assert_outcomes(passed=4)
    found = findings(aviary)
    assert found[("gamma", "tinyright")]["sources"] == ["runtime"]
    assert found[("beta", "tinyright")]["sources"] == ["runtime", "static"]


def test_bad_mode_and_no_workspace_are_usage_errors(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfig()
    with pytest.raises(pytest.UsageError, match="choose warn or error"):
        ImportAuditPlugin(config, "loud")
    with pytest.raises(pytest.UsageError, match=r"--ws-check-imports: .*no pyproject.toml"):
        ImportAuditPlugin(config, "warn")


def test_stale_lock_is_a_usage_error(pytester: pytest.Pytester, aviary: Path) -> None:
    pyproject = aviary / "packages/beta/pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("dependencies = []", 'dependencies = ["x"]'))
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*pytest-wsenv: --ws-check-imports: *beta*"])


# -- the tracker on its own -------------------------------------------------------------------


def test_tracker_records_owned_files_once_and_restores_import(tmp_path: Path) -> None:
    owned = tmp_path / "owned_mod.py"
    owned.write_text(
        "import json\nimport pytest\n"
        "def again():\n    import pytest\n    from pytest import fixture\n"
    )
    sys.path.insert(0, str(tmp_path))
    original = __import__
    tracker = ImportTracker(lambda filename: filename == str(owned))
    try:
        tracker.install()
        import owned_mod

        owned_mod.again()
        owned_mod.again()
    finally:
        tracker.uninstall()
        sys.path.remove(str(tmp_path))
        sys.modules.pop("owned_mod", None)
    import builtins

    assert builtins.__import__ is original
    events = [
        (Path(p).name, line, module, names, top)
        for p, line, module, names, top, _ in tracker.events
    ]
    assert events == [
        ("owned_mod.py", 2, "pytest", (), True),
        ("owned_mod.py", 4, "pytest", (), False),
        ("owned_mod.py", 5, "pytest", ("fixture",), False),
    ]
    (use, *_) = tracker.uses()
    assert (use.module, use.source, use.line) == ("pytest", "runtime", 2)


# -- the option, once plugin.py registers it -------------------------------------------------


def _option_registered(pytester: pytest.Pytester) -> bool:
    return "--ws-check-imports" in pytester.runpytest("--help").stdout.str()


@pytest.mark.parametrize(("mode", "ret"), [("", 0), ("=warn", 0), ("=error", 1)])
def test_option(pytester: pytest.Pytester, aviary: Path, mode: str, ret: int) -> None:
    if not _option_registered(pytester):
        pytest.skip("plugin.py does not register --ws-check-imports yet")
    os.environ["AUDIT_TEST_MODE"] = "option"  # the conftest registers nothing
    result = run(pytester, f"--ws-check-imports{mode}")
    result.assert_outcomes(passed=4)
    assert result.ret == ret
    result.stdout.fnmatch_lines(["*= wsenv import audit =*", "3 members, 7 files: 4 undeclared*"])
