"""Run workspace members' tests in child pytests and replay them into the parent session.

Public surface (what ``plugin.py`` codes against):

- :class:`ChildSpec`, :class:`ChildRequest`: what to run (``spec.py``);
- :func:`clean_child_env`: the child's environment;
- :class:`IsolatedRun`: the pytest plugin object doing the run (``session.py``), and its
  :class:`ChildSummary` records;
- :func:`to_child_arg`, :func:`route_args`, :func:`to_parent_nodeid`: node ids between the
  parent's and a child's form (``--lf``, node ids on the command line).

Modules: ``spec.py`` (requests, env, node ids), ``session.py`` (the plugin: the run loop,
assembled from mixins declared in ``parts.py``: ``collection.py``, collections into the
session; ``messages.py``, child messages back into reports and warnings; ``exits.py``, child
exits: crashes, restarts; ``output.py``, captured, relayed or terminal output and debuggers;
``timeouts.py``, time limits), ``signals.py`` (SIGTERM/SIGHUP like Ctrl-C), ``pool.py`` (child
processes of a run: prepare, start, event loop, stop), ``process.py`` (one child process and
its reader thread), ``forkserver.py`` and ``zygote.py`` (children forked from a warm
interpreter; ``runtime.py``, what one serves and starting it; ``prestart.py`` starts the
likely first one while the session plans),
``protocol.py`` (wire format, report and warning rebuilding), ``members.py`` (per-member
state, summaries), ``standins.py`` (stand-in collection nodes), ``reports.py`` (reports the
parent makes: crashes, not run).
``child.py`` is the other end: executed by path in the member's interpreter, never imported
(``child_coverage.py``, loaded by it by path, measures a child under ``--cov``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_wsenv.runner.session import ChildSummary, IsolatedRun
    from pytest_wsenv.runner.spec import (
        MEMBER_ENV,
        ChildRequest,
        ChildSpec,
        clean_child_env,
        member_nodeid,
        route_args,
        to_child_arg,
        to_parent_nodeid,
    )
    from pytest_wsenv.runner.standins import IsolatedItem

__all__ = [
    "MEMBER_ENV",
    "ChildRequest",
    "ChildSpec",
    "ChildSummary",
    "IsolatedItem",
    "IsolatedRun",
    "clean_child_env",
    "member_nodeid",
    "route_args",
    "to_child_arg",
    "to_parent_nodeid",
]

#: Where each public name lives. They are imported when first asked for, so that
#: ``prestart.py`` can start a fork server before the scheduler (and the environment
#: machinery it imports) is loaded.
_HOMES = {
    "ChildSummary": "session",
    "IsolatedRun": "session",
    "IsolatedItem": "standins",
    **dict.fromkeys(
        [
            "MEMBER_ENV",
            "ChildRequest",
            "ChildSpec",
            "clean_child_env",
            "member_nodeid",
            "route_args",
            "to_child_arg",
            "to_parent_nodeid",
        ],
        "spec",
    ),
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
