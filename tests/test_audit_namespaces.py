"""Explanations name the right module and owner in workspaces shaped like
opentelemetry-python: members sharing a namespace package, one of them with only an
``__init__.pyi``, PEP 420 levels, a test-utility member, colliding local ``tests``
packages, and a third-party distribution installing files into the shared namespace."""

from __future__ import annotations

import importlib.machinery
from pathlib import Path

import pytest

from pytest_wsenv.audit.check import ImportAudit
from pytest_wsenv.audit.diagnose import Explainer
from pytest_wsenv.audit.files import package_prefixes
from pytest_wsenv.audit.modules import ModuleIndex, owned_roots
from pytest_wsenv.lock import Lock
from pytest_wsenv.workspace import Workspace

from ._audit_support import NAMESPACED, install_wheels
from .conftest import MakeWorkspace
from .support.wheels import build_wheel

SIBLING = (
    "nsw-exporter imports '{module}': {member} is the workspace member at packages/{member}, "
    "which nsw-exporter does not depend on: add it to nsw-exporter's dependencies (with "
    "`{member} = {{ workspace = true }}` in [tool.uv.sources])."
)


@pytest.fixture
def namespaced(make_workspace: MakeWorkspace) -> Path:
    return make_workspace(NAMESPACED, name="namespaced")


def _workspace(root: Path) -> tuple[Workspace, Lock]:
    workspace = Workspace.discover(root)
    return workspace, Lock.load(workspace.lock_path)


def test_a_namespace_level_belongs_to_the_one_member_below_it(namespaced: Path) -> None:
    workspace, lock = _workspace(namespaced)
    prefixes = {n: package_prefixes(m) for n, m in workspace.members.items()}
    index = ModuleIndex.build(workspace, prefixes, lock=lock, running=False)
    assert index.member("nsw.sdk") == "nsw-sdk"  # only an __init__.pyi there
    assert index.member("nsw.sdk.trace.sampling") == "nsw-sdk"
    assert index.member("nsw.exporter.http") == "nsw-http"  # PEP 420 levels
    assert index.member("nsw.test") == "nsw-testutil"
    assert index.member("nsw.exporter") is None  # shared by nsw-http and nsw-exporter
    assert index.member("nsw") is None
    assert index.is_namespace("nsw") and index.is_namespace("nsw.exporter")
    assert not index.is_namespace("nsw.sdk")


@pytest.mark.parametrize(
    ("module", "member"),
    [("nsw.sdk", "nsw-sdk"), ("nsw.exporter.http", "nsw-http"), ("nsw.test", "nsw-testutil")],
)
def test_a_missing_sibling_member_is_named_with_its_directory(
    namespaced: Path, module: str, member: str
) -> None:
    workspace, lock = _workspace(namespaced)
    explainer = Explainer(workspace, lock, site_dirs=[])
    assert explainer.explain("nsw-exporter", module) == SIBLING.format(module=module, member=member)
    assert explainer.explain("nsw-sdk", "nsw.sdk.trace") is None  # its own package


def test_colliding_local_tests_packages_are_not_a_distribution(namespaced: Path) -> None:
    workspace, lock = _workspace(namespaced)
    explainer = Explainer(workspace, lock, site_dirs=[])
    assert explainer.explain("nsw-collide", "tests.test_one") == (
        "'tests.test_one' is not a distribution: 'tests' is a local package in "
        "'packages/nsw-collide/integration/tests' and 'packages/nsw-collide/tests', and these "
        "directories collide under pytest's default import mode (the first 'tests' imported "
        "hides the others). Give them distinct names, or run with --import-mode=importlib."
    )


def test_owned_roots_come_from_the_installed_files() -> None:
    assert owned_roots(["nsx/one/__init__.py", "nsx/one/a.py"]) == {"nsx.one"}
    assert owned_roots(["nsx/util.py", "nsx/__init__.pyi"]) == {"nsx.util"}
    extension = "_yaml" + importlib.machinery.EXTENSION_SUFFIXES[0]
    assert owned_roots(["yaml/__init__.py", "yaml/x.py", extension]) == {
        "yaml",
        "_yaml",
    }
    assert owned_roots(["google/protobuf/__init__.py", "google/protobuf/x/y.py"]) == {
        "google.protobuf"
    }
    assert owned_roots(["../../bin/tool", "x-1.dist-info/RECORD", "_x.pth"]) == set()


def test_a_third_party_distribution_in_the_namespace_owns_only_its_files(
    namespaced: Path, tmp_path: Path
) -> None:
    """In the shared .venv the members are editable (their RECORD lists a .pth file), so
    the only RECORD with files under ``nsw/`` is a third-party one, like
    opentelemetry-exporter-credential-provider-gcp in opentelemetry-python."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    build_wheel(wheels, "nsw-gcp", "1", modules={"nsw/exporter/gcp/__init__.py": ""})
    site = install_wheels(wheels, tmp_path / "site", ["nsw-gcp"])
    workspace, lock = _workspace(namespaced)
    audit = ImportAudit(workspace, lock, site_dirs=[site])
    assert audit.index.distributions("nsw.exporter.gcp.auth") == {"nsw-gcp"}
    assert audit.index.distributions("nsw.api") == {"nsw-api"}
    result = audit.run()
    assert not [f for f in result.findings if "nsw-gcp" in f.distributions]
    assert not [f for f in result.findings if f.member in ("nsw-api", "nsw-sdk")]
    assert not [u for u in result.unresolved if u.module in ("nsw", "nsw.exporter")]
    findings = {(f.member, f.module): f for f in result.findings}
    sdk = findings[("nsw-exporter", "nsw.sdk.trace")]
    assert (sdk.kind, sdk.distributions, sdk.sibling) == (
        "undeclared",
        ("nsw-sdk",),
        "packages/nsw-sdk",
    )
    # an undeclared import of the third-party portion is still found, and credited to it
    test = namespaced / "packages/nsw-api/tests/test_api.py"
    test.write_text(test.read_text() + "\nimport nsw.exporter.gcp\n")
    again = ImportAudit(workspace, lock, site_dirs=[site]).run(["nsw-api"])
    assert [(f.module, f.distributions) for f in again.findings] == [
        ("nsw.exporter.gcp", ("nsw-gcp",))
    ]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_isolated_run_names_dotted_modules_siblings_and_local_packages(
    pytester: pytest.Pytester, namespaced: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(namespaced)
    members = namespaced / "packages"
    args = [str(members / m) for m in ("nsw-api", "nsw-exporter", "nsw-collide")]
    result = pytester.runpytest(
        "--ws-isolated", *args, "-p", "no:cacheprovider", "--continue-on-collection-errors"
    )
    result.assert_outcomes(passed=3, failed=3, errors=1)
    out = result.stdout.str()
    for module, member in (
        ("nsw.sdk", "nsw-sdk"),
        ("nsw.exporter.http", "nsw-http"),
        ("nsw.test", "nsw-testutil"),
    ):
        result.stdout.fnmatch_lines(
            ["*- wsenv: missing module -*", SIBLING.format(module=module, member=member)]
        )
    assert "declared by no workspace member" not in out
    assert "no workspace member declares it" not in out
    result.stdout.fnmatch_lines(
        [
            "*- wsenv missing modules -*",
            "nsw-collide: 1 test module could not be collected because 'tests.test_one' is "
            "not found (local packages named 'tests')",
            "nsw-exporter: 1 test failed because 'nsw.exporter.http' is missing",
            "nsw-exporter: 1 test failed because 'nsw.sdk' is missing",
            "nsw-exporter: 1 test failed because 'nsw.test' is missing",
        ]
    )
    assert "'nsw' is missing" not in out
    assert "'tests' is a local package in" in out
