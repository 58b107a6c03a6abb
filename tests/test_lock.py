"""Lock reading and closures on small hand-written ``uv.lock`` files."""

# ruff: noqa: E501  (lock texts are written the way uv writes them: one entry per line)

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pytest_wsenv.errors import LockError, SelectionError, StaleLockError
from pytest_wsenv.lock import Closure, Lock
from pytest_wsenv.target import Target
from pytest_wsenv.workspace import Workspace

from ._lock_export import marker_env

PY311 = marker_env("3.11.7")
PY312 = marker_env("3.12.1")
WIN312 = marker_env("3.12.1", "win32")

BUILD = """
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"
"""

PYPROJECTS = {
    "pyproject.toml": """
        [project]
        name = "app"
        version = "0.1.0"
        requires-python = ">=3.10"
        dependencies = ["lib", "tinyfork"]

        [project.optional-dependencies]
        fast = ["speedy[turbo]"]

        [dependency-groups]
        dev = ["checker>=3"]
        lint = ["linter; sys_platform != 'win32'"]

        [tool.uv.workspace]
        members = ["packages/*"]

        [tool.uv.sources]
        lib = { workspace = true }
        """
    + BUILD,
    "packages/lib/pyproject.toml": """
        [project]
        name = "lib"
        version = "1.0"
        requires-python = ">=3.10"
        dependencies = [
            "gitdep",
            "urldep",
            "vendored",
            "wheelfile; sys_platform == 'linux'",
        ]

        [tool.uv.sources]
        gitdep = { git = "https://github.com/example/gitdep", subdirectory = "py", rev = "v0.3" }
        urldep = { url = "https://example.org/urldep-2.0.tar.gz" }
        vendored = { path = "../../vendor/vendored" }
        wheelfile = { path = "../../wheels/wheelfile-4.0-py3-none-any.whl" }
        """
    + BUILD,
    "packages/tool/pyproject.toml": """
        [project]
        name = "tool"
        version = "0.2"
        requires-python = ">=3.10"
        dependencies = ["lib"]

        [dependency-groups]
        dev = ["linter>=0.9; python_version >= '3.11'"]
        """
    + BUILD,
    "packages/virt/pyproject.toml": """
        [project]
        name = "virt"
        version = "0.0.0"
        requires-python = ">=3.10"
        dependencies = ["speedy"]
        """,
}

LOCK = """
version = 1
revision = 3
requires-python = ">=3.10"
resolution-markers = [
    "python_full_version >= '3.12'",
    "python_full_version < '3.12'",
]

[manifest]
members = [
    "app",
    "lib",
    "tool",
    "virt",
]

[[package]]
name = "app"
version = "0.1.0"
source = { editable = "." }
dependencies = [
    { name = "lib" },
    { name = "tinyfork", version = "1.0", source = { registry = "https://pypi.org/simple" }, marker = "python_full_version < '3.12'" },
    { name = "tinyfork", version = "2.0", source = { registry = "https://pypi.org/simple" }, marker = "python_full_version >= '3.12'" },
]

[package.optional-dependencies]
fast = [
    { name = "speedy", extra = ["turbo"] },
]

[package.dev-dependencies]
dev = [
    { name = "checker" },
]
lint = [
    { name = "linter", marker = "sys_platform != 'win32'" },
]

[package.metadata]
requires-dist = [
    { name = "lib", editable = "packages/lib" },
    { name = "speedy", extras = ["turbo"], marker = "extra == 'fast'" },
    { name = "tinyfork" },
]
provides-extras = ["fast"]

[package.metadata.requires-dev]
dev = [{ name = "checker", specifier = ">=3" }]
lint = [{ name = "linter", marker = "sys_platform != 'win32'" }]

[[package]]
name = "checker"
version = "3.0"
source = { registry = "https://pypi.org/simple" }
sdist = { url = "https://files.example/checker-3.0.tar.gz", hash = "sha256:cc", size = 10 }
wheels = [
    { url = "https://files.example/checker-3.0-py3-none-any.whl", hash = "sha256:bb", size = 10 },
    { url = "https://files.example/checker-3.0-cp312-win_amd64.whl", hash = "sha256:aa", size = 10 },
]

[[package]]
name = "gitdep"
version = "0.3"
source = { git = "https://github.com/example/gitdep?subdirectory=py&rev=v0.3#0123456789abcdef0123456789abcdef01234567" }

[[package]]
name = "lib"
version = "1.0"
source = { editable = "packages/lib" }
dependencies = [
    { name = "gitdep" },
    { name = "urldep" },
    { name = "vendored" },
    { name = "wheelfile", marker = "sys_platform == 'linux'" },
]

[package.metadata]
requires-dist = [
    { name = "gitdep", git = "https://github.com/example/gitdep?subdirectory=py&rev=v0.3" },
    { name = "urldep", url = "https://example.org/urldep-2.0.tar.gz" },
    { name = "vendored", directory = "vendor/vendored" },
    { name = "wheelfile", marker = "sys_platform == 'linux'", path = "wheels/wheelfile-4.0-py3-none-any.whl" },
]

[[package]]
name = "linter"
version = "0.9"
source = { registry = "https://pypi.org/simple" }
wheels = [{ url = "https://files.example/linter-0.9-py3-none-any.whl", hash = "sha256:11" }]

[[package]]
name = "speedy"
version = "1.5"
source = { registry = "https://pypi.org/simple" }
wheels = [
    { url = "https://files.example/speedy-1.5-py3-none-any.whl", hash = "sha256:22" },
]

[package.optional-dependencies]
turbo = [
    { name = "turbine" },
]

[[package]]
name = "tinyfork"
version = "1.0"
source = { registry = "https://pypi.org/simple" }
resolution-markers = [
    "python_full_version < '3.12'",
]
wheels = [
    { url = "https://files.example/tinyfork-1.0-py3-none-any.whl", hash = "sha256:31" },
]

[[package]]
name = "tinyfork"
version = "2.0"
source = { registry = "https://pypi.org/simple" }
resolution-markers = [
    "python_full_version >= '3.12'",
]
wheels = [
    { url = "https://files.example/tinyfork-2.0-py3-none-any.whl", hash = "sha256:32" },
]

[[package]]
name = "tool"
version = "0.2"
source = { editable = "packages/tool" }
dependencies = [
    { name = "lib" },
]

[package.dev-dependencies]
dev = [
    { name = "linter", marker = "python_full_version >= '3.11'" },
]

[package.metadata]
requires-dist = [{ name = "lib" }]

[package.metadata.requires-dev]
dev = [{ name = "linter", marker = "python_full_version >= '3.11'", specifier = ">=0.9" }]

[[package]]
name = "turbine"
version = "7.0"
source = { registry = "https://pypi.org/simple" }
wheels = [
    { url = "https://files.example/turbine-7.0-py3-none-any.whl", hash = "sha256:44" },
    { url = "https://files.example/turbine-7.0-py3-none-any.whl", hash = "sha256:44" },
]

[[package]]
name = "urldep"
version = "2.0"
source = { url = "https://example.org/urldep-2.0.tar.gz" }
sdist = { hash = "sha256:dd" }

[[package]]
name = "vendored"
version = "0.1"
source = { directory = "vendor/vendored" }

[[package]]
name = "virt"
version = "0.0.0"
source = { virtual = "packages/virt" }
dependencies = [
    { name = "speedy" },
]

[package.metadata]
requires-dist = [{ name = "speedy" }]

[[package]]
name = "wheelfile"
version = "4.0"
source = { path = "wheels/wheelfile-4.0-py3-none-any.whl" }
wheels = [
    { filename = "wheelfile-4.0-py3-none-any.whl", hash = "sha256:ee" },
]
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    root = write(tmp_path / "ws", {**PYPROJECTS, "uv.lock": LOCK})
    return Workspace.discover(root)


@pytest.fixture
def lock(ws: Workspace) -> Lock:
    return Lock.load(ws.lock_path)


def versions(closure: Closure) -> dict[str, str | None]:
    return {p.name: p.version for p in closure.pins}


# --- closures -----------------------------------------------------------------------


def test_root_target_default_groups_and_fork(lock: Lock, ws: Workspace) -> None:
    got = versions(lock.closure(ws, Target(), PY311))
    assert got == {
        "app": "0.1.0",
        "checker": "3.0",
        "gitdep": "0.3",
        "lib": "1.0",
        "tinyfork": "1.0",
        "urldep": "2.0",
        "vendored": "0.1",
        "wheelfile": "4.0",
    }
    assert versions(lock.closure(ws, Target(), PY312))["tinyfork"] == "2.0"
    assert "wheelfile" not in versions(lock.closure(ws, Target(), WIN312))


def test_extra_on_a_dependency_pulls_that_extra(lock: Lock, ws: Workspace) -> None:
    plain = lock.closure(ws, Target(), PY312).names()
    fast = lock.closure(ws, Target(extras=("fast",)), PY312).names()
    assert fast - plain == {"speedy", "turbine"}
    assert lock.closure(ws, Target(all_extras=True), PY312).names() == fast


def test_virtual_member_is_not_installed_but_its_dependencies_are(
    lock: Lock, ws: Workspace
) -> None:
    closure = lock.closure(ws, Target(packages=("virt",)), PY312)
    assert closure.names() == {"speedy"}


def test_member_groups_and_root_group_inheritance(lock: Lock, ws: Workspace) -> None:
    # tool's own default group "dev"; the root's groups are not inherited by default
    tool = lock.closure(ws, Target(packages=("tool",)), PY312).names()
    assert tool == {"tool", "lib", "gitdep", "urldep", "vendored", "wheelfile", "linter"}
    # the dev group's marker: python >= 3.11
    assert (
        "linter" not in lock.closure(ws, Target(packages=("tool",)), marker_env("3.10.13")).names()
    )
    # --group lint: tool lacks it, so the root's lint group is used (not the root itself)
    lint = lock.closure(ws, Target(packages=("tool",), groups=("lint",), no_dev=True), PY312)
    assert "linter" in lint.names() and "app" not in lint.names()
    # --all-groups: tool's own dev, plus the root's groups tool does not define (lint);
    # the root's dev group is shadowed by tool's own
    everything = lock.closure(ws, Target(packages=("tool",), all_groups=True), PY312).names()
    assert "linter" in everything and not {"checker", "app"} & everything
    # lib has no groups: default "dev" does not fall back to the root's dev group
    assert "checker" not in lock.closure(ws, Target(packages=("lib",)), PY312).names()


def test_default_groups_recorded_in_the_lock_win(ws: Workspace) -> None:
    """Lock revision 5 records non-default ``default-groups``; the lock is the authority."""
    old = 'source = { editable = "packages/tool" }\n'
    assert old in LOCK
    text = LOCK.replace("revision = 3", "revision = 5").replace(old, old + "default-groups = []\n")
    lock = Lock.loads(text, path=ws.lock_path)
    assert "linter" not in lock.closure(ws, Target(packages=("tool",)), PY312).names()
    with pytest.raises(StaleLockError, match="member 'tool': default-groups \\['dev'\\] differs"):
        lock.check_fresh(ws)


def test_group_flags(lock: Lock, ws: Workspace) -> None:
    only = lock.closure(ws, Target(only_groups=("lint",)), PY312)
    assert only.names() == {"linter"}
    assert lock.closure(ws, Target(only_groups=("lint",)), WIN312).names() == set()
    assert "checker" not in lock.closure(ws, Target(no_dev=True), PY312).names()
    assert "checker" not in lock.closure(ws, Target(no_default_groups=True), PY312).names()
    both = lock.closure(ws, Target(groups=("lint",)), PY312).names()
    assert {"checker", "linter"} <= both


def test_all_packages_and_several_packages(lock: Lock, ws: Workspace) -> None:
    everything = lock.closure(ws, Target(all_packages=True), PY312).names()
    assert {"app", "lib", "tool", "speedy", "checker", "linter"} <= everything
    assert "virt" not in everything and "turbine" not in everything
    two = lock.closure(ws, Target(packages=("tool", "virt")), PY312).names()
    assert {"tool", "speedy", "linter"} <= two and "app" not in two


def test_pins_carry_sources_hashes_and_requirements(lock: Lock, ws: Workspace) -> None:
    closure = lock.closure(ws, Target(packages=("app",), extras=("fast",)), PY312)
    root = ws.root
    pins = {p.name: p for p in closure.pins}
    assert pins["checker"].hashes == ("sha256:aa", "sha256:bb", "sha256:cc")
    assert pins["turbine"].hashes == ("sha256:44",)  # listed twice, reported once
    reqs = {p.name: p.requirement(root) for p in closure.pins}
    assert reqs["checker"] == "checker==3.0"
    assert reqs["app"] == f"-e {root}"
    assert reqs["lib"] == f"-e {root / 'packages' / 'lib'}"
    assert reqs["gitdep"] == (
        "gitdep @ git+https://github.com/example/gitdep"
        "@0123456789abcdef0123456789abcdef01234567#subdirectory=py"
    )
    assert reqs["urldep"] == "urldep @ https://example.org/urldep-2.0.tar.gz"
    assert reqs["vendored"] == f"vendored @ {(root / 'vendor' / 'vendored').as_uri()}"
    wheel = root / "wheels" / "wheelfile-4.0-py3-none-any.whl"
    assert reqs["wheelfile"] == f"wheelfile @ {wheel.as_uri()}"
    app, lib, vendored = pins["app"], pins["lib"], pins["vendored"]
    assert app.editable and app.member and app.source == "."
    assert lib.source_kind == "editable" and lib.source == "packages/lib"
    assert not vendored.member and not vendored.editable
    assert [p.name for p in closure.pins] == sorted(pins)
    assert pins["urldep"].sdist is not None and pins["urldep"].hashes == ("sha256:dd",)
    assert pins["urldep"].sdist.filename == "urldep-2.0.tar.gz"
    assert pins["wheelfile"].wheels[0].path == "wheels/wheelfile-4.0-py3-none-any.whl"
    assert closure.get("nothere") is None and closure.get("lib") is lib


def test_find_links_artifact_paths_are_joined_to_the_registry(tmp_path: Path) -> None:
    root = write(
        tmp_path / "one",
        {
            "pyproject.toml": """
                [project]
                name = "one"
                version = "1"
                requires-python = ">=3.10"
                dependencies = ["tinyleft"]
                """,
            "uv.lock": """
                version = 1
                revision = 5
                requires-python = ">=3.10"

                [[package]]
                name = "one"
                version = "1"
                source = { virtual = "." }
                dependencies = [{ name = "tinyleft" }]

                [[package]]
                name = "tinyleft"
                version = "2.0"
                source = { registry = "wheels" }
                wheels = [
                    { path = "tinyleft-2.0-py3-none-any.whl" },
                ]
                """,
        },
    )
    ws = Workspace.discover(root)
    closure = Lock.load(root / "uv.lock").closure(ws, Target(), PY312)
    (pin,) = closure.pins
    assert pin.source == "wheels" and pin.hashes == ()
    assert pin.wheels[0].path == "wheels/tinyleft-2.0-py3-none-any.whl"
    assert pin.requirement(root) == "tinyleft==2.0"


CONFLICT_PYPROJECT = """
    [project]
    name = "root"
    version = "0.1.0"
    requires-python = ">=3.10"
    dependencies = ["tinyright"]

    [project.optional-dependencies]
    y = ["tinyleft<2"]
    z = ["tinyleft>=2"]

    [tool.uv]
    conflicts = [[{ extra = "y" }, { extra = "z" }]]
    """

CONFLICT_LOCK = """
    version = 1
    revision = 5
    requires-python = ">=3.10"
    conflicts = [[
        { package = "root", extra = "y" },
        { package = "root", extra = "z" },
    ]]

    [[package]]
    name = "root"
    version = "0.1.0"
    source = { editable = "." }
    dependencies = [
        { name = "tinyright" },
    ]

    [package.optional-dependencies]
    y = [
        { name = "tinyleft", version = "1.0", source = { registry = "https://pypi.org/simple" } },
    ]
    z = [
        { name = "tinyleft", version = "2.0", source = { registry = "https://pypi.org/simple" } },
    ]

    [[package]]
    name = "tinyleft"
    version = "1.0"
    source = { registry = "https://pypi.org/simple" }

    [[package]]
    name = "tinyleft"
    version = "2.0"
    source = { registry = "https://pypi.org/simple" }

    [[package]]
    name = "tinyright"
    version = "1.0"
    source = { registry = "https://pypi.org/simple" }
    dependencies = [
        { name = "tinyleft", version = "1.0", source = { registry = "https://pypi.org/simple" }, marker = "extra == 'extra-4-root-y'" },
        { name = "tinyleft", version = "2.0", source = { registry = "https://pypi.org/simple" }, marker = "extra != 'extra-4-root-y' or extra == 'extra-4-root-z'" },
    ]
    """


def test_conflicting_extras(tmp_path: Path) -> None:
    root = write(tmp_path / "c", {"pyproject.toml": CONFLICT_PYPROJECT, "uv.lock": CONFLICT_LOCK})
    ws = Workspace.discover(root)
    lock = Lock.load(root / "uv.lock")
    assert versions(lock.closure(ws, Target(), PY312))["tinyleft"] == "2.0"
    assert versions(lock.closure(ws, Target(extras=("y",)), PY312))["tinyleft"] == "1.0"
    assert versions(lock.closure(ws, Target(extras=("z",)), PY312))["tinyleft"] == "2.0"
    for target in (Target(extras=("y", "z")), Target(all_extras=True)):
        with pytest.raises(SelectionError, match=r"root\[y\], root\[z\].*conflicts"):
            lock.closure(ws, target, PY312)


# --- selection errors -------------------------------------------------------------


def test_unknown_package_extra_group_name_what_exists(lock: Lock, ws: Workspace) -> None:
    with pytest.raises(
        SelectionError, match=r"no workspace member named 'nope'.*app, lib, tool, virt"
    ):
        lock.closure(ws, Target(packages=("nope",)), PY312)
    with pytest.raises(SelectionError, match=r"extra 'turbo' is not defined by member 'app'.*fast"):
        lock.closure(ws, Target(extras=("turbo",)), PY312)
    with pytest.raises(
        SelectionError, match=r"extra 'fast' is not defined by member 'lib'; extras: none"
    ):
        lock.closure(ws, Target(packages=("lib",), extras=("fast",)), PY312)
    with pytest.raises(
        SelectionError, match=r"group 'docs' is not defined by member 'tool'.*dev, lint"
    ):
        lock.closure(ws, Target(packages=("tool",), groups=("docs",)), PY312)
    with pytest.raises(SelectionError, match="group 'docs'"):
        lock.closure(ws, Target(only_groups=("docs",)), PY312)


def test_interpreter_outside_requires_python(lock: Lock, ws: Workspace) -> None:
    with pytest.raises(SelectionError, match=r"3\.9\.18 is outside the lock's requires-python"):
        lock.closure(ws, Target(), marker_env("3.9.18"))


# --- load errors ---------------------------------------------------------------------


def test_missing_lock_says_what_happens_instead(tmp_path: Path) -> None:
    with pytest.raises(LockError) as info:
        Lock.load(tmp_path / "uv.lock")
    message = str(info.value)
    assert "there is no uv.lock" in message
    assert "resolves each member from its declared requirements" in message
    assert info.value.path == tmp_path / "uv.lock"


@pytest.mark.parametrize("version", [0, 2, 7])
def test_unsupported_version(tmp_path: Path, version: int) -> None:
    path = tmp_path / "uv.lock"
    path.write_text(f"version = {version}\nrevision = 1\n")
    with pytest.raises(LockError, match=rf"unsupported lock version {version}.*version 1"):
        Lock.load(path)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('{ name = "gitdep" },', "{ },", r"package\[3\]\.dependencies\[0\]: missing 'name'"),
        (
            '{ name = "gitdep" },',
            "{ name = 3 },",
            r"package\[3\]\.dependencies\[0\]\.name: expected a string",
        ),
        ('name = "checker"\nversion', "version", r"package\[1\]: missing 'name'"),
        ('source = { directory = "vendor/vendored" }', "", r"package\[11\]: missing 'source'"),
        (
            'source = { directory = "vendor/vendored" }',
            'source = { directory = "a", path = "b" }',
            r"package\[11\]\.source: expected exactly one of",
        ),
        (
            '{ name = "gitdep" },',
            '{ name = "nothere" },',
            r"package\[3\]\.dependencies\[0\]: no \[\[package\]\] matches 'nothere'",
        ),
        (
            'version = "2.0"\nsource',
            'version = "1.0"\nsource',
            r"more than one \[\[package\]\] matches 'tinyfork'",
        ),
        ('"app",\n    "lib"', '"app",\n    7', r"manifest\.members\[1\]: expected a string"),
        ("revision = 3", 'revision = "3"', r"revision: expected an integer"),
        (
            'provides-extras = ["fast"]',
            "provides-extras = 1",
            r"package\[0\]\.metadata\.provides-extras: expected an array",
        ),
        (
            '[[package]]\nname = "app"',
            '[[package]]\nname = "app"\nwheels = 3',
            r"package\[0\]\.wheels: expected an array of tables",
        ),
        ("marker = \"sys_platform != 'win32'\"", 'marker = "sys_platform !! 3"', r"invalid marker"),
    ],
)
def test_structural_errors_name_the_dotted_key(
    ws: Workspace, old: str, new: str, message: str
) -> None:
    assert old in LOCK
    text = LOCK.replace(old, new, 1)
    with pytest.raises(LockError, match=message) as info:
        lock = Lock.loads(text, path=ws.lock_path)
        lock.closure(ws, Target(groups=("lint",), all_extras=True), PY312)
    assert str(info.value).startswith(f"{ws.lock_path}: ")


def test_bad_toml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "uv.lock"
    path.write_text('version = 1\nrevision = 3\n[[package]]\nname = "x\n')
    with pytest.raises(LockError, match=r"invalid TOML.*line 4"):
        Lock.load(path)


def test_deferred_artifacts_equal_a_full_parse(lock: Lock, ws: Workspace) -> None:
    """Artifacts are parsed on demand in uv's layout; any other layout parses at once."""
    target = Target(all_packages=True, all_extras=True, all_groups=True)
    fast = lock.closure(ws, target, PY312)
    odd = LOCK.replace("wheels = [\n", "wheels = [\n\n")  # a blank line: not uv's layout
    slow = Lock.loads(odd, path=ws.lock_path).closure(ws, target, PY312)
    assert fast == slow and any(p.wheels for p in fast.pins)
    broken = LOCK.replace('hash = "sha256:44" },\n]', 'hash = "sha256:44" ,\n]')
    lazy = Lock.loads(broken, path=ws.lock_path)  # the broken wheel line is not read yet
    with pytest.raises(LockError, match="invalid TOML"):
        lazy.closure(ws, Target(extras=("fast",)), PY312)


# --- freshness -----------------------------------------------------------------------


def test_check_fresh_passes_and_compares_markers_by_meaning(lock: Lock, ws: Workspace) -> None:
    # tool's pyproject says python_version >= '3.11', the lock python_full_version >= '3.11'
    lock.check_fresh(ws)


def stale(tmp_path: Path, rel: str, old: str, new: str) -> str:
    files = dict(PYPROJECTS)
    assert old in files[rel], old
    files[rel] = files[rel].replace(old, new, 1)
    root = write(tmp_path / "stale", {**files, "uv.lock": LOCK})
    with pytest.raises(StaleLockError) as info:
        Lock.load(root / "uv.lock").check_fresh(Workspace.discover(root))
    return str(info.value)


@pytest.mark.parametrize(
    ("rel", "old", "new", "expected"),
    [
        (
            "packages/tool/pyproject.toml",
            'dependencies = ["lib"]',
            'dependencies = ["lib", "tqdm>=4"]',
            "member 'tool': 'tqdm>=4' is in pyproject.toml but not in the lock; run `uv lock`",
        ),
        (
            "pyproject.toml",
            'dependencies = ["lib", "tinyfork"]',
            'dependencies = ["lib"]',
            "member 'app': 'tinyfork' is in the lock but not in pyproject.toml",
        ),
        (
            "pyproject.toml",
            'dev = ["checker>=3"]',
            'dev = ["checker>=4"]',
            "member 'app': 'checker>=4' (group 'dev') is in pyproject.toml but not in the lock",
        ),
        (
            "packages/tool/pyproject.toml",
            "python_version >= '3.11'",
            "python_version >= '3.12'",
            "member 'tool': 'linter>=0.9; python_version >= '3.12'' (group 'dev')",
        ),
        (
            "pyproject.toml",
            'fast = ["speedy[turbo]"]',
            'fast = ["speedy"]',
            "member 'app': 'speedy' is in pyproject.toml but not in the lock",
        ),
        (
            "pyproject.toml",
            'fast = ["speedy[turbo]"]',
            'fast = ["speedy[turbo]"]\nslow = []',
            "member 'app': extra 'slow' is only in pyproject.toml",
        ),
        (
            "pyproject.toml",
            "lint = [\"linter; sys_platform != 'win32'\"]",
            "lint = [\"linter; sys_platform != 'win32'\"]\ndocs = []",
            "member 'app': dependency group 'docs' is only in pyproject.toml",
        ),
        (
            "packages/lib/pyproject.toml",
            'urldep = { url = "https://example.org/urldep-2.0.tar.gz" }\n',
            "",
            "member 'lib': 'urldep' is in pyproject.toml but not in the lock",
        ),
    ],
)
def test_stale_lock_is_detected(
    tmp_path: Path, rel: str, old: str, new: str, expected: str
) -> None:
    assert expected in stale(tmp_path, rel, old, new)


def test_stale_when_a_member_is_added(tmp_path: Path) -> None:
    extra = {"packages/new/pyproject.toml": '[project]\nname = "new"\nversion = "1"\n'}
    root = write(tmp_path / "added", {**PYPROJECTS, **extra, "uv.lock": LOCK})
    with pytest.raises(StaleLockError, match="member 'new': the member is not in the lock"):
        Lock.load(root / "uv.lock").check_fresh(Workspace.discover(root))


def test_equivalent_spellings_are_fresh(tmp_path: Path) -> None:
    files = dict(PYPROJECTS)
    files["pyproject.toml"] = files["pyproject.toml"].replace(
        'dev = ["checker>=3"]', 'dev = ["Checker >= 3.0", "checker>=3"]'
    )
    root = write(tmp_path / "same", {**files, "uv.lock": LOCK})
    Lock.load(root / "uv.lock").check_fresh(Workspace.discover(root))
