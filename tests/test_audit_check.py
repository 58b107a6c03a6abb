"""The audit against locked workspaces: every kind of import the issue names."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from pytest_wsenv.audit.check import AuditRequest, AuditResult, Finding, ImportAudit, audit_members
from pytest_wsenv.audit.config import CheckImportsConfig
from pytest_wsenv.audit.environment import member_env
from pytest_wsenv.audit.static import ImportUse
from pytest_wsenv.errors import ConfigError
from pytest_wsenv.lock import Lock
from pytest_wsenv.target import Target
from pytest_wsenv.workspace import Workspace

from ._audit_support import AVIARY
from .conftest import MakeWorkspace

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "albatross"


def audit(root: Path, request: AuditRequest | None = None) -> tuple[ImportAudit, AuditResult]:
    workspace = Workspace.discover(root)
    lock = Lock.load(workspace.lock_path) if workspace.lock_path.is_file() else None
    checker = ImportAudit(workspace, lock, request=request, site_dirs=[])
    return checker, checker.run()


def index(result: AuditResult) -> dict[tuple[str, str], Finding]:
    return {(f.member, f.module): f for f in result.findings}


@pytest.fixture
def aviary(make_workspace: MakeWorkspace) -> Path:
    return make_workspace(AVIARY, name="aviary")


def test_leak_from_a_sibling_member_names_the_declaring_member(aviary: Path) -> None:
    _, result = audit(aviary)
    found = index(result)[("beta", "tinyright")]
    assert found.kind == "undeclared"
    assert found.distributions == ("tinyright",)
    assert found.location == "packages/beta/tests/test_beta.py:1"
    assert [(d.member, d.requirement, d.pyproject) for d in found.declared_by] == [
        ("alpha", "tinyright", "packages/alpha/pyproject.toml")
    ]
    assert found.test and found.sources == ("static",)


def test_importing_a_sibling_member_without_depending_on_it(aviary: Path) -> None:
    _, result = audit(aviary)
    found = index(result)[("beta", "alpha")]
    assert found.kind == "undeclared"
    assert found.distributions == ("alpha",)
    assert found.sibling == "packages/alpha"
    assert found.origin == "member"


def test_leak_through_a_non_requested_extra(aviary: Path) -> None:
    _, result = audit(aviary)
    found = index(result)[("alpha", "tinyextra")]
    assert found.kind == "undeclared"
    assert found.location == "packages/alpha/tests/test_alpha.py:6"
    assert [(d.member, d.extra) for d in found.declared_by] == [("alpha", "x")]
    _, with_extra = audit(aviary, AuditRequest(extras=("x",)))
    assert ("alpha", "tinyextra") not in index(with_extra)
    _, all_extras = audit(aviary, AuditRequest(all_extras=True))
    assert ("alpha", "tinyextra") not in index(all_extras)


def test_lazy_import_of_an_own_extra_in_source_is_an_optional_feature(aviary: Path) -> None:
    """alpha/__init__.py imports tinyextra inside a function: not reported; the same
    import at module level of the source would break ``import alpha`` without the extra."""
    _, result = audit(aviary)
    assert not [f for f in result.findings if f.path.startswith("packages/alpha/src")]
    init = aviary / "packages/alpha/src/alpha/__init__.py"
    init.write_text(init.read_text() + "\nimport tinyextra as eager\n")
    _, result = audit(aviary)
    (eager,) = [f for f in result.findings if f.path.startswith("packages/alpha/src")]
    assert (eager.kind, eager.module, eager.test) == ("undeclared", "tinyextra", False)


def test_transitive_only_use_is_a_softer_warning(aviary: Path) -> None:
    _, result = audit(aviary)
    found = index(result)[("alpha", "tinyleft")]
    assert found.kind == "transitive"
    assert found.declared_by == ()
    assert not result.of_kind("transitive")[1:]  # only this one


def test_import_name_that_differs_from_its_distribution(aviary: Path) -> None:
    checker, result = audit(aviary)
    # alpha declares tiny-yaml-dist and imports tinyyaml: nothing to report
    assert not [f for f in result.findings if f.member == "alpha" and f.module == "tinyyaml"]
    # gamma only importorskips it: the finding names the distribution, from the lock's wheel
    found = index(result)[("gamma", "tinyyaml")]
    assert found.kind == "skip"
    assert found.distributions == ("tiny-yaml-dist",)
    assert found.origin == "lock wheel"
    assert [d.member for d in found.declared_by] == ["alpha"]
    assert checker.index.distributions("tinyyaml.sub") == {"tiny-yaml-dist"}


def test_conditional_import_in_try_except_is_not_a_leak(aviary: Path) -> None:
    _, result = audit(aviary)
    assert ("beta", "tinyextra") not in index(result)


def test_type_checking_import_is_not_a_runtime_leak(aviary: Path) -> None:
    init = aviary / "packages/alpha/src/alpha/__init__.py"
    assert "if TYPE_CHECKING:\n    import tinyextra" in init.read_text()
    _, result = audit(aviary)
    assert not [f for f in result.findings if f.path.endswith("alpha/__init__.py")]


def test_suppression_with_reason(aviary: Path) -> None:
    _, result = audit(aviary)
    assert ("gamma", "tinyleft") not in index(result)
    (suppressed,) = result.suppressed
    assert (suppressed.member, suppressed.module, suppressed.reason) == (
        "gamma",
        "tinyleft",
        "fixture data only",
    )


def test_the_whole_result_and_its_order(aviary: Path) -> None:
    _, result = audit(aviary)
    assert [(f.kind, f.member, f.module) for f in result.findings] == [
        ("undeclared", "alpha", "tinyextra"),
        ("undeclared", "beta", "tinyright"),
        ("undeclared", "beta", "alpha"),
        ("skip", "gamma", "tinyyaml"),
        ("transitive", "alpha", "tinyleft"),
    ]
    assert result.failed
    assert result.members == ("alpha", "beta", "gamma")
    assert result.files == 6
    assert result.unresolved == ()


def test_runtime_uses_merge_with_static_ones(aviary: Path) -> None:
    workspace = Workspace.discover(aviary)
    checker = ImportAudit(workspace, Lock.load(workspace.lock_path), site_dirs=[])
    test_beta = workspace.root / "packages/beta/tests/test_beta.py"
    runtime = [
        ImportUse("tinyright", test_beta, 1, source="runtime"),  # also seen statically
        ImportUse("tinyextra", test_beta, 5, source="runtime"),  # inside try: stays guarded
        ImportUse("tinyleft", test_beta, 11, toplevel=False, source="runtime"),  # dynamic
    ]
    result = checker.run(["beta"], runtime)
    found = index(result)
    assert found[("beta", "tinyright")].sources == ("runtime", "static")
    assert ("beta", "tinyextra") not in found
    dynamic = found[("beta", "tinyleft")]
    assert (dynamic.kind, dynamic.sources, dynamic.line) == ("undeclared", ("runtime",), 11)


def test_runtime_uses_outside_members_or_in_environments_are_ignored(aviary: Path) -> None:
    workspace = Workspace.discover(aviary)
    checker = ImportAudit(workspace, Lock.load(workspace.lock_path), site_dirs=[])
    venv_file = workspace.root / "packages/beta/.venv/lib/site-packages/x.py"
    outside = workspace.root.parent / "elsewhere.py"
    result = checker.run(
        [], [ImportUse("tinyextra", venv_file, 1, source="runtime"), ImportUse("q", outside, 1)]
    )
    assert result.findings == () and result.members == ()


def test_member_env_adds_the_root_tooling_and_the_runner(make_workspace: MakeWorkspace) -> None:
    root = make_workspace(
        {
            "pyproject.toml": '[tool.uv.workspace]\nmembers = ["m/*"]\n'
            '[dependency-groups]\ndev = ["pytest", "tinyextra"]\n',
            "m/withdev/pyproject.toml": '[project]\nname = "withdev"\nversion = "1"\n'
            'dependencies = ["tinyright"]\n',
        }
    )
    workspace = Workspace.discover(root)
    lock = Lock.load(workspace.lock_path)
    member = workspace.member("withdev")
    env = member_env(workspace, lock, member, Target(packages=("withdev",)))
    assert {"pytest", "pluggy"} <= env.tooling  # the root's tooling and its dependencies
    assert {"pytest", "pluggy", "tinyright", "tinyleft"} <= env.closure
    assert "tinyextra" not in env.closure  # the rest of the root's group is not installed
    assert env.runner == frozenset()
    assert env.direct == {"withdev", "tinyright", "pytest"}
    bare = member_env(workspace, lock, member, Target(packages=("withdev",)), test_group="missing")
    assert "pytest" not in bare.closure and {"pytest", "pluggy"} <= bare.runner
    assert bare.tooling == frozenset()


def test_the_audit_does_not_count_the_rest_of_the_root_group(
    make_workspace: MakeWorkspace,
) -> None:
    """An isolated run adds only the tooling of the root's group: a test importing another
    requirement of that group fails there, so the audit reports it."""
    root = make_workspace(
        {
            "pyproject.toml": '[tool.uv.workspace]\nmembers = ["m/*"]\n'
            '[dependency-groups]\ndev = ["pytest", "tinyextra"]\n',
            "m/withdev/pyproject.toml": '[project]\nname = "withdev"\nversion = "1"\n'
            'dependencies = ["tinyright"]\n',
            "m/withdev/tests/test_w.py": "import tinyextra\nimport pytest\n",
        }
    )
    workspace = Workspace.discover(root)
    result = audit_members(workspace, Lock.load(workspace.lock_path), ["withdev"], site_dirs=[])
    assert [(f.module, f.kind) for f in result.findings] == [("tinyextra", "undeclared")]


def test_without_a_lock_declared_requirements_decide(make_workspace: MakeWorkspace) -> None:
    files: Mapping[str, str] = {**AVIARY}
    root = make_workspace(files, lock=False, name="unlocked")
    _, result = audit(root)
    found = index(result)
    assert found[("beta", "tinyright")].kind == "undeclared"
    assert found[("alpha", "tinyextra")].kind == "undeclared"
    # tinyleft: declared nowhere, locked nowhere, installed nowhere: not a known distribution
    assert ("alpha", "tinyleft") not in found
    assert ("alpha", "tinyleft") in {(u.member, u.module) for u in result.unresolved}


def test_example_workspace_finds_exactly_its_two_leaks() -> None:
    if not (EXAMPLE / "uv.lock").is_file():
        pytest.skip("the example workspace is not in this checkout")
    _, result = audit(EXAMPLE)
    assert [(f.kind, f.member, f.module, f.location) for f in result.findings] == [
        (
            "undeclared",
            "bird-feeder",
            "sortedcontainers",
            "packages/bird-feeder/tests/test_feeder.py:19",
        ),
        ("skip", "seeds", "tqdm", "packages/seeds/tests/test_seeds.py:15"),
    ]
    assert [d.owner for d in result.findings[0].declared_by] == ["seeds"]
    _, with_extra = audit(EXAMPLE, AuditRequest(extras=("progress",)))
    assert [f.module for f in with_extra.findings] == ["sortedcontainers"]


# -- [tool.wsenv.check-imports] ----------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"ignre": {}}, "tool.wsenv.check-imports.ignre is not a known key"),
        ({"ignore": []}, "tool.wsenv.check-imports.ignore must be a table"),
        ({"ignore": {"nobody": ["x"]}}, "ignore.nobody names no workspace member 'nobody'"),
        ({"ignore": {"beta": "x"}}, "ignore.beta must be a list"),
        ({"ignore": {"beta": [3]}}, "ignore.beta[0] must be a name or"),
        ({"ignore": {"beta": [""]}}, "ignore.beta[0] must not be empty"),
        ({"ignore": {"beta": [{"reason": "r"}]}}, "ignore.beta[0].name must be a non-empty"),
        ({"ignore": {"beta": [{"name": "x", "why": "r"}]}}, "ignore.beta[0].why is not a known"),
        ({"ignore": {"beta": [{"name": "x", "reason": 1}]}}, "ignore.beta[0].reason must be a"),
        ({"ignore": {"Bad Name": ["x"]}}, 'ignore."Bad Name" names no workspace member'),
    ],
)
def test_config_errors_name_the_dotted_key(
    make_workspace: MakeWorkspace, table: object, message: str
) -> None:
    root = make_workspace(AVIARY, lock=False)
    workspace = Workspace.discover(root)
    with pytest.raises(ConfigError, match=None) as info:
        CheckImportsConfig.from_table(table, workspace)
    assert message in str(info.value)
    assert str(workspace.root_pyproject) in str(info.value)


def test_config_matches_modules_distributions_and_every_member(
    make_workspace: MakeWorkspace,
) -> None:
    root = make_workspace(AVIARY, lock=False)
    workspace = Workspace.discover(root)
    config = CheckImportsConfig.from_table(
        {"ignore": {"*": ["Tiny_Yaml.Dist"], "beta": ["tinyright.sub", "alpha"]}}, workspace
    )
    assert config.suppression("gamma", "tinyyaml", {"tiny-yaml-dist"}) is not None
    assert config.suppression("beta", "tinyright.sub.deep", {"tinyright"}) is not None
    assert config.suppression("beta", "tinyright", {"tinyright"}) is None
    assert config.suppression("beta", "alpha.core", {"alpha"}) is not None
    assert config.suppression("gamma", "alpha", {"alpha"}) is None


def test_matrix_config_accepts_the_check_imports_table(make_workspace: MakeWorkspace) -> None:
    from pytest_wsenv.ci import MatrixConfig

    root = make_workspace(AVIARY, lock=False)
    assert MatrixConfig.load(Workspace.discover(root)).pythons == ()
