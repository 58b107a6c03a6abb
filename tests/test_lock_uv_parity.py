"""Freshness against ``uv lock --check`` on a generated corpus of edits.

A small locked workspace is edited one way at a time without running ``uv lock``
(requires-python, versions, markers, requirements, extras, groups, harmless
rewrites). For each edit our verdict, :meth:`Lock.check_fresh` after
:meth:`Workspace.discover` (fresh, or refused with a :class:`WsenvError`), must be
uv's: ``uv lock --check`` succeeds or fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_wsenv.errors import WsenvError
from pytest_wsenv.lock import Lock
from pytest_wsenv.workspace import Workspace

from .conftest import MakeWorkspace

pytestmark = [pytest.mark.uv, pytest.mark.slow]

ALPHA = "packages/alpha/pyproject.toml"
BETA = "packages/beta/pyproject.toml"
ROOT = "pyproject.toml"

FILES = {
    ROOT: """
        [tool.uv.workspace]
        members = ["packages/*"]

        [dependency-groups]
        dev = ["tinyright"]
    """,
    ALPHA: """
        [project]
        name = "alpha"
        version = "1.0.0"
        requires-python = ">=3.10"
        dependencies = [
            "tinyleft>=1",
            "beta",
            "tinyextra; sys_platform == 'win32'",
            "tinyfork; python_version < '3.12'",
        ]

        [project.optional-dependencies]
        x = ["tinyright"]

        [dependency-groups]
        test = ["tinyextra"]

        [tool.uv.sources]
        beta = { workspace = true }

        {BUILD_SYSTEM}
    """,
    BETA: """
        [project]
        name = "beta"
        version = "0.1.0"
        requires-python = ">=3.10"
        dependencies = ["tinyright>=1"]

        {BUILD_SYSTEM}
    """,
}

Edit = Callable[[str], str]


def replace(old: str, new: str) -> Edit:
    def edit(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, 1)

    return edit


def _reordered(text: str) -> str:
    lines = text.replace('            "tinyleft>=1",\n', "")
    return lines.replace('"beta",', '"beta",\n            "tinyleft>=1",', 1)


#: (id, file or files, edit): every edit that a user might make without `uv lock`.
MUTATIONS: list[tuple[str, str | tuple[str, ...], Edit]] = [
    ("unchanged", ALPHA, lambda text: text),
    # requires-python
    ("requires-python-raised", ALPHA, replace('">=3.10"', '">=3.11"')),
    ("requires-python-raised-both", BETA, replace('">=3.10"', '">=3.11"')),
    ("requires-python-lowered", BETA, replace('">=3.10"', '">=3.9"')),
    ("requires-python-spelled-differently", BETA, replace('">=3.10"', '" >= 3.10 "')),
    ("requires-python-upper-bound", BETA, replace('">=3.10"', '">=3.10,<4"')),
    ("requires-python-compatible-release", ALPHA, replace('">=3.10"', '"~=3.10"')),
    ("requires-python-removed", BETA, replace('requires-python = ">=3.10"\n', "")),
    (
        "requires-python-removed-everywhere",
        (ALPHA, BETA),
        replace('requires-python = ">=3.10"\n', ""),
    ),
    ("requires-python-invalid", BETA, replace('">=3.10"', '">=three"')),
    # versions
    ("version-bumped", ALPHA, replace('version = "1.0.0"', 'version = "1.0.1"')),
    ("version-same-normalized", ALPHA, replace('version = "1.0.0"', 'version = "1.0"')),
    ("version-v-prefix", BETA, replace('version = "0.1.0"', 'version = "v0.1.0"')),
    ("version-post", BETA, replace('version = "0.1.0"', 'version = "0.1.0.post1"')),
    ("version-local", ALPHA, replace('version = "1.0.0"', 'version = "1.0.0+local"')),
    (
        "version-made-dynamic",
        BETA,
        replace('version = "0.1.0"', 'dynamic = ["version"]'),
    ),
    ("version-not-a-version", BETA, replace('version = "0.1.0"', 'version = "banana"')),
    ("version-empty", ALPHA, replace('version = "1.0.0"', 'version = ""')),
    # markers
    (
        "marker-equivalent-spelling",
        ALPHA,
        replace("python_version < '3.12'", "python_full_version < '3.12'"),
    ),
    ("marker-changed", ALPHA, replace("sys_platform == 'win32'", "sys_platform == 'darwin'")),
    (
        "marker-invalid-version-unevaluated",
        ALPHA,
        replace("sys_platform == 'win32'", "sys_platform == 'win32' and python_version >= 'x'"),
    ),
    (
        "marker-invalid-version-alternative",
        ALPHA,
        replace("python_version < '3.12'", "python_version < '3.12' or python_version > 'x'"),
    ),
    ("marker-in", ALPHA, replace("sys_platform == 'win32'", "sys_platform in 'win32 cygwin'")),
    ("marker-unknown-variable", ALPHA, replace("sys_platform == 'win32'", "os_flavor == 'win'")),
    ("marker-syntax-error", ALPHA, replace("sys_platform == 'win32'", "sys_platform = 'win32'")),
    ("marker-added", BETA, replace('"tinyright>=1"', "\"tinyright>=1; os_name == 'posix'\"")),
    # requirements
    ("requirement-added", BETA, replace('"tinyright>=1"', '"tinyright>=1", "tinyleft"')),
    ("requirement-removed", ALPHA, replace('"tinyleft>=1",', "")),
    ("requirement-reordered", ALPHA, _reordered),
    ("specifier-changed", ALPHA, replace('"tinyleft>=1"', '"tinyleft>=1.5"')),
    ("specifier-spelled-differently", ALPHA, replace('"tinyleft>=1"', '"tinyleft >= 1"')),
    ("name-spelled-differently", ALPHA, replace('"tinyleft>=1"', '"TinyLeft>=1"')),
    ("requirement-invalid", BETA, replace('"tinyright>=1"', '"tinyright>>1"')),
    # extras and groups
    ("extra-added", ALPHA, replace('x = ["tinyright"]', 'x = ["tinyright"]\ny = ["tinyleft"]')),
    ("extra-requirement-changed", ALPHA, replace('x = ["tinyright"]', 'x = ["tinyleft"]')),
    ("group-added", ALPHA, replace('test = ["tinyextra"]', 'test = ["tinyextra"]\nlint = []')),
    ("group-changed", ROOT, replace('dev = ["tinyright"]', 'dev = ["tinyleft"]')),
    # edits that do not matter to the lock
    (
        "description-added",
        BETA,
        replace('version = "0.1.0"', 'version = "0.1.0"\ndescription = "b"'),
    ),
    ("tool-table-added", BETA, lambda text: text + "\n[tool.ruff]\nline-length = 99\n"),
]


#: Requirements that do not parse: uv then asks the member's build backend for its
#: metadata, so its verdict is the backend's (every common backend refuses them; the
#: tests' tiny backend returns the metadata written before the edit). We refuse them.
BACKEND_DECIDES = frozenset(
    {"marker-unknown-variable", "marker-syntax-error", "requirement-invalid"}
)


#: No requires-python anywhere: uv compares the lock with `>=X.Y` of the interpreter it
#: happens to find, a different verdict on different machines. We accept the lock (it
#: is what uv said on the machine that locked it).
INTERPRETER_DECIDES = frozenset({"requires-python-removed-everywhere"})


def _uv_verdict(uv: str, root: Path, wheelhouse: Path) -> tuple[bool, str]:
    env = dict(os.environ, UV_PYTHON_DOWNLOADS="never")
    proc = subprocess.run(
        [uv, "lock", "--check", "--offline", "--no-index", "--find-links", str(wheelhouse)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    return proc.returncode == 0, proc.stderr.strip()


def _our_verdict(root: Path) -> tuple[bool, str]:
    try:
        Lock.load(root / "uv.lock").check_fresh(Workspace.discover(root))
    except WsenvError as exc:
        return False, str(exc)
    return True, ""


def test_freshness_matches_uv_lock_check_on_a_mutation_corpus(
    make_workspace: MakeWorkspace, uv_bin: str, wheelhouse: Path, tmp_path: Path
) -> None:
    locked = make_workspace(FILES)
    assert _our_verdict(locked) == (True, "")
    problems = []
    for name, rel, edit in MUTATIONS:
        root = tmp_path / "mutations" / name
        shutil.copytree(locked, root)
        for each in (rel,) if isinstance(rel, str) else rel:
            target = root / each
            target.write_text(edit(target.read_text()))
        ours, we_say = _our_verdict(root)
        if name in BACKEND_DECIDES:
            assert not ours and "is not a valid requirement" in we_say, (name, we_say)
            continue
        if name in INTERPRETER_DECIDES:
            assert ours, (name, we_say)
            continue
        uv_fresh, uv_says = _uv_verdict(uv_bin, root, wheelhouse)
        if ours != uv_fresh:
            problems.append(
                f"{name}: uv {'accepts' if uv_fresh else 'refuses'} ({uv_says!r}), "
                f"we {'accept' if ours else 'refuse'} ({we_say!r})"
            )
        assert (root / "uv.lock").read_text() == (locked / "uv.lock").read_text()
    assert problems == [], "\n".join(problems)
