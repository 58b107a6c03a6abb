"""Workspace discovery and the member model, on layouts written into tmp_path."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from pytest_wsenv.errors import ConfigError, SelectionError, WorkspaceError, WsenvError
from pytest_wsenv.workspace import Workspace

from .support.workspaces import find_uv, write_workspace

BUILD = """
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"
"""


def project(name: str, *lines: str, build: bool = True) -> str:
    """A member pyproject.toml: ``[project]`` with ``name`` plus extra lines."""
    body = "\n".join(["[project]", f'name = "{name}"', 'version = "0.1.0"', *lines])
    return body + "\n" + (BUILD if build else "")


def make(root: Path, files: Mapping[str, str]) -> Path:
    """Write ``files`` under ``root``; a key ending in ``/`` is an empty directory."""
    write_workspace(root, {rel: text for rel, text in files.items() if not rel.endswith("/")})
    for rel in files:
        if rel.endswith("/"):
            (root / rel).mkdir(parents=True, exist_ok=True)
    return root


def git_init(root: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    subprocess.run(["git", "init", "-q", str(root)], check=True, env=env)


@pytest.fixture
def explicit(tmp_path: Path) -> Path:
    """albatross (explicit root) with packages/bird-feeder and packages/seeds."""
    return make(
        tmp_path / "albatross",
        {
            "pyproject.toml": project(
                "albatross",
                'requires-python = ">=3.10"',
                'dependencies = ["bird-feeder", "tqdm>=4,<5"]',
                "[tool.uv.sources]",
                "bird-feeder = { workspace = true }",
                'tqdm = { git = "https://github.com/tqdm/tqdm" }',
                "[tool.uv.workspace]",
                'members = ["packages/*"]',
            ),
            "src/albatross/main.py": "",
            "packages/bird-feeder/pyproject.toml": project(
                "bird-feeder",
                'requires-python = ">=3.11"',
                'dependencies = ["seeds", "tqdm"]',
                "[tool.uv.sources]",
                "seeds = { workspace = true }",
            ),
            "packages/bird-feeder/src/bird_feeder/__init__.py": "",
            "packages/seeds/pyproject.toml": project(
                "seeds",
                'requires-python = ">=3.10,<3.14"',
                'dependencies = ["tqdm"]',
                "[tool.uv.sources]",
                'tqdm = { index = "internal" }',
            ),
            "packages/seeds/src/seeds/__init__.py": "",
        },
    )


@pytest.fixture
def virtual(tmp_path: Path) -> Path:
    """A virtual root with packages/a, packages/b (b needs a) and a nested member."""
    return make(
        tmp_path / "flat",
        {
            "pyproject.toml": """
                [tool.uv.workspace]
                members = ["packages/*", "packages/b/plugins/*"]

                [tool.uv.sources]
                a = { workspace = true }

                [dependency-groups]
                lint = ["ruff"]
            """,
            "packages/a/pyproject.toml": project("a"),
            "packages/b/pyproject.toml": project("b", 'dependencies = ["a"]'),
            "packages/b/plugins/c/pyproject.toml": project(
                "c",
                'dependencies = ["b"]',
                "[tool.uv.sources]",
                "b = { workspace = true }",
            ),
            "scripts/tool.py": "",
        },
    )


# -- kinds of root ----------------------------------------------------------------------


def test_explicit_root_is_a_member(explicit: Path) -> None:
    ws = Workspace.discover(explicit)
    assert ws.kind == "explicit"
    assert ws.root == explicit.resolve()
    assert list(ws.members) == ["albatross", "bird-feeder", "seeds"]
    root = ws.members["albatross"]
    assert root.is_root and root.path == ws.root and root.pyproject == ws.root_pyproject
    assert not ws.members["seeds"].is_root
    assert ws.members["seeds"].path == ws.root / "packages" / "seeds"
    assert ws.lock_path == ws.root / "uv.lock"
    assert root.dependencies == ("bird-feeder", "tqdm>=4,<5")
    assert root.project["name"] == "albatross"


def test_virtual_root_is_not_a_member(virtual: Path) -> None:
    ws = Workspace.discover(virtual)
    assert ws.kind == "virtual"
    assert list(ws.members) == ["a", "b", "c"]
    assert not any(m.is_root for m in ws.members.values())
    assert ws.root_groups == {"lint": ("ruff",)}


def test_single_project_is_a_workspace_of_one(tmp_path: Path) -> None:
    root = make(
        tmp_path / "solo",
        {
            "pyproject.toml": project("Solo_Project", "[dependency-groups]", 'dev = ["pytest"]'),
            "src/solo/__init__.py": "",
        },
    )
    ws = Workspace.discover(root / "src" / "solo" / "__init__.py")
    assert ws.kind == "single"
    assert ws.root == root.resolve()
    assert list(ws.members) == ["solo-project"]
    member = ws.members["solo-project"]
    assert member.is_root and member.package
    assert ws.root_groups == {"dev": ("pytest",)}
    assert ws.member_for(root / "src" / "solo" / "__init__.py") is member


# -- discovery from anywhere inside -----------------------------------------------------


@pytest.mark.parametrize(
    "start",
    [
        ".",
        "pyproject.toml",
        "scripts",
        "scripts/tool.py",
        "packages",
        "packages/a",
        "packages/b/plugins/c",
        "packages/b/plugins",
        "packages/b/plugins/c/pyproject.toml",
    ],
)
def test_discovery_from_inside_gives_the_same_root(virtual: Path, start: str) -> None:
    ws = Workspace.discover(virtual / start)
    assert ws.root == virtual.resolve()
    assert list(ws.members) == ["a", "b", "c"]


def test_discovery_through_intermediate_member(tmp_path: Path) -> None:
    """A member nested in another member's directory still finds the workspace root."""
    root = make(
        tmp_path / "ws",
        {
            "pyproject.toml": '[tool.uv.workspace]\nmembers = ["examples", "examples/clients/*"]\n',
            "examples/pyproject.toml": project("stories"),
            "examples/clients/chat/pyproject.toml": project("chat"),
            "examples/clients/chat/src/chat/deep/mod.py": "",
            # a project nested inside a member but not itself a member
            "examples/clients/chat/tests/data/fixture-proj/pyproject.toml": project("fixture"),
            # tool configuration only: passed over
            "examples/clients/chat/docs/pyproject.toml": "[tool.ruff]\nline-length = 99\n",
        },
    )
    for start in (
        "examples/clients/chat/src/chat/deep",
        "examples/clients/chat/tests/data/fixture-proj",
        "examples/clients/chat/docs",
        "examples",
    ):
        ws = Workspace.discover(root / start)
        assert ws.root == root.resolve(), start
        assert list(ws.members) == ["chat", "stories"]


def test_start_must_exist(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="cannot look for a workspace"):
        Workspace.discover(tmp_path / "missing")


def test_no_project_anywhere(tmp_path: Path) -> None:
    if any((p / "pyproject.toml").exists() for p in tmp_path.parents):
        pytest.skip("a pyproject.toml above the temporary directory")
    (tmp_path / "pyproject.toml").write_text("[tool.black]\n")
    with pytest.raises(WorkspaceError, match=r"no pyproject.toml with a \[project\]"):
        Workspace.discover(tmp_path)


# -- members / exclude ------------------------------------------------------------------


def test_exclude_removes_members_and_excluded_projects_stand_alone(tmp_path: Path) -> None:
    root = make(
        tmp_path / "ws",
        {
            "pyproject.toml": """
                [tool.uv.workspace]
                members = ["packages/*", "legacy/*/*"]
                exclude = ["packages/old", "legacy/*"]
            """,
            "packages/new/pyproject.toml": project("new"),
            "packages/old/pyproject.toml": project("old"),
            # uv's exclude `*` also crosses `/`: legacy/* excludes legacy/x/y
            "legacy/x/y/pyproject.toml": project("y"),
        },
    )
    ws = Workspace.discover(root)
    assert list(ws.members) == ["new"]
    alone = Workspace.discover(root / "packages" / "old")
    assert alone.kind == "single"
    assert alone.root == (root / "packages" / "old").resolve()
    assert list(alone.members) == ["old"]


def test_glob_matching_directory_without_pyproject(tmp_path: Path) -> None:
    root = make(
        tmp_path / "ws",
        {
            "pyproject.toml": '[tool.uv.workspace]\nmembers = ["libs/*"]\n',
            "libs/good/pyproject.toml": project("good"),
            "libs/stray/README.md": "not a project",
        },
    )
    with pytest.raises(WorkspaceError) as info:
        Workspace.discover(root)
    message = str(info.value)
    assert "libs/stray" in message
    assert "'libs/*'" in message
    assert str(root / "pyproject.toml") in message


def test_glob_ignores_files_empty_and_hidden_directories(tmp_path: Path) -> None:
    root = make(
        tmp_path / "ws",
        {
            "pyproject.toml": '[tool.uv.workspace]\nmembers = ["libs/*"]\n',
            "libs/good/pyproject.toml": project("good"),
            "libs/notes.txt": "a matched file is not a member",
            "libs/.cache/state": "a hidden directory is skipped by its name",
        },
    )
    (root / "libs" / "empty" / "only" / "subdirectories").mkdir(parents=True)
    assert list(Workspace.discover(root).members) == ["good"]
    # hidden files count, as in uv
    write_workspace(root, {"libs/hidden-only/.DS_Store": ""})
    with pytest.raises(WorkspaceError, match="libs/hidden-only"):
        Workspace.discover(root)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_glob_skips_directory_holding_only_gitignored_files(tmp_path: Path) -> None:
    root = make(
        tmp_path / "ws",
        {
            "pyproject.toml": '[tool.uv.workspace]\nmembers = ["libs/*"]\n',
            ".gitignore": "__pycache__/\n*.egg-info/\n",
            "libs/good/pyproject.toml": project("good"),
            "libs/deleted/__pycache__/mod.cpython-312.pyc": "",
            "libs/deleted/src/deleted.egg-info/PKG-INFO": "",
        },
    )
    with pytest.raises(WorkspaceError, match="libs/deleted"):
        Workspace.discover(root)  # not a git work tree: every file counts
    git_init(root)
    assert list(Workspace.discover(root).members) == ["good"]


@pytest.mark.parametrize(
    ("glob", "expected"),
    [
        ("pkgs/*", ["a", "xa"]),
        ("pkgs/**", ["a", "b", "xa"]),  # a trailing ** does not match pkgs itself
        ("pkgs/**/a", ["a"]),  # a middle ** matches zero directories
        ("**/b", ["b", "top-b"]),
        ("pkgs/[!x]*", ["a"]),
        ("pkgs/[^x]*", ["xa"]),  # only ! negates
        ("pkgs/?a", ["xa"]),
        ("pkgs/*/b", ["b"]),
        ("./pkgs/a/", ["a"]),
        ("pkgs/A", []),  # case-sensitive; no match is no member, not an error
        ("pkgs/missing", []),
    ],
)
def test_member_glob_semantics(tmp_path: Path, glob: str, expected: list[str]) -> None:
    root = make(
        tmp_path / "ws",
        {
            "pyproject.toml": f'[tool.uv.workspace]\nmembers = ["{glob}"]\n',
            "pkgs/a/pyproject.toml": project("a"),
            "pkgs/xa/pyproject.toml": project("xa"),
            "pkgs/xa/b/pyproject.toml": project("b"),
            "b/pyproject.toml": project("top-b"),
        },
    )
    assert list(Workspace.discover(root).members) == expected


@pytest.mark.parametrize(
    ("glob", "message"),
    [("pkgs/a**", "must be a whole path component"), ("pkgs/[a", "unclosed")],
)
def test_invalid_member_glob(tmp_path: Path, glob: str, message: str) -> None:
    root = make(tmp_path / "ws", {"pyproject.toml": f'[tool.uv.workspace]\nmembers = ["{glob}"]\n'})
    with pytest.raises(WorkspaceError, match=message) as info:
        Workspace.discover(root)
    assert "tool.uv.workspace.members[0]" in str(info.value)


def test_duplicate_member_names_name_both_directories(tmp_path: Path) -> None:
    root = make(
        tmp_path / "ws",
        {
            "pyproject.toml": '[tool.uv.workspace]\nmembers = ["one/*", "two/*"]\n',
            "one/x/pyproject.toml": project("Same.Name"),
            "two/y/pyproject.toml": project("same-name"),
        },
    )
    with pytest.raises(WorkspaceError, match="same-name") as info:
        Workspace.discover(root)
    assert "one/x" in str(info.value) and "two/y" in str(info.value)


def test_member_without_project_table(tmp_path: Path) -> None:
    root = make(
        tmp_path / "ws",
        {
            "pyproject.toml": '[tool.uv.workspace]\nmembers = ["libs/*"]\n',
            "libs/cfg/pyproject.toml": "[tool.ruff]\n",
        },
    )
    with pytest.raises(WorkspaceError, match=r"no \[project\] table") as info:
        Workspace.discover(root)
    assert str(root / "libs" / "cfg" / "pyproject.toml") in str(info.value)


def test_nested_workspace_is_an_error(tmp_path: Path) -> None:
    root = make(
        tmp_path / "ws",
        {
            "pyproject.toml": '[tool.uv.workspace]\nmembers = ["libs/*"]\n',
            "libs/inner/pyproject.toml": project("inner", "[tool.uv.workspace]", "members = []"),
        },
    )
    with pytest.raises(WorkspaceError, match="nested workspaces are not supported"):
        Workspace.discover(root)


def test_unmanaged_member_is_left_out(tmp_path: Path) -> None:
    root = make(
        tmp_path / "ws",
        {
            "pyproject.toml": '[tool.uv.workspace]\nmembers = ["libs/*"]\n',
            "libs/a/pyproject.toml": project("a"),
            "libs/b/pyproject.toml": project("b", "[tool.uv]", "managed = false"),
        },
    )
    assert list(Workspace.discover(root).members) == ["a"]


# -- sources and the member graph -------------------------------------------------------


def test_root_sources_inherited_and_overridden(explicit: Path) -> None:
    ws = Workspace.discover(explicit)
    git = {"git": "https://github.com/tqdm/tqdm"}
    assert ws.root_sources["tqdm"] == git
    assert ws.members["albatross"].sources["tqdm"] == git
    assert ws.members["bird-feeder"].sources["tqdm"] == git  # inherited
    assert ws.members["seeds"].sources["tqdm"] == {"index": "internal"}  # overridden
    assert ws.members["bird-feeder"].sources["seeds"] == {"workspace": True}
    assert ws.members["seeds"].sources["bird-feeder"] == {"workspace": True}  # from the root


def test_source_keys_are_normalized(tmp_path: Path) -> None:
    root = make(
        tmp_path / "ws",
        {
            "pyproject.toml": """
                [tool.uv.workspace]
                members = ["libs/*"]
                [tool.uv.sources]
                Bird_Feeder = { git = "https://example.invalid/bf" }
            """,
            "libs/bird-feeder/pyproject.toml": project("bird-feeder"),
            "libs/user/pyproject.toml": project(
                "user",
                'dependencies = ["BIRD.feeder>=1"]',
                "[tool.uv.sources]",
                "bird-FEEDER = { workspace = true }",
            ),
        },
    )
    ws = Workspace.discover(root)
    assert ws.root_sources == {"bird-feeder": {"git": "https://example.invalid/bf"}}
    assert ws.members["user"].sources == {"bird-feeder": {"workspace": True}}
    assert ws.members["user"].workspace_deps == {"bird-feeder"}


def test_workspace_deps_through_dependencies_extras_groups_and_root_sources(
    tmp_path: Path,
) -> None:
    root = make(
        tmp_path / "ws",
        {
            "pyproject.toml": """
                [tool.uv.workspace]
                members = ["libs/*"]
                [tool.uv.sources]
                base = { workspace = true }
                plug = { workspace = true }
                tools = { workspace = true }
            """,
            "libs/base/pyproject.toml": project("base"),
            "libs/plug/pyproject.toml": project("plug"),
            "libs/tools/pyproject.toml": project("tools"),
            "libs/app/pyproject.toml": project(
                "app",
                'dependencies = ["base", "requests"]',
                "[project.optional-dependencies]",
                "plugins = [\"plug; python_version >= '3.8'\"]",
                "[dependency-groups]",
                'dev = ["tools", "app[plugins]"]',
            ),
        },
    )
    ws = Workspace.discover(root)
    assert ws.members["app"].workspace_deps == {"base", "plug", "tools"}  # not itself
    assert ws.members["base"].workspace_deps == frozenset()


def test_workspace_source_for_a_non_member(tmp_path: Path) -> None:
    files = {
        "pyproject.toml": """
            [tool.uv.workspace]
            members = ["libs/*"]
            [tool.uv.sources]
            ghost = { workspace = true }
        """,
        "libs/a/pyproject.toml": project("a"),
    }
    # unused, as uv: not an error
    assert list(Workspace.discover(make(tmp_path / "unused", files)).members) == ["a"]
    files["libs/a/pyproject.toml"] = project("a", 'dependencies = ["ghost>=1"]')
    root = make(tmp_path / "used", files)
    with pytest.raises(WorkspaceError) as info:
        Workspace.discover(root)
    message = str(info.value)
    assert message.startswith(f"{root / 'pyproject.toml'}: tool.uv.sources.ghost")
    assert "not a workspace member" in message and "project.dependencies[0]" in message


def test_requiring_a_member_without_a_workspace_source(tmp_path: Path) -> None:
    root = make(
        tmp_path / "ws",
        {
            "pyproject.toml": '[tool.uv.workspace]\nmembers = ["libs/*"]\n',
            "libs/a/pyproject.toml": project("a"),
            "libs/b/pyproject.toml": project("b", 'dependencies = ["a"]'),
        },
    )
    with pytest.raises(WorkspaceError, match=r"a = \{ workspace = true \}"):
        Workspace.discover(root)


def test_dependencies_and_dependents_are_transitive(virtual: Path) -> None:
    ws = Workspace.discover(virtual)
    assert ws.members["c"].workspace_deps == {"b"}
    assert ws.members["b"].workspace_deps == {"a"}
    assert ws.dependencies("c") == {"a", "b"}
    assert ws.dependencies("A") == frozenset()
    assert ws.dependents("a") == {"b", "c"}
    assert ws.dependents("c") == frozenset()
    with pytest.raises(SelectionError, match="a, b, c"):
        ws.dependents("zzz")


def test_member_lookup_any_spelling(explicit: Path) -> None:
    ws = Workspace.discover(explicit)
    assert ws.member("Bird_Feeder") is ws.members["bird-feeder"]
    with pytest.raises(SelectionError, match="albatross, bird-feeder, seeds"):
        ws.member("nope")


# -- groups, extras, package, requires-python -------------------------------------------


def test_groups_include_group_legacy_dev_and_default_groups(tmp_path: Path) -> None:
    root = make(
        tmp_path / "solo",
        {
            "pyproject.toml": project(
                "solo",
                "[project.optional-dependencies]",
                'Fast_IO = ["orjson"]',
                "[dependency-groups]",
                'Test = ["pytest", {include-group = "LINT"}]',
                'lint = ["ruff"]',
                'dev = [{include-group = "test"}, "ipython"]',
                "[tool.uv]",
                'dev-dependencies = ["legacy-tool"]',
                'default-groups = ["dev", "Lint"]',
            )
        },
    )
    member = Workspace.discover(root).members["solo"]
    assert member.extras == {"fast-io": ("orjson",)}
    assert member.groups == {
        "test": ("pytest", "ruff"),
        "lint": ("ruff",),
        "dev": ("pytest", "ruff", "ipython", "legacy-tool"),
    }
    assert member.default_groups == ("dev", "lint")


@pytest.mark.parametrize(
    ("setting", "expected"),
    [("", ("dev",)), ('default-groups = "all"', "all"), ("default-groups = []", ())],
)
def test_default_groups_forms(tmp_path: Path, setting: str, expected: object) -> None:
    root = make(tmp_path / "solo", {"pyproject.toml": project("solo", "[tool.uv]", setting)})
    assert Workspace.discover(root).members["solo"].default_groups == expected


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        (['a = [{include-group = "b"}]', 'b = [{include-group = "a"}]'], "a -> b -> a"),
        (['a = [{include-group = "a"}]'], "a -> a"),
        (['a = [{include-group = "nope"}]'], "includes unknown group 'nope'"),
        (['a = [{include-group = "b", extra = 1}]', "b = []"], "include-group = NAME"),
        (["a = ['x']", "A = ['y']"], "repeats group 'a'"),
        (['"bad name!" = []'], "not a valid dependency group name"),
    ],
)
def test_bad_dependency_groups(tmp_path: Path, groups: list[str], message: str) -> None:
    root = make(
        tmp_path / "solo", {"pyproject.toml": project("solo", "[dependency-groups]", *groups)}
    )
    with pytest.raises(ConfigError, match=message) as info:
        Workspace.discover(root)
    assert "dependency-groups." in str(info.value)


def test_default_group_must_exist(tmp_path: Path) -> None:
    root = make(
        tmp_path / "solo",
        {"pyproject.toml": project("solo", "[tool.uv]", 'default-groups = ["docs"]')},
    )
    with pytest.raises(ConfigError, match=r"tool\.uv\.default-groups names group 'docs'"):
        Workspace.discover(root)


@pytest.mark.parametrize(
    ("lines", "build", "expected"),
    [
        ((), True, True),
        ((), False, False),  # no [build-system]: uv's virtual member
        (("[tool.uv]", "package = false"), True, False),
        (("[tool.uv]", "package = true"), False, True),
    ],
)
def test_package_flag(tmp_path: Path, lines: tuple[str, ...], build: bool, expected: bool) -> None:
    root = make(
        tmp_path / "ws",
        {
            "pyproject.toml": project(
                "root", *lines, "[tool.uv.workspace]", 'members = ["m"]', build=build
            ),
            "m/pyproject.toml": project("m", *lines, build=build),
        },
    )
    ws = Workspace.discover(root)
    assert ws.members["root"].package is expected
    assert ws.members["m"].package is expected


def test_requires_python_is_the_intersection(explicit: Path) -> None:
    ws = Workspace.discover(explicit)
    assert ws.requires_python == SpecifierSet(">=3.10,>=3.11,>=3.10,<3.14")
    assert ws.requires_python.contains("3.12") and not ws.requires_python.contains("3.10")
    assert not ws.requires_python.contains("3.14")
    assert ws.members["seeds"].requires_python == SpecifierSet(">=3.10,<3.14")


def test_dynamic_dependencies(tmp_path: Path) -> None:
    root = make(
        tmp_path / "solo",
        {"pyproject.toml": project("solo", 'dynamic = ["dependencies", "version"]')},
    )
    member = Workspace.discover(root).members["solo"]
    assert member.dynamic_dependencies and member.dependencies == ()


def test_conflicts_from_root_and_members(tmp_path: Path) -> None:
    root = make(
        tmp_path / "ws",
        {
            "pyproject.toml": """
                [tool.uv.workspace]
                members = ["libs/*"]
                [tool.uv]
                conflicts = [[{ package = "a", extra = "cpu" }, { package = "a", extra = "gpu" }]]
                index-strategy = "unsafe-best-match"
            """,
            "libs/a/pyproject.toml": project(
                "a",
                "[project.optional-dependencies]",
                "cpu = []",
                "gpu = []",
                "[dependency-groups]",
                "g1 = []",
                "g2 = []",
                "[tool.uv]",
                'conflicts = [[{ group = "g1" }, { group = "g2" }]]',
            ),
        },
    )
    ws = Workspace.discover(root)
    assert ws.conflicts == (
        ({"package": "a", "extra": "cpu"}, {"package": "a", "extra": "gpu"}),
        ({"package": "a", "group": "g1"}, {"package": "a", "group": "g2"}),
    )
    assert ws.uv_settings["index-strategy"] == "unsafe-best-match"


# -- member_for -------------------------------------------------------------------------


def test_member_for_explicit_root(explicit: Path) -> None:
    ws = Workspace.discover(explicit)
    feeder = explicit / "packages" / "bird-feeder"
    assert (
        ws.member_for(feeder / "src" / "bird_feeder" / "__init__.py") is ws.members["bird-feeder"]
    )
    assert ws.member_for(feeder) is ws.members["bird-feeder"]
    assert ws.member_for(explicit / "src" / "albatross" / "main.py") is ws.members["albatross"]
    assert ws.member_for(explicit / "packages") is ws.members["albatross"]
    assert ws.member_for(explicit.parent / "elsewhere.py") is None
    # a sibling directory whose name starts like a member's is not inside it
    assert ws.member_for(explicit / "packages" / "seeds-extra" / "x.py") is ws.members["albatross"]


def test_member_for_virtual_root_and_nested_members(virtual: Path) -> None:
    ws = Workspace.discover(virtual)
    plugin_file = virtual / "packages" / "b" / "plugins" / "c" / "tests" / "test_c.py"
    assert ws.member_for(plugin_file) is ws.members["c"]  # deepest member wins
    assert ws.member_for(virtual / "packages" / "b" / "plugins" / "x.py") is ws.members["b"]
    assert ws.member_for(virtual / "scripts" / "tool.py") is None
    assert ws.member_for(virtual / "pyproject.toml") is None
    assert ws.member_for(virtual.parent) is None


def test_member_for_relative_path(virtual: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(virtual / "packages")
    ws = Workspace.discover(Path())
    assert ws.member_for(Path("a") / "x.py") is ws.members["a"]


# -- errors in files --------------------------------------------------------------------


def test_malformed_toml_names_file_and_line(explicit: Path) -> None:
    bad = explicit / "packages" / "seeds" / "pyproject.toml"
    bad.write_text('[project]\nname = "seeds"\nversion = \n')
    with pytest.raises(ConfigError) as info:
        Workspace.discover(explicit)
    assert str(bad) in str(info.value)
    assert "line 3" in str(info.value)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            ("[project.optional-dependencies]", 'torch = "torch>=2"'),
            "project.optional-dependencies.torch must be a list of strings",
        ),
        (("[project.optional-dependencies]", "torch = [1]"), "must be a list of strings"),
        (('dependencies = ["ok", "not a requirement!!"]',), r"project.dependencies\[1\] is not"),
        (("requires-python = '>=three'",), "project.requires-python is not a valid"),
        (("[tool.uv]", 'package = "yes"'), "tool.uv.package must be true or false"),
        (("[tool.uv]", "default-groups = 3"), "tool.uv.default-groups must be"),
        (("[tool.uv]", "dev-dependencies = 'x'"), "tool.uv.dev-dependencies must be a list"),
        (("[tool.uv]", "sources = []"), "tool.uv.sources must be a table"),
        (("[tool.uv.sources]", "x = 1"), "tool.uv.sources.x must be a table or a list"),
        (("[tool.uv.sources]", 'x = { workspace = "yes" }'), "tool.uv.sources.x.workspace"),
        (("[tool.uv.sources]", '"a.b" = 1'), 'tool.uv.sources."a.b" must be'),
        (("[tool.uv]", "conflicts = [1]"), "tool.uv.conflicts must be a list of lists"),
        (("[tool.uv.workspace]", 'members = "libs/*"'), "tool.uv.workspace.members must be"),
        (("[project.optional-dependencies]", "A = []", "a = []"), "repeats extra 'a'"),
    ],
)
def test_typed_getters_report_file_and_dotted_key(
    tmp_path: Path, lines: tuple[str, ...], message: str
) -> None:
    root = make(
        tmp_path / "ws",
        {
            "pyproject.toml": '[tool.uv.workspace]\nmembers = ["packages/*"]\n',
            "packages/seeds/pyproject.toml": project("seeds", *lines),
        },
    )
    with pytest.raises(ConfigError, match=message) as info:
        Workspace.discover(root)
    assert str(info.value).startswith(f"{root / 'packages' / 'seeds' / 'pyproject.toml'}: ")


@pytest.mark.parametrize(
    "text",
    [
        "project = 1\n",
        "[project]\nversion = '1'\n",
        "[project]\nname = 3\n",
        "[project]\nname = 'bad name'\n",
        "tool = 'x'\n[project]\nname = 'a'\n",
    ],
)
def test_bad_project_tables_are_config_errors(tmp_path: Path, text: str) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "pyproject.toml").write_text(text)
    with pytest.raises(WsenvError):
        Workspace.discover(tmp_path / "p")


# -- uv as the oracle -------------------------------------------------------------------

UV_LAYOUTS = {
    "explicit": {
        "pyproject.toml": project(
            "root",
            "[tool.uv.workspace]",
            'members = ["packages/*", "deep/**/m*"]',
            'exclude = ["packages/skip*", "deep/x/*"]',
        ),
        "packages/a/pyproject.toml": project("a"),
        "packages/skip-me/pyproject.toml": project("skip-me"),
        "packages/.hidden/pyproject.toml": project("hidden"),
        "packages/notes.txt": "",
        "deep/m1/pyproject.toml": project("m1"),
        "deep/y/m2/pyproject.toml": project("m2"),
        "deep/x/z/m3/pyproject.toml": project("m3"),
    },
    "virtual": {
        "pyproject.toml": '[tool.uv.workspace]\nmembers = ["libs/*", "libs/a/sub/*"]\n',
        "libs/a/pyproject.toml": project("a"),
        "libs/a/sub/b/pyproject.toml": project("b"),
        "libs/.hidden-dir/file": "",
        "libs/empty/sub/": "",
    },
    "gitignored": {
        "pyproject.toml": '[tool.uv.workspace]\nmembers = ["libs/*"]\n',
        ".gitignore": "__pycache__/\n",
        "libs/a/pyproject.toml": project("a"),
        "libs/gone/__pycache__/a.pyc": "",
    },
}


@pytest.mark.uv
@pytest.mark.parametrize("layout", sorted(UV_LAYOUTS))
def test_members_agree_with_uv_workspace_list(tmp_path: Path, layout: str) -> None:
    uv = find_uv()
    if uv is None:
        pytest.skip("uv is not installed")
    root = make(tmp_path / "ws", UV_LAYOUTS[layout])
    if ".gitignore" in UV_LAYOUTS[layout]:
        if shutil.which("git") is None:
            pytest.skip("needs git")
        git_init(root)
    env = {
        **os.environ,
        "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
        "UV_OFFLINE": "1",
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_NO_CONFIG": "1",
    }
    proc = subprocess.run(
        [uv, "workspace", "list", "--paths"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0 and "unrecognized subcommand" in proc.stderr:
        pytest.skip("this uv has no `uv workspace list`")
    assert proc.returncode == 0, proc.stderr
    expected = sorted(Path(line).resolve() for line in proc.stdout.split())
    ws = Workspace.discover(root)
    assert sorted(m.path for m in ws.members.values()) == expected
