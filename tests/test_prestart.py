"""A fork server started while the session plans, from the runtime the last session
recorded: taken over when a child's runtime has its key, closed unused otherwise. Real fork
servers of this test environment's pytest."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from pytest_wsenv.envs.backends.venv import site_packages
from pytest_wsenv.runner.forkserver import ForkServers
from pytest_wsenv.runner.prestart import (
    RUNTIMES_KEY,
    remember,
    start_early,
    started_early,
    take_early,
)
from pytest_wsenv.runner.runtime import Runtime, runtime_of
from pytest_wsenv.runner.spec import parent_env_for_children

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(not hasattr(os, "fork"), reason="fork servers need fork"),
]


@pytest.fixture
def runtime() -> Runtime:
    """This environment's pytest, as a member environment's child would have it."""
    python = Path(getattr(sys, "_base_executable", sys.executable))
    env = parent_env_for_children(os.environ)
    found = runtime_of(python, [site_packages(Path(sys.executable))], env)
    assert found is not None
    return found


def _recorded(pytester: pytest.Pytester, runtime: Runtime) -> pytest.Config:
    """A session that served ``runtime`` and recorded it; the config of the next one."""
    first = pytester.parseconfigure()
    remember(first, [runtime])
    return pytester.parseconfig()


def test_the_recorded_runtime_starts_a_server_the_run_takes_over(
    pytester: pytest.Pytester, runtime: Runtime
) -> None:
    config = _recorded(pytester, runtime)
    start_early(config)
    (early,) = take_early(config)
    assert early.runtime.key == runtime.key
    assert take_early(config) == []  # handed over once
    servers = ForkServers([early])
    try:
        server = servers.warm(runtime, parent_env_for_children(os.environ))
        assert server is not None and server.early
        assert server.proc is early.proc
        assert server.pytest == pytest.__version__
        assert [s.runtime for s in servers.served()] == [runtime]
    finally:
        servers.close()
    assert early.proc.poll() is not None


def test_a_server_for_another_runtime_is_closed_unused(
    pytester: pytest.Pytester, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A start-time variable that differs makes another key: the run starts its own
    server, and the early one ends with the run."""
    config = _recorded(pytester, runtime)
    monkeypatch.setenv("PYTHONHASHSEED", "7")
    start_early(config)
    (early,) = take_early(config)
    assert early.runtime.key != runtime.key
    monkeypatch.delenv("PYTHONHASHSEED")
    servers = ForkServers([early])
    try:
        server = servers.warm(runtime, parent_env_for_children(os.environ))
        assert server is not None and not server.early
        assert server.proc.pid != early.proc.pid
    finally:
        servers.close()
    assert early.proc.poll() is not None


def test_a_server_nobody_takes_ends_with_the_session(
    pytester: pytest.Pytester, runtime: Runtime
) -> None:
    config = _recorded(pytester, runtime)
    start_early(config)
    (launched,) = started_early(config)
    assert launched.proc.poll() is None
    config._ensure_unconfigure()  # what pytest does at the end, also after a usage error
    assert launched.proc.poll() is not None
    assert started_early(config) == []


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "{}",
        "[]",
        '[{"python": 3}]',
        '[{"python": "x", "entries": [["pytest"]]}]',
        '[{"python": "x", "entries": [[1, null]]}]',
    ],
)
def test_a_malformed_record_starts_nothing(pytester: pytest.Pytester, content: str) -> None:
    config = pytester.parseconfig()
    path = config.rootpath / ".pytest_cache" / "v" / RUNTIMES_KEY
    path.parent.mkdir(parents=True)
    path.write_text(content)
    start_early(config)
    assert take_early(config) == []


def test_a_record_whose_environment_is_gone_starts_nothing(
    pytester: pytest.Pytester, runtime: Runtime, tmp_path: Path
) -> None:
    record = tmp_path / "pytest-0.dist-info" / "RECORD"
    gone = Runtime(runtime.python, "", (("pytest", str(record)),))
    config = _recorded(pytester, gone)
    start_early(config)
    assert take_early(config) == []


def test_nothing_is_read_without_the_cache_plugin(
    pytester: pytest.Pytester, runtime: Runtime
) -> None:
    _recorded(pytester, runtime)
    config = pytester.parseconfig("-p", "no:cacheprovider")
    start_early(config)
    assert take_early(config) == []


def test_the_record_is_rewritten_only_when_it_changes(
    pytester: pytest.Pytester, runtime: Runtime
) -> None:
    _recorded(pytester, runtime)
    config = pytester.parseconfigure()
    path = config.rootpath / ".pytest_cache" / "v" / RUNTIMES_KEY
    written = json.loads(path.read_text())
    assert written[0]["entries"][0] == ["pytest", runtime.records[0]]
    start_early(config)  # reads what was recorded
    for launched in take_early(config):
        launched.close()
    path.write_text(json.dumps(written, indent=4) + "\n")
    before = path.read_text()
    remember(config, [runtime])  # the same runtime again: left as it is
    assert path.read_text() == before
    remember(config, [])  # a session that forked nothing records nothing
    assert path.read_text() == before
