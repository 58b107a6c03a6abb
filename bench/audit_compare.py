"""Benchmark: the import audit against deptry and fawltydeps, scored by an isolated run.

Two workspaces:

- ``example``: a copy of ``examples/albatross`` with its shared ``.venv`` from
  ``uv sync --all-packages`` (needs the package index or a warm uv cache);
- ``generated``: N members built from local wheels (offline), one planted case per
  member, cycling through: an undeclared sibling's dependency in a test, an own extra's
  dependency in a test, a transitive-only import, ``pytest.importorskip`` of a sibling's
  dependency, an import in ``try/except ImportError``, a ``TYPE_CHECKING`` import, a
  declared import whose name differs from its distribution, an undeclared sibling member,
  an undeclared sibling's dependency in the member's source. Shared environment:
  ``uv sync --all-packages --all-extras``.

Ground truth: what ``pytest --ws-isolated`` exposes (failures and skips whose cause is a
missing module, read from the replayed reports), plus, for the generated workspace, the
planted labels (a transitive-only import is not a leak, but a tool may report it as
such). Every tool runs over every member and is scored on (member, top-level module):
*found* = exposed leaks reported, *missed* = exposed leaks not reported, *false alarms* =
reports on imports that work in the member's isolated environment and are not planted
transitive-only imports. Times are wall-clock seconds for the whole workspace.

Tools (each timed ``--repeat`` times, median reported; the isolated run once, cold):

- ``check-imports``: ``pytest-wsenv check-imports --json`` (static), run by the shared
  environment's interpreter;
- ``--ws-check-imports``: the plugin behind that option (``ImportAuditPlugin``, warn mode)
  in a normal pytest run in the shared environment (static + run-time imports); the time
  includes running the tests, and plain ``pytest`` is timed beside it;
- ``deptry``: ``deptry . --known-first-party <own package>`` in each member directory with
  the shared ``site-packages`` on ``PYTHONPATH``, with its default excludes (which skip
  ``tests``) and with ``tests`` included;
- ``fawltydeps``: ``fawltydeps --check-undeclared --code <member> --deps
  <member>/pyproject.toml --pyenv <shared .venv> --json``.

deptry and fawltydeps are not dependencies of this project; install them in a throwaway
environment and pass its ``bin`` directory::

    uv venv /tmp/audit-tools
    uv pip install --python /tmp/audit-tools/bin/python deptry fawltydeps
    python bench/audit_compare.py --tools /tmp/audit-tools/bin [--members 36] [--skip-example]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.wheels import build_wheel, repack_installed  # noqa: E402
from tests.support.workspaces import BUILD_SYSTEM, find_uv, uv_lock, write_workspace  # noqa: E402

Pair = tuple[str, str]  # (member, top-level module)

#: Loaded with ``-p`` into the runs this benchmark makes (written next to the workspaces).
_AUDIT_PLUGIN = """
import json, os
from pytest_wsenv.audit.report import json_document
from pytest_wsenv.audit.runtime import ImportAuditPlugin

def pytest_configure(config):
    if config.pluginmanager.get_plugin("wsenv-check-imports") is None:
        config.pluginmanager.register(ImportAuditPlugin(config, "warn"), "wsenv-check-imports")

def pytest_unconfigure(config):
    plugin = config.pluginmanager.get_plugin("wsenv-check-imports")
    if plugin is not None and plugin.result is not None:
        with open(os.environ["WSENV_BENCH_OUT"], "w") as out:
            json.dump(json_document(plugin.result, str(config.rootpath)), out)
"""

_RECORD_PLUGIN = """
import json, os
from pytest_wsenv.audit.missing import missing_module

FOUND = []

def _record(report):
    member = getattr(report, "wsenv_member", None)
    if member and (report.failed or report.skipped):
        module = missing_module(report)
        if module:
            FOUND.append([member, module.partition(".")[0], report.outcome, report.nodeid])

def pytest_runtest_logreport(report):
    _record(report)

def pytest_collectreport(report):
    _record(report)

def pytest_unconfigure(config):
    with open(os.environ["WSENV_BENCH_OUT"], "w") as out:
        json.dump(FOUND, out)
"""


@dataclass
class Workspace:
    name: str
    root: Path
    members: dict[str, tuple[Path, str]]  # member -> (directory, own import name)
    labels: dict[Pair, str] = field(default_factory=dict)  # planted: leak/skip/transitive
    exposed: set[Pair] = field(default_factory=set)
    isolated_seconds: float = 0.0
    pytest_seconds: float = 0.0


@dataclass
class Score:
    tool: str
    reported: set[Pair]
    seconds: float
    codes: dict[Pair, str] = field(default_factory=dict)
    note: str = ""


#: How often each timed command runs; the median is reported (set by ``--repeat``).
REPEAT = [3]


def _run(
    cmd: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None, *, timed: bool = True
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run ``cmd``; with ``timed``, ``REPEAT`` times and return the median wall time."""
    times = []
    for _ in range(REPEAT[0] if timed else 1):
        start = time.perf_counter()
        proc = subprocess.run(
            list(cmd),
            cwd=cwd,
            env=dict(env or os.environ),
            capture_output=True,
            text=True,
            check=False,
        )
        times.append(time.perf_counter() - start)
        if proc.returncode not in (0, 1, 3):
            raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc, statistics.median(times)


def _site(venv: Path) -> Path:
    return next(venv.glob("lib/python3*/site-packages"))


# -- workspaces ----------------------------------------------------------------------------


def _example(work: Path, uv: str) -> Workspace:
    source = ROOT / "examples" / "albatross"
    root = work / "example"
    shutil.copytree(
        source, root, ignore=shutil.ignore_patterns(".wsenv", ".venv", "__pycache__", ".pytest*")
    )
    _run([uv, "sync", "--all-packages", "-q"], root, timed=False)
    members = {
        "albatross": (root, "albatross"),
        "bird-feeder": (root / "packages" / "bird-feeder", "bird_feeder"),
        "seeds": (root / "packages" / "seeds", "seeds"),
    }
    # the README's planted mistakes; everything else works in isolation
    labels = {("bird-feeder", "sortedcontainers"): "leak", ("seeds", "tqdm"): "skip"}
    return Workspace("example", root, members, labels)


_CASES = (
    "sibling-dep-in-test",
    "own-extra-in-test",
    "transitive",
    "importorskip",
    "try-except",
    "type-checking",
    "name-differs",
    "sibling-member",
    "sibling-dep-in-source",
)


def _generated(work: Path, uv: str, count: int) -> Workspace:
    wheels = work / "wheels"
    build_wheel(wheels, "tinyleft", "1.0")
    build_wheel(wheels, "tinyright", "1.0", requires=["tinyleft"])
    build_wheel(wheels, "tiny-yaml-dist", "1.0", modules={"tinyyaml/__init__.py": "X = 1\n"})
    build_wheel(wheels, "colorama", "0.4.6")
    for dist in ("pytest", "pluggy", "iniconfig", "packaging", "pygments"):
        repack_installed(wheels, dist)
    python = ">={}.{}".format(*sys.version_info[:2])
    files = {"pyproject.toml": '[tool.uv.workspace]\nmembers = ["packages/*"]\n'}
    labels: dict[Pair, str] = {}
    members: dict[str, tuple[Path, str]] = {}
    root = work / "generated"
    for i in range(count):
        name, prev, nxt = f"m{i:02d}", f"{(i - 1) % count:02d}", f"{(i + 1) % count:02d}"
        build_wheel(wheels, f"dep-{i:02d}", "1.0")
        build_wheel(wheels, f"xdep-{i:02d}", "1.0")
        deps = [f"dep-{i:02d}"]
        src = [f"import dep_{i:02d}"]
        tests = {
            f"tests/test_{name}.py": f"import {name}\n\n\ndef test_own():\n    assert {name}\n"
        }
        case = _CASES[i % len(_CASES)]
        if case == "sibling-dep-in-test":
            tests[f"tests/test_case_{name}.py"] = (
                f"import dep_{prev}\n\n\ndef test_case():\n    pass\n"
            )
            labels[(name, f"dep_{prev}")] = "leak"
        elif case == "own-extra-in-test":
            tests[f"tests/test_case_{name}.py"] = f"def test_case():\n    import xdep_{i:02d}\n"
            labels[(name, f"xdep_{i:02d}")] = "leak"
        elif case == "transitive":
            deps.append("tinyright")
            src.append("import tinyleft")
            labels[(name, "tinyleft")] = "transitive"
        elif case == "importorskip":
            tests[f"tests/test_case_{name}.py"] = (
                f'import pytest\n\n\ndef test_case():\n    pytest.importorskip("dep_{prev}")\n'
            )
            labels[(name, f"dep_{prev}")] = "skip"
        elif case == "try-except":
            tests[f"tests/test_case_{name}.py"] = (
                f"try:\n    import dep_{nxt}\nexcept ImportError:\n    dep_{nxt} = None\n\n\n"
                "def test_case():\n    pass\n"
            )
        elif case == "type-checking":
            src += ["from typing import TYPE_CHECKING", f"if TYPE_CHECKING:\n    import dep_{nxt}"]
        elif case == "name-differs":
            deps.append("tiny-yaml-dist")
            src.append("import tinyyaml")
        elif case == "sibling-member":
            tests[f"tests/test_case_{name}.py"] = (
                f"import m{prev}\n\n\ndef test_case():\n    pass\n"
            )
            labels[(name, f"m{prev}")] = "leak"
        elif case == "sibling-dep-in-source":
            src.append(f"import dep_{prev}")
            labels[(name, f"dep_{prev}")] = "leak"
        quoted = ", ".join(f'"{d}"' for d in deps)
        files[f"packages/{name}/pyproject.toml"] = (
            f'[project]\nname = "{name}"\nversion = "0.1.0"\nrequires-python = "{python}"\n'
            f'dependencies = [{quoted}]\n\n[project.optional-dependencies]\nx = ["xdep-{i:02d}"]\n'
            f'\n[dependency-groups]\ndev = ["pytest"]\n\n{BUILD_SYSTEM}'
        )
        files[f"packages/{name}/src/{name}/__init__.py"] = "\n".join(src) + "\n"
        for rel, text in tests.items():
            files[f"packages/{name}/{rel}"] = text
        members[name] = (root / "packages" / name, name)
    write_workspace(root, files)
    uv_lock(root, wheels)
    _run([uv, "sync", "--all-packages", "--all-extras", "--offline", "-q"], root, timed=False)
    return Workspace("generated", root, members, labels)


# -- ground truth ----------------------------------------------------------------------------


def _plugin_dir(work: Path) -> Path:
    directory = work / "plugins"
    directory.mkdir(exist_ok=True)
    (directory / "wsenv_bench_audit.py").write_text(_AUDIT_PLUGIN)
    (directory / "wsenv_bench_record.py").write_text(_RECORD_PLUGIN)
    return directory


def _isolated(ws: Workspace, work: Path, plugins: Path) -> None:
    out = work / f"{ws.name}-isolated.json"
    env = {**os.environ, "PYTHONPATH": str(plugins), "WSENV_BENCH_OUT": str(out)}
    cmd = [
        sys.executable, "-m", "pytest", "--ws-isolated", str(ws.root), "-q",
        "-p", "wsenv_bench_record", "-p", "no:cacheprovider", "--continue-on-collection-errors",
        f"--ws-cache-dir={work / 'wsenv-cache'}",
    ]  # fmt: skip
    _, ws.isolated_seconds = _run(cmd, ws.root, env, timed=False)  # builds envs: once
    ws.exposed = {(m.partition("@")[0], mod) for m, mod, _o, _n in json.loads(out.read_text())}


# -- tools -----------------------------------------------------------------------------------


def _ours_static(ws: Workspace) -> Score:
    python = ws.root / ".venv" / "bin" / "python"
    cmd = [
        str(python), "-c",
        "import sys; from pytest_wsenv.cli.check_imports import main; sys.exit(main(sys.argv[1:]))",
        "-C", str(ws.root), "check-imports", "--json",
    ]  # fmt: skip
    proc, seconds = _run(cmd, ws.root, {**os.environ, "PYTHONPATH": str(ROOT)})
    document = json.loads(proc.stdout)
    return _ours("check-imports", document, seconds)


def _ours(tool: str, document: Mapping[str, object], seconds: float) -> Score:
    findings = document["findings"]
    assert isinstance(findings, list)
    codes = {(f["member"], f["module"].partition(".")[0]): f["kind"] for f in findings}
    return Score(tool, set(codes), seconds, codes)


def _ours_runtime(ws: Workspace, work: Path, plugins: Path) -> Score:
    python = ws.root / ".venv" / "bin" / "python"
    out = work / f"{ws.name}-runtime.json"
    base = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{plugins}", "WSENV_BENCH_OUT": str(out)}
    plain = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"]
    _, ws.pytest_seconds = _run(plain, ws.root, base)
    _, seconds = _run([*plain, "-p", "wsenv_bench_audit"], ws.root, base)
    return _ours("--ws-check-imports", json.loads(out.read_text()), seconds)


def _member_of(ws: Workspace, path: Path) -> str | None:
    path = path.resolve()
    owners = [(m, d) for m, (d, _) in ws.members.items() if d == path or d in path.parents]
    return max(owners, key=lambda o: len(o[1].parts))[0] if owners else None


def _own_code(ws: Workspace, member: str) -> list[Path]:
    """The member's directory, or for a root member its own top-level entries."""
    directory = ws.members[member][0]
    nested = {d for m, (d, _) in ws.members.items() if m != member}
    if not any(directory in d.parents for d in nested):
        return [directory]
    return [
        p
        for p in sorted(directory.iterdir())
        if not p.name.startswith(".")
        and p.name != "packages"
        and p not in nested
        and (p.is_dir() or p.suffix == ".py")
    ]


def _deptry(ws: Workspace, tools: Path, work: Path, *, tests: bool) -> Score:
    site = _site(ws.root / ".venv")
    reported: dict[Pair, str] = {}
    seconds = 0.0
    for member, (directory, own) in ws.members.items():
        out = work / "deptry.json"
        cmd = [str(tools / "deptry"), ".", "--known-first-party", own, "-o", str(out)]
        nested = [d for m, (d, _) in ws.members.items() if m != member and directory in d.parents]
        excludes = ["venv", r"\.venv", r"\.direnv", r"\.git", r"setup\.py"]
        if not tests:
            excludes.append("tests")
        excludes += [os.path.relpath(d, directory) for d in nested]
        for pattern in excludes:
            cmd += ["--exclude", pattern]
        out.unlink(missing_ok=True)
        _, took = _run(cmd, directory, {**os.environ, "PYTHONPATH": str(site)})
        seconds += took
        for issue in json.loads(out.read_text()) if out.exists() else []:
            code = issue["error"]["code"]
            if code == "DEP002":  # unused dependency: not about an import
                continue
            pair = (member, str(issue["module"]).partition(".")[0])
            reported.setdefault(pair, code)
    label = "deptry, tests included" if tests else "deptry, default excludes"
    return Score(label, set(reported), seconds, reported)


def _fawltydeps(ws: Workspace, tools: Path) -> Score:
    reported: dict[Pair, str] = {}
    seconds = 0.0
    for member, (directory, own) in ws.members.items():
        code = [str(p) for p in _own_code(ws, member)]
        cmd = [
            str(tools / "fawltydeps"), "--check-undeclared", "--json",
            "--code", *code, "--deps", str(directory / "pyproject.toml"),
            "--pyenv", str(ws.root / ".venv"), "--base-dir", str(directory),
        ]  # fmt: skip
        if (directory / "src").is_dir():
            cmd[-1] = str(directory / "src")
        proc, took = _run(cmd, ws.root)
        seconds += took
        for dep in json.loads(proc.stdout).get("undeclared_deps", []):
            name = str(dep["name"]).partition(".")[0]
            if name == own:
                continue
            for ref in dep.get("references", []):
                owner = _member_of(ws, ws.root / ref["path"])
                if owner == member:
                    reported.setdefault((member, name), "undeclared")
    return Score("fawltydeps", set(reported), seconds, reported)


# -- scoring ---------------------------------------------------------------------------------


def _table(ws: Workspace, scores: Iterable[Score]) -> list[str]:
    leaks = set(ws.exposed) | {p for p, label in ws.labels.items() if label in ("leak", "skip")}
    transitive = {p for p, label in ws.labels.items() if label == "transitive"}
    lines = [
        f"### {ws.name}: {len(ws.members)} members, {len(leaks)} leaks exposed by "
        f"`--ws-isolated` ({ws.isolated_seconds:.1f}s), {len(transitive)} transitive-only",
        "",
        "| tool | found | missed | transitive-only reported | false alarms | seconds |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    details: list[str] = []
    for score in scores:
        found = score.reported & leaks
        missed = leaks - score.reported
        trans = score.reported & transitive
        false = score.reported - leaks - transitive
        lines.append(
            f"| {score.tool} | {len(found)}/{len(leaks)} | {len(missed)} | "
            f"{len(trans)}/{len(transitive)} | {len(false)} | {score.seconds:.2f} |"
        )
        if missed or false:
            parts = []
            if missed:
                parts.append("missed " + ", ".join(f"{m}:{mod}" for m, mod in sorted(missed)))
            if false:
                parts.append(
                    "false alarms "
                    + ", ".join(
                        f"{m}:{mod} ({score.codes.get((m, mod), '?')})" for m, mod in sorted(false)
                    )
                )
            details.append(f"- {score.tool}: " + "; ".join(parts))
    lines += ["", f"plain `pytest` in the shared environment: {ws.pytest_seconds:.2f}s", ""]
    return lines + details


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tools", type=Path, required=True, help="bin dir with deptry, fawltydeps")
    parser.add_argument("--members", type=int, default=36)
    parser.add_argument("--skip-example", action="store_true")
    parser.add_argument("--keep", type=Path, default=None, help="work here and keep it")
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing (median)")
    args = parser.parse_args()
    REPEAT[0] = max(1, args.repeat)
    uv = find_uv()
    if uv is None:
        raise SystemExit("uv is needed (pip install uv)")
    with tempfile.TemporaryDirectory(prefix="wsenv-audit-bench-") as scratch:
        work = args.keep or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")
        plugins = _plugin_dir(work)
        workspaces = [] if args.skip_example else [_example(work, uv)]
        workspaces.append(_generated(work, uv, args.members))
        out: list[str] = []
        for ws in workspaces:
            _isolated(ws, work, plugins)
            planted = {p for p, label in ws.labels.items() if label in ("leak", "skip")}
            if ws.exposed != planted:
                out.append(f"note: exposed {sorted(ws.exposed)} != planted {sorted(planted)}")
            scores = [
                _ours_static(ws),
                _ours_runtime(ws, work, plugins),
                _deptry(ws, args.tools, work, tests=False),
                _deptry(ws, args.tools, work, tests=True),
                _fawltydeps(ws, args.tools),
            ]
            out += _table(ws, scores)
        versions = [
            _run([str(args.tools / t), "--version"], work, timed=False)[0].stdout.strip()
            for t in ("deptry", "fawltydeps")
        ]
        python = f"Python {sys.version.split()[0]} on {sys.platform}, {os.cpu_count()} CPUs"
        print(f"{python}; {'; '.join(versions)}\n")
        print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
