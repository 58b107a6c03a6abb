"""What the runner is asked to run: child specs, lazy requests, the child environment, node ids.

A :class:`ChildSpec` describes one child pytest: which interpreter, in which directory, with
which arguments and environment, and how its node ids are shown in the parent. A
:class:`ChildRequest` defers building the spec (creating the member's environment) until the
runner needs it, so environments are prepared lazily and in parallel.

Node ids
--------
A child's node ids are relative to *its* rootdir. The parent shows every id relative to its own
rootdir, like one in-process session would: ``nodeid_prefix + "/" + child_id``. When the same
member runs more than once in one session (several interpreters), each spec carries a distinct
``nodeid_suffix`` (e.g. ``"@py3.12"``) appended to the **end** of every id::

    packages/bird-feeder/tests/test_feed.py::test_seed[small]@py3.12

Appending at the end keeps the path part (``packages/bird-feeder/tests/test_feed.py``) a real
file, so terminal grouping, ``--junitxml`` classnames and ``file`` attributes stay correct. The
same form is accepted back: :func:`to_child_arg` / :func:`route_args` map a parent-form id or path
(relative to the parent's rootdir), with or without a suffix, to the child-form argument of the
spec that owns it. An id with a suffix selects only that variant; an id without a suffix selects
every spec of the member whose suffix is ``""``. So when a member runs on several interpreters,
give **every** spec of that member a non-empty suffix; then a bare id selects all of them.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_wsenv.runner.runtime import Runtime

__all__ = [
    "MEMBER_ENV",
    "PYCACHE_DIR",
    "ChildRequest",
    "ChildSpec",
    "clean_child_env",
    "member_nodeid",
    "parent_env_for_children",
    "route_args",
    "to_child_arg",
    "to_parent_nodeid",
]

#: Variables dropped from the parent's environment before a child starts.
#: PYTHONPATH/PYTHONHOME/VIRTUAL_ENV would make the child import from outside its own env.
#: PYTEST_ADDOPTS was already applied to the parent's command line; the caller forwards the
#: options the child needs, and replaying it in the child would apply options twice (``-v``) or
#: pass options the child does not know (``--ws-*``). PYTEST_CURRENT_TEST and the xdist worker
#: variables describe the parent's own process, not the child.
_DROPPED = frozenset(
    {
        "PYTHONPATH",
        "PYTHONHOME",
        "VIRTUAL_ENV",
        "VIRTUAL_ENV_PROMPT",
        "__PYVENV_LAUNCHER__",
        "PYTEST_ADDOPTS",
        "PYTEST_CURRENT_TEST",
        "PYTEST_XDIST_WORKER",
        "PYTEST_XDIST_WORKER_COUNT",
        "PYTEST_XDIST_TESTRUNUID",
    }
)

#: Where children's bytecode goes when the parent's environment forbids ``__pycache__``.
PYCACHE_DIR = ".wsenv-pycache"

#: The environment variable a child sees naming its member (like ``PYTEST_XDIST_WORKER``).
MEMBER_ENV = "PYTEST_WSENV_MEMBER"


@dataclasses.dataclass(frozen=True, slots=True)
class ChildSpec:
    """Everything needed to start one child pytest for one member.

    :param key: Unique id of this child in the session, e.g. ``"bird-feeder@py3.12"``.
    :param member: Member name, used in messages.
    :param python: The interpreter of the member's environment.
    :param rootdir: The member directory; the child runs with this as its working directory,
        so it finds the member's own ini file, conftest files and rootdir as if pytest were run
        there.
    :param args: pytest arguments for the child, relative to ``rootdir``: test paths or node ids
        plus forwarded options (``-k``, ``-m``, ``-p``, ``--tb``, verbosity...).
    :param env: The complete child environment (see :func:`clean_child_env`).
    :param nodeid_prefix: POSIX path of ``rootdir`` relative to the parent's rootdir, ``""`` if
        they are the same directory.
    :param nodeid_suffix: ``""`` normally; a distinct suffix such as ``"@py3.12"`` when one
        member runs in several children of the same session.
    :param runtime: Where the environment's pytest is and who it is, when the child may be
        forked from a warm interpreter (see :mod:`.forkserver`); ``None`` to always start
        a new interpreter.
    """

    key: str
    member: str
    python: Path
    rootdir: Path
    args: tuple[str, ...]
    env: Mapping[str, str]
    nodeid_prefix: str = ""
    nodeid_suffix: str = ""
    runtime: Runtime | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ChildRequest:
    """A child to run whose spec is built on demand, in a worker thread.

    ``prepare`` may take long (it may create the member's environment) and may raise
    :class:`~pytest_wsenv.errors.EnvBuildError` (reported as a failed collection of the member
    with the error's ``log_tail``) or any other :class:`~pytest_wsenv.errors.WsenvError`
    (reported the same way); other members still run. ``nodeid_prefix`` and ``nodeid_suffix``
    name the member in the parent before the spec exists (for such a failure report); they must
    equal the spec's.

    ``broken``, when given, is called once when the member's pytest could not even start in
    the environment ``prepare`` gave (the child ended before its first message), with the
    reason; when it returns True, ``prepare`` is called again (a rebuilt environment) instead
    of failing the member.
    """

    key: str
    member: str
    prepare: Callable[[], ChildSpec]
    nodeid_prefix: str = ""
    nodeid_suffix: str = ""
    broken: Callable[[str], bool] | None = None


def clean_child_env(
    base: Mapping[str, str],
    env_bin: Path,
    member: str,
    extra: Mapping[str, str] | None = None,
    *,
    write_bytecode: bool = True,
) -> dict[str, str]:
    """Return the environment for a child running in the env whose scripts are in ``env_bin``.

    - drops ``PYTHONPATH``, ``PYTHONHOME``, ``VIRTUAL_ENV`` (re-set below) and
      ``PYTEST_ADDOPTS`` (already applied to the parent's command line; the caller forwards the
      parsed options the child needs), plus the variables describing the parent process
      (``PYTEST_CURRENT_TEST``, xdist's worker variables);
    - puts ``env_bin`` first on ``PATH``, sets ``VIRTUAL_ENV`` to its parent directory and
      ``PYTEST_WSENV_MEMBER`` to ``member`` (pytest-wsenv's own plugin does nothing when this is
      set, so a child never isolates again);
    - bytecode: children write bytecode caches by default, because member environments are
      reused across runs and re-compiling (and re-rewriting assertions in) every module of every
      member on each run costs seconds. ``PYTHONDONTWRITEBYTECODE`` in ``base`` is usually set
      machine-wide (CI images, containers) rather than for this run, so it is dropped; what it
      protects, a source tree without ``__pycache__`` directories, is kept by sending the
      bytecode to ``PYTHONPYCACHEPREFIX=<env>/.wsenv-pycache`` instead (unless ``base`` already
      sets a prefix). Pass ``write_bytecode=False`` when the user asked for no bytecode for this
      run: then ``PYTHONDONTWRITEBYTECODE=1`` is set;
    - applies ``extra`` last (it wins).
    """
    env = parent_env_for_children(base)
    path = env.get("PATH", "")
    env["PATH"] = os.pathsep.join([str(env_bin), path]) if path else str(env_bin)
    env["VIRTUAL_ENV"] = str(env_bin.parent)
    env[MEMBER_ENV] = member
    if not write_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    elif env.pop("PYTHONDONTWRITEBYTECODE", None) is not None:
        env.setdefault("PYTHONPYCACHEPREFIX", str(env_bin.parent / PYCACHE_DIR))
    if extra:
        env.update(extra)
    return env


def parent_env_for_children(base: Mapping[str, str]) -> dict[str, str]:
    """What every child keeps of the parent's environment ``base``, whatever its member:
    ``base`` without the dropped variables (see :func:`clean_child_env`)."""
    return {name: value for name, value in base.items() if name not in _DROPPED}


def _join(prefix: str, rest: str) -> str:
    if not prefix:
        return rest
    if not rest:
        return prefix
    return f"{prefix}/{rest}"


def to_parent_nodeid(child_nodeid: str, prefix: str, suffix: str = "") -> str:
    """Map a child node id (relative to the child's rootdir) to the parent's form."""
    return _join(prefix, child_nodeid) + suffix


def member_nodeid(prefix: str, suffix: str = "") -> str:
    """The parent-form id naming a whole member (used for member-level failures)."""
    return prefix + suffix


def to_child_arg(spec: ChildSpec | ChildRequest, parent_id: str) -> str | None:
    """Map a parent-form node id or path to ``spec``'s child-form argument, or ``None``.

    ``parent_id`` is relative to the parent's rootdir with ``/`` separators (as in node ids and
    pytest's ``lastfailed`` cache). It belongs to ``spec`` when it lies under its prefix and, if
    the spec has a suffix, ends with it. The member's own id (the prefix) maps to ``"."``. The
    result is relative to ``spec.rootdir``, the child's working directory, so it is a valid
    command-line argument for the child. Use it for ``--lf``/``--ff`` with the cache's
    ``lastfailed`` ids, which always carry the suffix they were reported with.
    """
    suffix = spec.nodeid_suffix
    if suffix:
        if not parent_id.endswith(suffix):
            return None
        parent_id = parent_id[: -len(suffix)]
    return _strip_prefix(spec.nodeid_prefix, parent_id)


def _strip_prefix(prefix: str, parent_id: str) -> str | None:
    path, sep, tail = parent_id.partition("::")
    path = posixpath.normpath(path) if path else ""
    if path == ".":
        path = ""
    if not prefix:
        rest = path
    elif path == prefix:
        rest = ""
    elif path.startswith(prefix + "/"):
        rest = path[len(prefix) + 1 :]
    else:
        return None
    rest = rest or "."
    return f"{rest}::{tail}" if sep else rest


def route_args(
    specs: Iterable[ChildSpec | ChildRequest], parent_ids: Sequence[str]
) -> dict[str, list[str]]:
    """Route parent-form ids/paths to the specs that own them: ``{spec.key: [child args]}``.

    An id ending with one of the specs' suffixes goes only to the specs with that suffix; an id
    without a known suffix goes to every spec of its member (all variants). Among the specs
    whose prefix contains the id, the longest prefix wins (a member nested in another member's
    directory owns its own tests). Ids no spec owns are left out; order and duplicates are kept
    per spec. Use it for node ids and paths given on the command line (made relative to the
    parent's rootdir first).
    """
    spec_list = list(specs)
    suffixes = sorted({s.nodeid_suffix for s in spec_list if s.nodeid_suffix}, key=len)
    routed: dict[str, list[str]] = {}
    for parent_id in parent_ids:
        bare, wanted = parent_id, None
        for suffix in reversed(suffixes):
            if parent_id.endswith(suffix):
                bare, wanted = parent_id[: -len(suffix)], suffix
                break
        best: list[tuple[str, str]] = []
        best_len = -1
        for spec in spec_list:
            if wanted is not None and spec.nodeid_suffix != wanted:
                continue
            rest = _strip_prefix(spec.nodeid_prefix, bare)
            if rest is None:
                continue
            plen = len(spec.nodeid_prefix)
            if plen > best_len:
                best, best_len = [(spec.key, rest)], plen
            elif plen == best_len:
                best.append((spec.key, rest))
        for key, arg in best:
            routed.setdefault(key, []).append(arg)
    return routed
