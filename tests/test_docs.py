"""The documentation agrees with the code: snippets parse, options exist, commands match CI."""

from __future__ import annotations

import configparser
import functools
import os
import re
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
