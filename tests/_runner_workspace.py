"""Builds workspaces for the runner tests: member directories plus a root conftest.py that
registers an IsolatedRun for them, the way plugin.py does."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

__all__ = ["CONFTEST", "Member", "alive", "fork_servers_with", "write_workspace"]

CONFTEST = r"""
import json
import os
import sys
from pathlib import Path

import pytest

from pytest_wsenv.envs.backends.venv import site_packages
from pytest_wsenv.errors import EnvBuildError
from pytest_wsenv.runner import ChildRequest, ChildSpec, IsolatedRun, clean_child_env
from pytest_wsenv.runner.runtime import runtime_of
from pytest_wsenv.runner.timeouts import Limits

_ROOT = Path(__file__).parent
_CFG = json.loads((_ROOT / "wsenv_test.json").read_text())
# Like pytest-wsenv's plugin: inside a child (PYTEST_WSENV_MEMBER set) do nothing.
_IN_CHILD = bool(os.environ.get("PYTEST_WSENV_MEMBER"))
collect_ignore = [] if _IN_CHILD else sorted({m["dir"] for m in _CFG["members"]})


def _forwarded(config):
    args = []
    if config.option.keyword:
        args += ["-k", config.option.keyword]
    if config.option.markexpr:
        args += ["-m", config.option.markexpr]
    if config.option.verbose > 0:
        args.append("-" + "v" * config.option.verbose)
    args.append(f"--tb={config.option.tbstyle}")
    return args


def _request(config, m):
    def prepare():
        if m.get("build_error"):
            raise EnvBuildError(m["build_error"], log_tail="resolver said no\nlast log line")
        python = Path(m.get("python") or sys.executable)
        args = ["-p", "no:cacheprovider", f"--basetemp={_ROOT / '.tmp' / m['key']}"]
        args += _forwarded(config)
        selected = list(m.get("args") or [])
        env = clean_child_env(os.environ, python.parent, m["member"], m.get("env"))
        runtime = None
        if _CFG.get("fork"):  # fork from a warm interpreter, as the plugin does by default
            base = Path(getattr(sys, "_base_executable", sys.executable))
            runtime = runtime_of(base, [site_packages(python)], env)
            assert runtime is not None
        return ChildSpec(
            key=m["key"],
            member=m["member"],
            python=python,
            rootdir=_ROOT / m["dir"],
            args=tuple(args + selected),
            env=env,
            nodeid_prefix=m["prefix"],
            nodeid_suffix=m.get("suffix", ""),
            runtime=runtime,
        )

    return ChildRequest(
        key=m["key"],
        member=m["member"],
        prepare=prepare,
        nodeid_prefix=m["prefix"],
        nodeid_suffix=m.get("suffix", ""),
    )


def pytest_configure(config):
    if _IN_CHILD:
        return
    run = IsolatedRun(
        config,
        [_request(config, m) for m in _CFG["members"]],
        max_parallel=_CFG.get("max_parallel", 1),
        max_restarts=_CFG.get("max_restarts", 3),
        grace=_CFG.get("grace", 3.0),
        fork=bool(_CFG.get("fork")),
        max_idle=_CFG.get("max_idle", 64),
        limits=Limits(**_CFG.get("limits", {})),
        dist=_CFG.get("dist", "load"),
        stream=bool(_CFG.get("stream")),
        collect_parallel=_CFG.get("collect_parallel"),
    )
    config.pluginmanager.register(run, "wsenv-isolated-run")
    config.stash[_KEY] = run


_KEY = pytest.StashKey()


def pytest_terminal_summary(terminalreporter, config):
    if _IN_CHILD or not _CFG.get("print_summary"):
        return
    for s in config.stash[_KEY].summaries():
        outcomes = ",".join(f"{k}={v}" for k, v in sorted(s.outcomes.items()))
        terminalreporter.write_line(
            f"wsenv-summary key={s.key} member={s.member} run={s.tests_run} {outcomes} "
            f"restarts={s.restarts} exit={s.exitstatus} error={bool(s.error)} "
            f"python={s.python} pytest={s.pytest} seconds={s.seconds:.1f} forked={s.forked}"
        )
"""


class Member(dict[str, Any]):
    """One child to run: ``files`` maps paths (relative to the member dir) to contents."""

    def __init__(
        self,
        name: str,
        files: Mapping[str, str],
        *,
        key: str | None = None,
        directory: str | None = None,
        prefix: str | None = None,
        suffix: str = "",
        args: Sequence[str] = (),
        build_error: str | None = None,
        python: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        directory = directory or name
        super().__init__(
            member=name,
            key=key or name,
            dir=directory,
            prefix=directory if prefix is None else prefix,
            suffix=suffix,
            args=list(args),
            build_error=build_error,
            python=python,
            env=dict(env or {}),
        )
        self.files = dict(files)


def write_workspace(
    pytester: pytest.Pytester,
    *members: Member,
    root_files: Mapping[str, str] | None = None,
    **options: Any,
) -> Path:
    """Write member dirs, ``wsenv_test.json`` and the root conftest; return the root."""
    root = pytester.path
    for member in members:
        base = root / member["dir"]
        base.mkdir(parents=True, exist_ok=True)
        pyproject = base / "pyproject.toml"
        if not pyproject.exists() and "pyproject.toml" not in member.files:
            pyproject.write_text(f'[project]\nname = "{member["member"]}"\nversion = "0"\n')
        for rel, content in member.files.items():
            path = base / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(content))
    for rel, content in (root_files or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(content))
    config = {"members": [dict(m) for m in members], **options}
    (root / "wsenv_test.json").write_text(json.dumps(config))
    (root / "conftest.py").write_text(CONFTEST)
    return root


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (zombies count as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return "\nState:\tZ" not in status


def fork_servers_with(marker: str) -> list[int]:
    """Live fork servers (``zygote.py``) whose environment holds ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes()
            if b"zygote.py" not in cmdline or not alive(int(entry.name)):
                continue
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except (OSError, ValueError):
            continue
    return found


def kill_quietly(pid: int) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)


PYTHON = sys.executable
