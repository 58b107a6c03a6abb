"""Start the fork server a session will most likely need while the session still plans.

A warm isolated session first imports the rest of pytest-wsenv and plans its runs (about
0.2 s), then starts a fork server (``forkserver.py``), which spends about as long importing
pytest before the first child can be forked. Neither needs the other: so each session
records the runtimes its fork servers served (:func:`remember`, in pytest's cache under
:data:`RUNTIMES_KEY`), and the next session starts a server for the first of them as soon
as the plugin knows it is isolating (:func:`start_early`), before anything else of ours is
imported. That server is only ever used for a child whose :attr:`Runtime.key` it has (the
same interpreter, start-time ``PYTHON*`` variables and byte-identical ``RECORD`` files of
pytest and its requirements, hashed again when it starts); otherwise it is closed unused
(:meth:`ForkServers.close`). A missing, unreadable or stale record costs only the head
start.

The record is read from pytest's cache directory before pytest's cache plugin is set up,
so this module finds the file where :meth:`pytest.Cache.set` puts it (``<cache_dir>/v/<key>``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from pytest_wsenv.runner.runtime import Launched, Runtime, launch_server, runtime_key
from pytest_wsenv.runner.spec import parent_env_for_children

__all__ = ["RUNTIMES_KEY", "remember", "start_early", "started_early", "take_early"]

#: Where sessions record the runtimes their fork servers served (a :class:`pytest.Cache` key).
RUNTIMES_KEY = "wsenv/forkservers"

_EARLY = pytest.StashKey[list[Launched]]()
_RECORDED = pytest.StashKey[list[Any]]()


def _cache_file(config: pytest.Config) -> Path | None:
    """The file :meth:`pytest.Cache.set` writes :data:`RUNTIMES_KEY` to; ``None`` when the
    cache plugin is off."""
    if config.pluginmanager.is_blocked("cacheprovider"):
        return None
    raw = os.path.expandvars(os.path.expanduser(str(config.getini("cache_dir"))))
    return Path(config.rootpath, raw, "v", *RUNTIMES_KEY.split("/"))


def _recorded_entries(data: Any) -> tuple[str, tuple[tuple[str, str | None], ...]] | None:
    """The interpreter and :attr:`Runtime.entries` of one recorded runtime; ``None`` when
    malformed."""
    if not isinstance(data, dict):
        return None
    python, entries = data.get("python"), data.get("entries")
    if not isinstance(python, str) or not isinstance(entries, list):
        return None
    pairs: list[tuple[str, str | None]] = []
    for entry in entries:
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)):
            return None
        if not (entry[1] is None or isinstance(entry[1], str)):
            return None
        pairs.append((entry[0], entry[1]))
    return python, tuple(pairs)


def start_early(config: pytest.Config) -> None:
    """Start a fork server for the first runtime the last session recorded, if any; it is
    handed to the run by :func:`take_early` and closed with ``config`` if nobody takes it."""
    path = _cache_file(config)
    if path is None:
        return
    try:
        recorded = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return
    if not isinstance(recorded, list) or not recorded:
        return
    config.stash[_RECORDED] = recorded
    found = _recorded_entries(recorded[0])
    if found is None:
        return
    python, entries = found
    env = parent_env_for_children(os.environ)
    key = runtime_key(python, env, entries)
    if key is None:  # the environment is gone or changed
        return
    try:
        launched = launch_server(Runtime(python, key, entries), env)
    except OSError:
        return
    config.stash[_EARLY] = [launched]
    config.add_cleanup(lambda: _close_untaken(config))


def _close_untaken(config: pytest.Config) -> None:
    for launched in config.stash.get(_EARLY, []):
        launched.close()
    config.stash[_EARLY] = []


def started_early(config: pytest.Config) -> list[Launched]:
    """The servers :func:`start_early` started for ``config`` that nobody has taken yet."""
    early: list[Launched] = config.stash.get(_EARLY, [])
    return list(early)


def take_early(config: pytest.Config) -> list[Launched]:
    """The servers :func:`start_early` started for ``config``; the caller now owns them."""
    early = config.stash.get(_EARLY, [])
    config.stash[_EARLY] = []
    return early


def remember(config: pytest.Config, runtimes: list[Runtime]) -> None:
    """Record ``runtimes`` (in the order their servers started) for the next session."""
    cache = getattr(config, "cache", None)
    if cache is None or not runtimes:
        return
    data = [
        {"python": r.python, "entries": [[name, record] for name, record in r.entries]}
        for r in runtimes
    ]
    if data != config.stash.get(_RECORDED, None):
        cache.set(RUNTIMES_KEY, data)
