"""Random and mutated pyproject.toml files: discovery fails only with WsenvError."""

from __future__ import annotations

import math
import shutil
import sys
from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_wsenv.errors import WsenvError
from pytest_wsenv.workspace import Workspace

from .conftest import REAL_FIXTURES

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

pytestmark = pytest.mark.skipif(
    not REAL_FIXTURES.is_dir(), reason="real workspace fixtures not found beside the checkout"
)

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- a small TOML writer for the generated documents (inline tables only) ---------------


def _string(text: str) -> str:
    out = []
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value > 0 else "-inf")
            if math.isinf(value)
            else repr(value)
        )
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_string(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def dumps(doc: dict[str, Any]) -> str:
    return "".join(f"{_string(key)} = {_value(value)}\n" for key, value in doc.items())


def test_writer_round_trips_the_real_files() -> None:
    for file in sorted(REAL_FIXTURES.glob("*/workspace/**/pyproject.toml")):
        doc = tomllib.loads(file.read_text(encoding="utf-8"))
        assert tomllib.loads(dumps(doc)) == doc


# -- strategies -------------------------------------------------------------------------

KEYS = [
    "project", "name", "version", "dependencies", "dynamic", "optional-dependencies",
    "requires-python", "tool", "uv", "workspace", "members", "exclude", "sources",
    "dependency-groups", "include-group", "default-groups", "dev-dependencies", "package",
    "managed", "conflicts", "extra", "group", "build-system", "dev", "git", "index", "all",
]  # fmt: skip

GLOBISH = st.text(alphabet="ab-_.*?[]!/ ", max_size=8).filter(
    lambda s: not s.startswith("/") and ".." not in s
)
TEXT = st.one_of(
    st.sampled_from([*KEYS, ">=3.10", "<3", "pkg>=1", "pkg[x]; python_version < '3.11'", ""]),
    GLOBISH,
    st.text(max_size=12),
)
SCALARS = st.one_of(
    TEXT,
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False),
    st.dates(),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), inner, max_size=4),
    ),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*prefix, index)
            yield from _paths(item, (*prefix, index))


@st.composite
def mutated(draw: st.DrawFn, doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with a few keys dropped or values replaced by ones of other types."""
    import copy

    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 4))):
        paths = list(_paths(doc))
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent: Any = doc
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(VALUES)
    return doc


@st.composite
def text_mutated(draw: st.DrawFn, text: str) -> str:
    lines = text.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 3))):
        if not lines:
            break
        index = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["drop", "duplicate", "insert", "cut"]))
        if action == "drop":
            del lines[index]
        elif action == "duplicate":
            lines.insert(index, lines[index])
        elif action == "insert":
            lines.insert(index, draw(st.text(max_size=20)) + "\n")
        else:
            lines[index] = lines[index][: draw(st.integers(0, len(lines[index])))]
    return "".join(lines)


# -- the workspaces under test ----------------------------------------------------------


@pytest.fixture(scope="module")
def copies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("fuzz")
    found = {}
    for name in ("mcp-python-sdk", "otel-python"):
        found[name] = Path(
            shutil.copytree(REAL_FIXTURES / name / "workspace", base / name / "workspace")
        )
    return found


def _exercise(start: Path) -> None:
    """Discover from ``start``; use what came back. Only WsenvError may escape."""
    try:
        ws = Workspace.discover(start)
    except WsenvError:
        return
    for name, member in ws.members.items():
        assert ws.member(name) is member
        assert ws.member_for(member.path) is member
        assert name not in ws.dependencies(name)
        ws.dependents(name)
    str(ws.requires_python)


def _files(root: Path) -> list[Path]:
    return sorted(root.rglob("pyproject.toml"))


@FUZZ
@given(data=st.data())
def test_mutated_real_pyproject_files(copies: dict[str, Path], data: st.DataObject) -> None:
    root = copies[data.draw(st.sampled_from(sorted(copies)))]
    files = _files(root)
    target = data.draw(st.sampled_from([root / "pyproject.toml", root / "pyproject.toml", *files]))
    original = target.read_text(encoding="utf-8")
    if data.draw(st.booleans()):
        text = dumps(data.draw(mutated(tomllib.loads(original))))
    else:
        text = data.draw(text_mutated(original))
    target.write_text(text, encoding="utf-8")
    try:
        _exercise(data.draw(st.sampled_from([root, target.parent, *(f.parent for f in files)])))
    finally:
        target.write_text(original, encoding="utf-8")


@FUZZ
@given(
    root_doc=st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=5),
    member_doc=st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=5),
    use_workspace=st.booleans(),
)
def test_random_pyproject_documents(
    tmp_path_factory: pytest.TempPathFactory,
    root_doc: dict[str, Any],
    member_doc: dict[str, Any],
    use_workspace: bool,
) -> None:
    root = tmp_path_factory.mktemp("random")
    if use_workspace:
        root_doc.setdefault("tool", {"uv": {"workspace": {"members": ["libs/*"]}}})
    (root / "pyproject.toml").write_text(dumps(root_doc), encoding="utf-8")
    (root / "libs" / "m").mkdir(parents=True)
    (root / "libs" / "m" / "pyproject.toml").write_text(dumps(member_doc), encoding="utf-8")
    _exercise(root / "libs" / "m")
    _exercise(root)


@FUZZ
@given(text=st.text(max_size=200))
def test_arbitrary_text(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    root = tmp_path_factory.mktemp("text")
    (root / "pyproject.toml").write_text(text, encoding="utf-8", errors="surrogatepass")
    _exercise(root)
