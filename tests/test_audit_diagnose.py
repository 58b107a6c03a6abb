"""Isolated runs explain failures and skips caused by a missing module.

Unit level on real reports (pytest's own, serialized and rebuilt as the parent rebuilds a
child's); then end to end: an :class:`IsolatedRun` of real child pytests (in this
interpreter, where the workspace's distributions are not installed) with
:class:`MissingModuleDiagnosis` registered beside it, as the isolated session does.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from pytest_wsenv.audit.diagnose import (
    SECTION,
    Explainer,
    attach,
    explanation,
    missing_module,
)
from pytest_wsenv.audit.environment import Declaration
from pytest_wsenv.lock import Lock
from pytest_wsenv.runner.reports import MemberFailure
from pytest_wsenv.workspace import Workspace

from ._audit_support import AVIARY
from .conftest import MakeWorkspace
from .support.workspaces import BUILD_SYSTEM, find_uv, uv_lock, write_workspace

MISSING = {
    "test_fail.py": """\
        def test_call():
            import nopemod_call
        """,
    "test_collect.py": "import nopemod_collect\n\ndef test_never(): pass\n",
    "test_skips.py": """\
        import pytest

        try:
            import nopemod_guarded
        except ImportError:
            nopemod_guarded = None


        def test_plain():
            pytest.importorskip("nopemod_plain")


        def test_custom():
            pytest.importorskip("nopemod_custom", reason="needs the extra")


        @pytest.mark.skipif(nopemod_guarded is None, reason="nopemod_guarded is not installed")
        def test_skipif():
            pass


        @pytest.mark.skip(reason="not today")
        def test_other_skip():
            pass


        @pytest.mark.xfail(reason="nopemod_plain is broken")
        def test_xfail():
            import nopemod_xfail


        def test_other_failure():
            assert 0, "No module named 'decoy' appears in no traceback line"
        """,
    "test_module_skip.py": """\
        import pytest

        pytest.importorskip("nopemod_module", reason="custom")

        def test_never(): pass
        """,
}


def _reports(pytester: pytest.Pytester) -> dict[str, Any]:
    for name, text in MISSING.items():
        pytester.makepyfile(**{name.removesuffix(".py"): textwrap.dedent(text)})
    reprec = pytester.inline_run("-p", "no:cacheprovider", "--continue-on-collection-errors")
    config = pytester.parseconfig()
    found: dict[str, Any] = {}
    for report in reprec.getreports(("pytest_runtest_logreport", "pytest_collectreport")):
        if not (report.failed or report.skipped):
            continue
        # what the parent replays: serialized in the child, rebuilt from JSON
        data = config.hook.pytest_report_to_serializable(config=config, report=report)
        found[report.nodeid] = config.hook.pytest_report_from_serializable(config=config, data=data)
    return found


def test_missing_module_from_real_reports(pytester: pytest.Pytester) -> None:
    reports = _reports(pytester)
    modules = {nodeid: missing_module(report) for nodeid, report in reports.items()}
    assert modules == {
        "test_fail.py::test_call": "nopemod_call",
        "test_collect.py": "nopemod_collect",
        "test_skips.py::test_plain": "nopemod_plain",
        "test_skips.py::test_custom": "nopemod_custom",  # read from the importorskip line
        "test_skips.py::test_skipif": "nopemod_guarded",  # the reason names a guarded import
        "test_skips.py::test_other_skip": None,
        "test_skips.py::test_xfail": None,
        "test_skips.py::test_other_failure": None,
        "test_module_skip.py": "nopemod_module",
    }


def test_attach_keeps_the_original_text(pytester: pytest.Pytester) -> None:
    reports = _reports(pytester)
    failed = reports["test_fail.py::test_call"]
    attach(failed, "because.")
    text = str(failed.longrepr)
    assert text.index("No module named 'nopemod_call'") < text.index(SECTION)
    assert "because." in text

    collected = reports["test_collect.py"]
    attach(collected, "because.")
    assert isinstance(collected.longrepr, str)
    assert collected.longrepr.endswith(f"\n{SECTION}: because.")
    assert "No module named 'nopemod_collect'" in collected.longrepr

    skipped = reports["test_skips.py::test_custom"]
    path, line, reason = skipped.longrepr
    attach(skipped, "because.")
    assert skipped.longrepr == (path, line, f"{reason} [wsenv: because.]")

    member = pytest.CollectReport("pkg", "failed", MemberFailure("it crashed"), [])
    attach(member, "because.")
    assert str(member.longrepr) == f"it crashed\n{SECTION}: because."


def test_explanation_wording() -> None:
    seeds = Declaration("seeds", "tqdm>=4", "packages/seeds/pyproject.toml")
    assert explanation("bird-feeder", "tqdm", ["tqdm"], [seeds]) == (
        "bird-feeder imports 'tqdm' but does not declare it; 'seeds' declares tqdm>=4 "
        "(packages/seeds/pyproject.toml). Add it to bird-feeder's dependencies, or to an "
        "extra/group that the tests request."
    )
    extra = Declaration("seeds", "tqdm>=4", "packages/seeds/pyproject.toml", extra="progress")
    assert explanation("seeds", "tqdm", ["tqdm"], [extra, seeds]) == (
        "seeds imports 'tqdm', which only its extra 'progress' provides (tqdm>=4 in "
        "packages/seeds/pyproject.toml). Run with --ws-extra progress, or add it to seeds's "
        "dependencies or to a group the tests use."
    )
    group = Declaration("seeds", "tqdm", "packages/seeds/pyproject.toml", group="bench")
    assert "only in its group 'bench'" in explanation("seeds", "tqdm", ["tqdm"], [group])
    assert "--ws-group bench" in explanation("seeds", "tqdm", ["tqdm"], [group])
    nobody = explanation("seeds", "yaml", ["pyyaml"], [], origin="shared environment")
    assert nobody == (
        "seeds imports 'yaml' (pyyaml), found in the shared environment, but no workspace "
        "member declares it. Add it to seeds's dependencies, or to an extra/group that the "
        "tests request."
    )
    sibling = explanation("seeds", "bird_feeder", ["bird-feeder"], [], sibling="packages/bf")
    assert sibling == (
        "seeds imports 'bird_feeder': bird-feeder is the workspace member at packages/bf, "
        "which seeds does not depend on: add it to seeds's dependencies (with "
        "`bird-feeder = { workspace = true }` in [tool.uv.sources])."
    )
    # other members' requirements on the sibling do not replace the advice
    pin = Declaration("nest", "bird-feeder<0.1", "packages/nest/pyproject.toml")
    assert (
        explanation("seeds", "bird_feeder", ["bird-feeder"], [pin], sibling="packages/bf")
        == sibling
    )


def test_explainer_on_a_locked_workspace(make_workspace: MakeWorkspace) -> None:
    root = make_workspace(AVIARY)
    workspace = Workspace.discover(root)
    explainer = Explainer(workspace, Lock.load(workspace.lock_path), site_dirs=[])
    assert explainer.explain("beta", "tinyright") == (
        "beta imports 'tinyright' but does not declare it; 'alpha' declares tinyright "
        "(packages/alpha/pyproject.toml). Add it to beta's dependencies, or to an "
        "extra/group that the tests request."
    )
    yaml = explainer.explain("gamma", "tinyyaml")
    assert yaml is not None and yaml.startswith("gamma imports 'tinyyaml' (tiny-yaml-dist) but")
    assert explainer.explain("alpha", "tinyright") is None  # in alpha's environment
    assert explainer.explain("alpha", "alpha.sub") is None  # its own package
    assert explainer.explain("alpha", "json") is None


# -- end to end ----------------------------------------------------------------------------

CONFTEST = """
import os
import sys
from pathlib import Path

import pytest

from pytest_wsenv.audit.diagnose import MissingModuleDiagnosis
from pytest_wsenv.lock import Lock
from pytest_wsenv.runner import ChildRequest, ChildSpec, IsolatedRun, clean_child_env
from pytest_wsenv.selection import Request, select_runs
from pytest_wsenv.workspace import Workspace

ROOT = Path(__file__).parent
IN_CHILD = bool(os.environ.get("PYTEST_WSENV_MEMBER"))
collect_ignore = [] if IN_CHILD else ["packages"]


def _request(run):
    prefix = os.path.relpath(run.rootdir, ROOT).replace(os.sep, "/")

    def prepare():
        python = Path(sys.executable)
        return ChildSpec(
            key=run.key,
            member=run.member,
            python=python,
            rootdir=run.rootdir,
            args=("-p", "no:cacheprovider", f"--basetemp={ROOT / '.tmp' / run.key}", *run.args),
            env=clean_child_env(os.environ, python.parent, run.member),
            nodeid_prefix=prefix,
        )

    return ChildRequest(key=run.key, member=run.member, prepare=prepare, nodeid_prefix=prefix)


def pytest_configure(config):
    if IN_CHILD:
        return
    workspace = Workspace.discover(ROOT)
    runs = select_runs(workspace, [str(ROOT)], ROOT, Request(), explicit_args=True)
    config.pluginmanager.register(IsolatedRun(config, [_request(r) for r in runs]), "run")
    lock = Lock.load(workspace.lock_path)
    diagnosis = MissingModuleDiagnosis(config, workspace, lock, runs, site_dirs=[])
    config.pluginmanager.register(diagnosis, "wsenv-diagnosis")
"""

MEMBER_TESTS = {
    "packages/alpha/tests/test_a.py": """\
        def test_extra():
            import tinyextra  # only alpha[x] declares it


        def test_declared():
            import tinyright  # declared: missing here for another reason, not explained
        """,
    "packages/beta/tests/test_b.py": "import tinyright\n\n\ndef test_b():\n    pass\n",
    "packages/gamma/tests/test_g.py": """\
        import pytest


        def test_custom():
            pytest.importorskip("tinyyaml", reason="needs yaml")


        def test_plain():
            pytest.importorskip("tinyyaml")
        """,
}


@pytest.fixture
def isolated(pytester: pytest.Pytester, wheelhouse: Path) -> Path:
    if find_uv() is None:
        pytest.skip("uv is not installed; this test needs `uv lock`")
    root = pytester.path
    files = {k: v for k, v in AVIARY.items() if "/tests/" not in k}
    files.update(MEMBER_TESTS)
    files["conftest.py"] = CONFTEST
    write_workspace(root, {k: v.replace("{BUILD_SYSTEM}", BUILD_SYSTEM) for k, v in files.items()})
    uv_lock(root, wheelhouse)
    return root


def test_isolated_run_explains_and_counts(pytester: pytest.Pytester, isolated: Path) -> None:
    result = pytester.runpytest("-p", "no:cacheprovider", "--continue-on-collection-errors", "-rs")
    result.assert_outcomes(failed=2, skipped=2, errors=1)
    out = result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*- wsenv: missing module -*",
            "alpha imports 'tinyextra', which only its extra 'x' provides (tinyextra in "
            "packages/alpha/pyproject.toml). Run with --ws-extra x, or add it to alpha's "
            "dependencies or to a group the tests use.",
        ]
    )
    assert (
        "wsenv: missing module: beta imports 'tinyright' but does not declare it; 'alpha' "
        "declares tinyright (packages/alpha/pyproject.toml). Add it to beta's dependencies, "
        "or to an extra/group that the tests request." in out
    )
    result.stdout.fnmatch_lines(
        [
            "SKIPPED [[]1] packages/gamma/tests/test_g.py:5: needs yaml [[]wsenv: gamma imports "
            "'tinyyaml' (tiny-yaml-dist) but does not declare it; 'alpha' declares *",
            "SKIPPED [[]1] packages/gamma/tests/test_g.py:9: could not import 'tinyyaml': * "
            "[[]wsenv: gamma imports 'tinyyaml' (tiny-yaml-dist)*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*- wsenv missing modules -*",
            "alpha: 1 test failed because 'tinyextra' is missing",
            "beta: 1 test module could not be collected because 'tinyright' is missing",
            "gamma: 2 tests skipped because 'tinyyaml' is missing",
        ]
    )
    # declared by alpha itself: missing here for a reason the lock does not explain
    assert "alpha imports 'tinyright'" not in out
    assert out.count("wsenv: missing module") == 2  # alpha's section + beta's collect error


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_every_leak_isolation_exposes_is_found_by_the_audit(
    pytester: pytest.Pytester, make_workspace: MakeWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit's promise, checked against a real ``--ws-isolated`` run: every failure or
    skip caused by a missing module is an ``undeclared`` or ``skip`` finding."""
    from pytest_wsenv.audit.check import ImportAudit

    root = make_workspace(AVIARY, name="aviary")
    monkeypatch.chdir(root)
    reprec = pytester.inline_run(
        "--ws-isolated", str(root), "-p", "no:cacheprovider", "--continue-on-collection-errors"
    )
    exposed = set()
    for report in reprec.getreports(("pytest_runtest_logreport", "pytest_collectreport")):
        if report.failed or report.skipped:
            module = missing_module(report)
            member = getattr(report, "wsenv_member", None)
            if module is not None and member is not None:
                exposed.add((member, module.partition(".")[0]))
    assert exposed == {("alpha", "tinyextra"), ("beta", "tinyright"), ("gamma", "tinyyaml")}
    workspace = Workspace.discover(root)
    result = ImportAudit(workspace, Lock.load(workspace.lock_path), site_dirs=[]).run()
    found = {(f.member, f.module) for f in result.findings if f.kind in ("undeclared", "skip")}
    assert exposed <= found
