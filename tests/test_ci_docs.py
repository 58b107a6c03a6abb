"""docs/ci.md: its workflows parse and use exactly what the commands print.

PyYAML is not a dependency, so the YAML blocks are read with a small reader of the block
subset the page uses (mappings, sequences, plain and quoted scalars, flow lists, ``|``
blocks, comments); where PyYAML is installed the two readings must agree.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_wsenv.ci import render
from pytest_wsenv.cli import _parser, main

from .support.workspaces import write_workspace

CI_PAGE = Path(__file__).resolve().parents[1] / "docs" / "ci.md"
_FENCE = re.compile(r"^```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)
_MATRIX_REF = re.compile(r"\$\{\{\s*matrix\.([\w-]+)\s*\}\}")


# -- a reader for the block YAML the page uses ---------------------------------------------


class _YamlError(ValueError):
    pass


def _strip_comment(text: str) -> str:
    quote = ""
    for index, char in enumerate(text):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"" and (index == 0 or text[index - 1] in " [,:"):
            quote = char
        elif char == "#" and (index == 0 or text[index - 1] in " \t"):
            return text[:index].rstrip()
    return text.rstrip()


def _split_key(text: str) -> tuple[str, str] | None:
    """``key: value`` -> (key, value); None when ``text`` is not a mapping entry."""
    if text[:1] in "'\"":
        end = text.index(text[0], 1)
        key, rest = text[1:end], text[end + 1 :]
        return (key, rest[1:].strip()) if rest.startswith(":") else None
    match = re.match(r"([^\s:'\"][^:]*?):(?:\s+(.*))?\Z", text)
    if match is None:
        return None
    return match.group(1), (match.group(2) or "").strip()


def _scalar(text: str) -> Any:
    if text.startswith('"'):
        return json.loads(text)
    if text.startswith("'"):
        if not text.endswith("'") or len(text) < 2:
            raise _YamlError(f"unterminated quote: {text}")
        return text[1:-1].replace("''", "'")
    if text.startswith("["):
        if not text.endswith("]"):
            raise _YamlError(f"unterminated flow list: {text}")
        inner = text[1:-1].strip()
        return [_scalar(item.strip()) for item in inner.split(",")] if inner else []
    if text.startswith(("{", "&", "*", "!", "%", "@", "`")):
        raise _YamlError(f"not in the supported subset: {text}")
    if text in ("true", "false"):
        return text == "true"
    if text in ("null", "~", ""):
        return None
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return text


class _Reader:
    def __init__(self, text: str) -> None:
        if "\t" in text:
            raise _YamlError("tabs are not allowed in YAML indentation")
        self.raw = text.splitlines()
        self.pos = 0

    def _skip(self) -> None:
        while self.pos < len(self.raw) and not _strip_comment(self.raw[self.pos]).strip():
            self.pos += 1

    def _peek(self) -> tuple[int, str] | None:
        self._skip()
        if self.pos >= len(self.raw):
            return None
        line = _strip_comment(self.raw[self.pos])
        return len(line) - len(line.lstrip(" ")), line.strip()

    def document(self) -> Any:
        first = self._peek()
        if first is None:
            return None
        value = self._block(first[0])
        if self._peek() is not None:
            raise _YamlError(f"line {self.pos + 1}: unexpected indentation")
        return value

    def _block(self, indent: int) -> Any:
        head = self._peek()
        assert head is not None
        if head[1] == "-" or head[1].startswith("- "):
            return self._sequence(indent)
        return self._mapping(indent, head[1])

    def _literal(self, indent: int, style: str) -> str:
        lines: list[str] = []
        while self.pos < len(self.raw):
            line = self.raw[self.pos]
            if line.strip() and len(line) - len(line.lstrip(" ")) <= indent:
                break
            lines.append(line)
            self.pos += 1
        while lines and not lines[-1].strip():
            lines.pop()
        body = [line for line in lines if line.strip()]
        cut = min((len(line) - len(line.lstrip(" ")) for line in body), default=0)
        text = "\n".join(line[cut:] for line in lines)
        if style.startswith(">"):
            text = re.sub(r"(?<!\n)\n(?!\n)", " ", text)
        return text if style.endswith("-") else text + "\n"

    def _value(self, indent: int, rest: str) -> Any:
        if rest in ("|", "|-", ">", ">-"):
            return self._literal(indent, rest)
        if rest:
            return _scalar(rest)
        following = self._peek()
        if following is None:
            return None
        if following[0] > indent:
            return self._block(following[0])
        if following[0] == indent and (following[1] == "-" or following[1].startswith("- ")):
            return self._sequence(indent)
        return None

    def _mapping(self, indent: int, first: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = {}
        while True:
            if first is None:
                head = self._peek()
                if head is None or head[0] != indent or head[1].startswith("- "):
                    if head is not None and head[0] > indent:
                        raise _YamlError(f"line {self.pos + 1}: unexpected indentation")
                    return result
                first = head[1]
            entry = _split_key(first)
            if entry is None:
                raise _YamlError(f"line {self.pos + 1}: expected `key: value`, got {first!r}")
            key, rest = entry
            if key in result:
                raise _YamlError(f"line {self.pos + 1}: duplicate key {key!r}")
            self.pos += 1
            result[key] = self._value(indent, rest)
            first = None

    def _sequence(self, indent: int) -> list[Any]:
        items: list[Any] = []
        while True:
            head = self._peek()
            if head is None or head[0] != indent or not (head[1] == "-" or head[1][:2] == "- "):
                return items
            rest = head[1][2:].strip()
            if not rest:
                self.pos += 1
                following = self._peek()
                items.append(
                    self._block(following[0])
                    if following is not None and following[0] > indent
                    else None
                )
            elif rest in ("|", "|-", ">", ">-"):
                self.pos += 1
                items.append(self._literal(indent, rest))
            elif _split_key(rest) is not None:
                items.append(self._mapping(indent + 2, rest))
            else:
                self.pos += 1
                items.append(_scalar(rest))


def load_yaml(text: str) -> Any:
    """Read ``text``; where PyYAML is installed, check it reads the same."""
    value = _Reader(text).document()
    try:
        import yaml
    except ImportError:
        return value
    theirs = yaml.safe_load(text)
    if isinstance(theirs, dict) and True in theirs:  # YAML 1.1 reads a bare `on` as true
        theirs = {("on" if k is True else k): v for k, v in theirs.items()}
    assert theirs == value
    return value


def test_reader_reads_the_subset() -> None:
    text = """
a: 1  # comment
b:
  - x
  - "q: #1"
  - k: v
    l: [1, 'two', three]
c: |
  line one
    indented # kept
  line three
d:
- e: ${{ f }}
  g: needs.plan != '{"include":[]}'
- |
  x=1
  if true; then y=2; fi
"""
    assert load_yaml(text) == {
        "a": 1,
        "b": ["x", "q: #1", {"k": "v", "l": [1, "two", "three"]}],
        "c": "line one\n  indented # kept\nline three\n",
        "d": [
            {"e": "${{ f }}", "g": "needs.plan != '{\"include\":[]}'"},
            "x=1\nif true; then y=2; fi\n",
        ],
    }


@pytest.mark.parametrize(
    "text",
    ["a: 1\n  b: 2\n", "a: 1\na: 2\n", "a:\n\tb: 1\n", "a: 'open\n", "- a\nb: 1\n", "a: {b: 1}\n"],
)
def test_reader_rejects(text: str) -> None:
    with pytest.raises(_YamlError):
        _Reader(text).document()


# -- the page ---------------------------------------------------------------------------------


def _yaml_blocks() -> list[str]:
    text = CI_PAGE.read_text(encoding="utf-8")
    return [m["body"] for m in _FENCE.finditer(text) if m["lang"] in ("yaml", "yml")]


def _block_with(key: str) -> dict[str, Any]:
    found = [load_yaml(body) for body in _yaml_blocks()]
    matching = [doc for doc in found if isinstance(doc, dict) and key in doc]
    assert matching, f"docs/ci.md has no YAML block with a top-level {key!r}"
    return matching[0]


@pytest.mark.parametrize("body", _yaml_blocks())
def test_every_yaml_block_parses(body: str) -> None:
    assert isinstance(load_yaml(body), dict)


def _sample(tmp_path: Path, config: str = "") -> Path:
    files = {"pyproject.toml": '[tool.uv.workspace]\nmembers = ["packages/*"]\n' + config}
    for name, extras in (("bird-feeder", "torch = []\n"), ("seeds", "")):
        text = f'[project]\nname = "{name}"\nversion = "1"\nrequires-python = ">=3.11"\n'
        if extras:
            text += "[project.optional-dependencies]\n" + extras
        files[f"packages/{name}/pyproject.toml"] = text
    return write_workspace(tmp_path / "ws", files)


def _matrix(capsys: pytest.CaptureFixture[str], root: Path, *argv: str) -> str:
    assert main(["-C", str(root), "matrix", *argv]) == 0
    return capsys.readouterr().out.strip()


def _steps_text(job: dict[str, Any], field: str) -> str:
    return "\n".join(json.dumps(step.get(field, "")) for step in job["steps"])


def test_github_workflow_uses_the_matrix_command_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workflow = _block_with("jobs")
    assert "on" in workflow
    jobs = workflow["jobs"]
    plan, test = jobs["plan"], jobs["test"]

    # plan: a step with id `matrix` runs the command and writes the output it exports
    assert plan["outputs"]["matrix"] == "${{ steps.matrix.outputs.matrix }}"
    (step,) = [s for s in plan["steps"] if s.get("id") == "matrix"]
    assert "pytest-wsenv matrix --format github" in step["run"]
    assert 'echo "matrix=$matrix" >> "$GITHUB_OUTPUT"' in step["run"]
    assert "--changed-since" in step["run"]
    assert {"fetch-depth": 0} in [s.get("with") for s in plan["steps"]]

    # test: the matrix expression reads that output
    assert test["needs"] == "plan"
    assert test["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.matrix) }}"
    # the empty-plan guard compares with exactly what the command prints for no jobs
    guard = re.fullmatch(r"needs\.plan\.outputs\.matrix != '(.*)'", test["if"])
    assert guard is not None
    empty = _sample(tmp_path / "empty", '[tool.wsenv]\nskip = ["bird-feeder", "seeds"]\n')
    printed = _matrix(capsys, empty, "--format", "github", "--allow-empty")
    assert guard.group(1) == printed == render([], "github")
    assert "--allow-empty" in step["run"]

    root = _sample(tmp_path)
    plain = json.loads(_matrix(capsys, root, "--format", "github", "--extras-combos"))
    sharded = json.loads(_matrix(capsys, root, "--format", "github", "--shards", "1"))
    assert plain["include"] and sharded["include"]
    used = set(_MATRIX_REF.findall(json.dumps(test)))
    assert {"member", "python", "args", "name"} <= used
    for entry in plain["include"]:
        assert used <= entry.keys(), f"the workflow uses keys the command does not print: {used}"
    # shard entries have no `member`; what the steps run and install must still be there
    needed = set(_MATRIX_REF.findall(_steps_text(test, "run") + _steps_text(test, "with")))
    for entry in sharded["include"]:
        assert needed <= entry.keys()

    # the cache step is keyed by cache-key run with the same args as pytest
    (key_step,) = [s for s in test["steps"] if s.get("id") == "envs"]
    assert "pytest-wsenv cache-key ${{ matrix.args }}" in key_step["run"]
    (cache,) = [s for s in test["steps"] if str(s.get("uses", "")).startswith("actions/cache@")]
    assert cache["with"] == {"path": ".wsenv", "key": "${{ steps.envs.outputs.key }}"}
    runs = [s["run"] for s in test["steps"] if "run" in s]
    assert any(r.startswith("uv run --frozen pytest ${{ matrix.args }}") for r in runs)
    assert any("--ws-package ${{ matrix.member }}" in str(s.get("name")) for s in test["steps"])
    for entry in plain["include"] + sharded["include"]:
        args = shlex.split(entry["args"])
        _parser().parse_args(["cache-key", *args])  # cache-key accepts the job's args


def test_matrix_args_are_pytest_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _sample(tmp_path)
    entries = json.loads(_matrix(capsys, root, "--format", "github", "--extras-combos"))
    flags = {arg for e in entries["include"] for arg in shlex.split(e["args"]) if arg[:2] == "--"}
    assert flags == {"--ws-package", "--ws-extra", "--ws-python"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    for flag in flags:
        assert re.search(rf"^  {flag}[ =]", proc.stdout, re.M), flag


def test_gitlab_pipeline_uses_the_fragment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline = _block_with("stages")
    plan, trigger = pipeline["plan"], pipeline["tests"]["trigger"]
    script = "\n".join(plan["script"])
    assert "pytest-wsenv matrix --format gitlab" in script
    match = re.search(r"cat (\S+) matrix\.yml > (\S+)", script)
    assert match is not None
    template_path, child = match.groups()
    assert plan["artifacts"]["paths"] == [child]
    assert trigger["include"] == [{"artifact": child, "job": "plan"}]
    page = CI_PAGE.read_text(encoding="utf-8")
    assert f"`{template_path}`, the template" in page

    template_text = next(b for b in _yaml_blocks() if "extends: .wsenv-matrix" in b)
    (job,) = load_yaml(template_text).values()
    variables = set(re.findall(r"\$\{?(WSENV_[A-Z]+)", json.dumps(job)))
    assert {"WSENV_ARGS", "WSENV_PYTHON"} <= variables
    assert 'if [ -z "$WSENV_ARGS" ]' in job["script"][0]

    root = _sample(tmp_path)
    empty = _sample(tmp_path / "empty", '[tool.wsenv]\nskip = ["bird-feeder", "seeds"]\n')
    for workspace, argv in ((root, ()), (root, ("--shards", "2")), (empty, ("--allow-empty",))):
        fragment = _matrix(capsys, workspace, "--format", "gitlab", *argv)
        child_pipeline = load_yaml(template_text + "\n" + fragment + "\n")
        entries = child_pipeline[".wsenv-matrix"]["parallel"]["matrix"]
        assert entries
        for entry in entries:
            assert variables <= entry.keys()
            assert all(isinstance(v, str) for v in entry.values())
    assert entries == [dict.fromkeys(entries[0], "")]  # the empty plan's placeholder


def test_page_covers_sharding_and_changed_members() -> None:
    page = CI_PAGE.read_text(encoding="utf-8")
    for text in ("--shards", "--ws-shard", "--ws-changed-since", "[tool.wsenv]", "cache-key"):
        assert text in page
