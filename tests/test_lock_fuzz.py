"""Fuzz the lock reader: whatever ``uv.lock`` holds, failures are :class:`WsenvError`.

Inputs are random text and mutations of real locks (lines dropped, values given other
types, keys renamed, entries duplicated, the file truncated), fed to :meth:`Lock.loads`
and, when that succeeds, to :meth:`Lock.closure` and :meth:`Lock.check_fresh`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_wsenv.errors import WsenvError
from pytest_wsenv.lock import Lock
from pytest_wsenv.target import Target
from pytest_wsenv.workspace import Workspace

from ._lock_export import marker_env
from .conftest import REAL_FIXTURES
from .test_lock import LOCK, PYPROJECTS, write

FUZZ = settings(
    max_examples=int(os.environ.get("WSENV_FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

TARGETS = (
    Target(),
    Target(all_packages=True, all_extras=True, all_groups=True),
    Target(packages=("lib",), groups=("lint",)),
    Target(only_groups=("dev",)),
)
ENV = marker_env("3.12.1")

_KEY_LINE = re.compile(r"^(\s*)([A-Za-z0-9_-]+) = (.*)$")
_INLINE_KEY = re.compile(r"([A-Za-z0-9_-]+) = (\"[^\"]*\"|\[[^\]]*\]|\d+)")
LITERALS = ("1", "true", '"x"', "[]", "[1, 2]", "{}", "{ name = 3 }", '"1.0"', '"==="')


@functools.cache
def _real(name: str) -> tuple[str, Workspace] | None:
    root = REAL_FIXTURES / name / "workspace"
    if not (root / "uv.lock").is_file():
        return None
    return (root / "uv.lock").read_text(), Workspace.discover(root)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Workspace]:
    root = write(tmp_path_factory.mktemp("fuzz") / "ws", {**PYPROJECTS, "uv.lock": LOCK})
    return LOCK, Workspace.discover(root)


def _exercise(text: str, workspace: Workspace) -> None:
    """Load and use ``text``; any failure must be a WsenvError."""
    try:
        lock = Lock.loads(text, path=workspace.root / "uv.lock")
    except WsenvError:
        return
    for target in TARGETS:
        try:
            closure = lock.closure(workspace, target, ENV)
        except WsenvError:
            continue
        for pin in closure.pins:
            with contextlib.suppress(WsenvError):
                pin.requirement(workspace.root)
            assert isinstance(pin.hashes, tuple)
    with contextlib.suppress(WsenvError):
        lock.check_fresh(workspace)


@st.composite
def mutated(draw: st.DrawFn, text: str) -> str:
    lines = text.split("\n")
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        line = lines[i]
        kind = draw(st.sampled_from(["drop", "retype", "rename", "inline", "dup", "truncate"]))
        if kind == "drop":
            del lines[i]
        elif kind == "retype" and (m := _KEY_LINE.match(line)):
            lines[i] = f"{m.group(1)}{m.group(2)} = {draw(st.sampled_from(LITERALS))}"
        elif kind == "rename" and (m := _KEY_LINE.match(line)):
            lines[i] = f"{m.group(1)}{m.group(2)}x = {m.group(3)}"
        elif kind == "inline" and (found := list(_INLINE_KEY.finditer(line))):
            m = draw(st.sampled_from(found))
            new = draw(st.sampled_from(["", f"{m.group(1)} = {draw(st.sampled_from(LITERALS))}"]))
            lines[i] = line[: m.start()] + new + line[m.end() :]
        elif kind == "dup":
            lines.insert(i, line)
        elif kind == "truncate":
            lines[i] = line[: draw(st.integers(0, len(line)))]
            del lines[i + 1 :]
        if not lines:
            lines = [""]
    return "\n".join(lines)


@FUZZ
@given(data=st.data())
def test_mutated_small_lock(small: tuple[str, Workspace], data: st.DataObject) -> None:
    text, workspace = small
    _exercise(data.draw(mutated(text)), workspace)


@pytest.mark.parametrize("name", ["otel-python", "mcp-python-sdk"])
@settings(
    max_examples=int(os.environ.get("WSENV_FUZZ_EXAMPLES", "15")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(data=st.data())
def test_mutated_real_lock(name: str, data: st.DataObject) -> None:
    real = _real(name)
    if real is None:
        pytest.skip("real workspace fixtures not found beside the checkout")
    text, workspace = real
    _exercise(data.draw(mutated(text)), workspace)


@FUZZ
@given(text=st.text(max_size=400))
def test_random_text(small: tuple[str, Workspace], text: str) -> None:
    _exercise(text, small[1])


def _literal(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


_SCALARS = st.one_of(
    st.integers(-3, 3).map(str),
    st.sampled_from(["true", "false"]),
    st.sampled_from(["", "x", "1.0", "==1", ".", "sys_platform == 'linux'", "extra-3-app-x"]).map(
        _literal
    ),
)
_KEYS = st.sampled_from(["name", "version", "source", "marker", "extra", "registry", "editable"])
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]")
        | st.dictionaries(_KEYS, inner, max_size=3).map(
            lambda d: "{ " + ", ".join(f"{k} = {v}" for k, v in d.items()) + " }"
        )
    ),
    max_leaves=6,
)
_PACKAGE_KEYS = st.sampled_from(
    [
        "name",
        "version",
        "source",
        "dependencies",
        "wheels",
        "sdist",
        "optional-dependencies",
        "dev-dependencies",
        "resolution-markers",
        "metadata",
        "default-groups",
    ]
)


@FUZZ
@given(entries=st.lists(st.tuples(_PACKAGE_KEYS, _VALUES), max_size=6))
def test_generated_package_tables(
    small: tuple[str, Workspace], entries: list[tuple[str, str]]
) -> None:
    body = "\n".join(f"{key} = {value}" for key, value in dict(entries).items())
    text = LOCK + "\n[[package]]\n" + body + "\n"
    _exercise(text, small[1])


def test_fuzz_inputs_reach_the_reader(small: tuple[str, Workspace]) -> None:
    """The harness itself: a valid lock loads and yields pins (so mutations are meaningful)."""
    text, workspace = small
    lock = Lock.loads(text, path=workspace.root / "uv.lock")
    assert lock.closure(workspace, TARGETS[1], ENV).pins
    assert Path(workspace.root).is_dir()
