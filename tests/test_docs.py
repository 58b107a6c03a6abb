"""The documentation agrees with the code: snippets parse, options exist, commands match CI."""

from __future__ import annotations

import configparser
import functools
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
OPTIONS = ROOT / "docs" / "options.md"
CLI = ROOT / "docs" / "cli.md"
CI_RUN = ROOT / ".ci" / "run"
INDEX = ROOT / "docs" / "index.md"
EXAMPLE = ROOT / "examples" / "albatross"
#: The pages whose commands must run on the bundled example (or name their workspace).
COMMAND_PAGES = sorted([README, *ROOT.glob("docs/*.md")])
PAGES = sorted(
    [README, ROOT / "CHANGELOG.md", *ROOT.glob("docs/*.md"), *ROOT.glob("examples/*/README.md")]
)

#: The two commands a newcomer types on a fresh clone (README, near the top).
RUN_EXAMPLE = (
    'python -m pip install -e ".[uv]" && python -m pytest --ws-isolated examples/albatross'
)
RUN_TESTS = 'python -m pip install -e ".[test]" && python -m pytest -n 2'

_FENCE = re.compile(r"^```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)
_OPTION = re.compile(r"--ws-[a-z0-9-]*[a-z0-9]")
_INI = re.compile(r"\bwsenv_[a-z0-9_]*[a-z0-9]\b")
_LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)\)")


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _blocks(langs: set[str]) -> list[Any]:
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in _FENCE.finditer(text):
            lang = match["lang"].lower()
            if lang in langs:
                line = text.count("\n", 0, match.start()) + 1
                found.append(pytest.param(lang, match["body"], id=f"{_rel(page)}:{line}"))
    return found


@functools.cache
def _pytest_help() -> str:
    with tempfile.TemporaryDirectory() as cwd:
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "--help"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
        )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _registered() -> tuple[set[str], set[str]]:
    """(``--ws-*`` options, ``wsenv_*`` ini keys) that ``pytest --help`` lists."""
    text = _pytest_help()
    options = set(re.findall(r"^  (--ws-[a-z0-9-]+)", text, re.M))
    inis = set(re.findall(r"^  (wsenv_[a-z0-9_]+) \(", text, re.M))
    if not options:
        pytest.skip("the plugin registers no --ws-* option yet (`pytest --help`)")
    return options, inis


# -- snippets ------------------------------------------------------------------------


@pytest.mark.parametrize(("lang", "body"), _blocks({"toml"}))
def test_toml_snippet_parses(lang: str, body: str) -> None:
    tomllib.loads(body)


@pytest.mark.parametrize(("lang", "body"), _blocks({"ini", "cfg"}))
def test_ini_snippet_parses(lang: str, body: str) -> None:
    configparser.ConfigParser(interpolation=None).read_string(body)


@pytest.mark.parametrize(("lang", "body"), _blocks({"bash", "sh", "shell"}))
def test_shell_snippet_parses(lang: str, body: str) -> None:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    proc = subprocess.run([bash, "-n"], input=body, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(("lang", "body"), _blocks({"yaml", "yml"}))
def test_yaml_snippet_parses(lang: str, body: str) -> None:
    yaml = pytest.importorskip("yaml")
    yaml.safe_load(body)


def test_pre_commit_config_parses() -> None:
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    hooks = {hook["id"] for repo in config["repos"] for hook in repo["hooks"]}
    assert {"ruff-check", "ruff-format", "mypy"} <= hooks


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for match in _LINK.finditer(page.read_text(encoding="utf-8")):
        target = match["target"]
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        if not dest.exists() or (anchor and dest.suffix == ".md" and anchor not in _anchors(dest)):
            broken.append(target)
    assert not broken, f"{_rel(page)}: broken links {broken}"


def _anchors(page: Path) -> set[str]:
    headings = re.findall(r"^#+\s+(.*?)\s*$", page.read_text(encoding="utf-8"), re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def test_index_links_every_page() -> None:
    linked = {
        (INDEX.parent / m["target"].partition("#")[0]).resolve()
        for m in _LINK.finditer(INDEX.read_text(encoding="utf-8"))
        if not re.match(r"[a-z][a-z0-9+.-]*:", m["target"])
    }
    pages = {p.resolve() for p in INDEX.parent.glob("*.md")} - {INDEX.resolve()}
    assert sorted(p.name for p in pages - linked) == [], "pages docs/index.md does not link"


# -- commands on the bundled example ---------------------------------------------------

_CODE = re.compile(r"`([^`\n]+)`")
_RUNS = re.compile(r"^(?:\$ )?(?:python -m )?(?P<prog>pytest_wsenv|pytest-wsenv|pytest)\b")


def _commands() -> list[Any]:
    """Every ``pytest``/``pytest-wsenv`` command of the README and docs/, one line each:
    in shell and plain code blocks and in inline code."""
    found = []
    for page in COMMAND_PAGES:
        text = page.read_text(encoding="utf-8")
        lines: list[tuple[int, str]] = []
        for match in _FENCE.finditer(text):
            if match["lang"].lower() in ("bash", "sh", "shell", "console", ""):
                start = text.count("\n", 0, match.start("body")) + 1
                body = match["body"].replace("\\\n", " ")
                lines += [(start + i, line) for i, line in enumerate(body.splitlines())]
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.startswith(("    ", "```")):
                lines += [(number, code) for code in _CODE.findall(line)]
        for number, line in lines:
            for part in line.split("&&"):
                command = part.split("  #", 1)[0].strip()
                match = _RUNS.match(command)
                if match is not None:
                    command = command[match.start("prog") :]
                    found.append(pytest.param(command, id=f"{_rel(page)}:{number}"))
    return found


@functools.cache
def _example() -> dict[str, frozenset[str]]:
    """The example's members and their extras."""
    from pytest_wsenv.workspace import Workspace

    workspace = Workspace.discover(EXAMPLE)
    return {name: frozenset(m.extras) for name, m in workspace.members.items()}


def _placeholder(value: str) -> bool:
    return value.isupper() or any(c in value for c in "$<{[]…") or value.endswith("...")


_MEMBER_FLAGS = ("--ws-package", "--package", "--path")
_EXTRA_FLAGS = ("--ws-extra", "--extra")


@pytest.mark.parametrize("command", _commands())
def test_commands_name_the_example_members_and_extras(command: str) -> None:
    """A command shown in the docs runs on examples/albatross, unless it names its own
    workspace with ``-C DIR``: its members and extras are the example's."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    pairs: list[tuple[str, str]] = []
    for index, word in enumerate(words):
        flag, equals, value = word.partition("=")
        if not equals:
            value = words[index + 1] if index + 1 < len(words) else ""
        pairs.append((flag, value))
    directory = [v for f, v in pairs if f in ("-C", "--directory")]
    if directory and directory[0].rstrip("/") != "examples/albatross":
        return  # a command for the workspace it names
    example = _example()
    members = [v for f, v in pairs if f in _MEMBER_FLAGS and not _placeholder(v)]
    extras = [v for f, v in pairs if f in _EXTRA_FLAGS and not _placeholder(v)]
    unknown = [m for m in members if m not in example]
    assert not unknown, f"{command!r}: no member {unknown} in examples/albatross"
    offered = set().union(*(example[m] for m in members or example))
    missing = [e for e in extras if e not in offered]
    assert not missing, f"{command!r}: extra {missing} is not defined (extras: {offered})"


_READ_ONLY = ("members", "closure", "check-imports", "matrix", "cache-key")


def _read_only_commands() -> list[Any]:
    found: dict[tuple[str, ...], Any] = {}
    for param in _commands():
        (command,) = param.values
        words = command.split()
        if words[0] not in ("pytest-wsenv", "pytest_wsenv") or "--changed-since" in words:
            continue  # pytest runs build environments; --changed-since needs a git ref
        rest = tuple(words[1:])
        if rest[:2] == ("-C", "examples/albatross"):
            rest = rest[2:]
        if rest and rest[0] in _READ_ONLY and not any(_placeholder(w) for w in rest):
            found.setdefault(rest, pytest.param(list(rest), id=param.id))
    return list(found.values())


@pytest.mark.parametrize("args", _read_only_commands())
def test_read_only_commands_run_on_the_example(args: list[str], tmp_path: Path) -> None:
    """The docs' ``pytest-wsenv`` commands that build nothing run as written on a copy of
    the example (check-imports exits 1 there: the example plants an undeclared import)."""
    example = shutil.copytree(EXAMPLE, tmp_path / "albatross")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_wsenv", *args],
        cwd=example,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr
    assert "error" not in proc.stderr, proc.stderr
    assert proc.returncode == 0 or args[0] == "check-imports", proc.stdout + proc.stderr


# -- options -------------------------------------------------------------------------


def test_options_page_lists_exactly_the_registered_options() -> None:
    options, inis = _registered()
    text = OPTIONS.read_text(encoding="utf-8")
    documented = set(_OPTION.findall(text))
    assert documented - options == set(), "documented but not registered"
    assert options - documented == set(), "registered but not documented in docs/options.md"
    documented_inis = set(_INI.findall(text))
    assert documented_inis - inis == set(), "documented but not registered"
    assert inis - documented_inis == set(), "registered but not documented in docs/options.md"


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_every_option_named_anywhere_is_registered(page: Path) -> None:
    options, inis = _registered()
    text = page.read_text(encoding="utf-8")
    assert set(_OPTION.findall(text)) - options == set()
    assert set(_INI.findall(text)) - inis == set()


def test_cli_page_documents_exactly_the_subcommands() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_wsenv", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    documented = re.findall(r"^## `([a-z-]+)`", CLI.read_text(encoding="utf-8"), re.M)
    assert documented, "docs/cli.md documents no subcommand"
    listed = set(re.findall(r"^    ([a-z][a-z-]*)", proc.stdout, re.M))
    assert set(documented) == listed


# -- the newcomer's commands and CI --------------------------------------------------


def test_readme_has_the_two_commands_near_the_top() -> None:
    text = README.read_text(encoding="utf-8")
    for command in (RUN_EXAMPLE, RUN_TESTS):
        assert command in text
        assert text.index(command) < text.index("## ")  # before the first section
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]
    assert {"uv", "test"} <= set(extras)
    assert (ROOT / "examples" / "albatross" / "pyproject.toml").is_file()
    assert '-m "not slow"' in text


def test_ci_runs_the_readme_test_command() -> None:
    script = CI_RUN.read_text(encoding="utf-8")
    lines = [line.strip() for line in script.splitlines()]
    assert any(line.startswith(RUN_TESTS) for line in lines if not line.startswith("#"))
    for lint in ("ruff check .", "ruff format --check .", "mypy"):
        assert lint in lines
    assert "set -euo pipefail" in lines
    assert os.access(CI_RUN, os.X_OK), ".ci/run is not executable"
    bash = shutil.which("bash")
    if bash is not None:
        subprocess.run([bash, "-n", str(CI_RUN)], check=True)


def test_tox_covers_the_supported_pythons_and_oldest_pytest() -> None:
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini", encoding="utf-8")
    envs = re.split(r"[\s,]+", tox["tox"]["env_list"].strip())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    prefix = "Programming Language :: Python :: 3."
    minors = [c.removeprefix(prefix) for c in project["classifiers"] if c.startswith(prefix)]
    assert {e for e in envs if re.fullmatch(r"py3\d+", e)} == {f"py3{m}" for m in minors}
    for env in envs:
        assert re.fullmatch(r"py3\d+", env) or tox.has_section(f"testenv:{env}"), env
    assert tox["testenv"]["extras"].strip() == "test"
    minimum = next(
        Version(spec.version)
        for dep in project["dependencies"]
        if Requirement(dep).name == "pytest"
        for spec in Requirement(dep).specifier
        if spec.operator == ">="
    )
    pins = [Requirement(d) for d in tox["testenv:oldest"]["deps"].split() if d]
    (pin,) = [p for p in pins if p.name == "pytest"]
    (spec,) = pin.specifier
    assert spec.operator == "==" and Version(spec.version.removesuffix(".*")) == minimum
