"""``pytest-wsenv matrix``: print the CI jobs for the workspace."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from ..ci import (
    Format,
    Job,
    MatrixConfig,
    Plan,
    changed_members,
    count_tests,
    member_weights,
    parse_python,
    plan_jobs,
    read_durations,
    render,
    shard_jobs,
)
from ..errors import SelectionError
from ..lock import Lock
from ..workspace import Workspace

__all__ = ["EMPTY_PLAN", "register"]

#: Exit code when the plan selects no job (pytest's own code for "no tests collected").
EMPTY_PLAN = 5


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "matrix",
        help="Print the CI jobs: one per member, extras combination and python",
        description=(
            "Print the CI jobs to run, one per (member, extras, python), honouring each "
            "member's requires-python and [tool.wsenv] in the root pyproject.toml."
        ),
    )
    parser.add_argument(
        "--format",
        choices=("github", "gitlab", "json"),
        default="json",
        help="github: strategy.matrix JSON for fromJSON; gitlab: a parallel:matrix fragment; "
        "json: readable list (default)",
    )
    parser.add_argument(
        "--python",
        action="append",
        default=[],
        metavar="VERSION",
        help="Test on this Python X.Y (repeatable); replaces the pythons of [tool.wsenv]",
    )
    parser.add_argument(
        "--extras-combos",
        action="store_true",
        help="Members without configured extras get a job without extras and one per extra",
    )
    parser.add_argument(
        "--changed-since",
        metavar="REF",
        help="Only members changed since the git revision REF, their dependents and "
        "members whose locked dependencies changed",
    )
    parser.add_argument(
        "--shards",
        type=int,
        metavar="N",
        help="Group the jobs without extras into N shards per python, balanced by the "
        "durations of earlier runs",
    )
    parser.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="pytest cache directory holding earlier durations (default: "
        "<workspace root>/.pytest_cache)",
    )
    parser.add_argument(
        "--allow-empty",
        action="store_true",
        help="Print an empty matrix and exit 0 when nothing is selected (default: exit "
        f"{EMPTY_PLAN} with the reason on stderr)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="Say on stderr why each member was selected or left out",
    )
    parser.set_defaults(func=_run)


def _note(text: str) -> None:
    print(f"pytest-wsenv: {text}", file=sys.stderr)


def _weights(
    workspace: Workspace, jobs: Sequence[Job], cache_dir: Path, counts: Mapping[str, int]
) -> Mapping[str, Mapping[str, float]]:
    """python -> member -> weight, from recorded durations and static test counts."""
    durations = read_durations(cache_dir)
    by_python: dict[str, dict[str, float]] = {}
    for python in sorted({job.python for job in jobs}):
        members = sorted({m for job in jobs if job.python == python for m in job.members})
        keys = {f"{m}@py{python}": m for m in members}
        weights = member_weights(keys, durations, counts)
        by_python[python] = {keys[key]: weight for key, weight in weights.items()}
    return by_python


def _why_empty(
    workspace: Workspace, plan: Plan, since: str | None, changed: Mapping[str, str]
) -> list[str]:
    """Why a plan with no job selects nothing, one reason a line."""
    if not workspace.members:
        return [f"the workspace at {workspace.root} has no members"]
    lines = [f"no job for {name}: {why}" for name, why in plan.skipped.items()]
    if since is not None:
        if not changed:
            lines.append(f"no member changed since {since}")
        else:
            lines += [f"{name} changed but has no job" for name in changed if name in plan.skipped]
    return lines or ["no member was selected"]


def _run(args: argparse.Namespace) -> int:
    workspace = Workspace.discover(Path(args.directory).resolve())
    lock = Lock.for_workspace(workspace)  # a stale lock is an error here, as in the run
    if lock is not None:  # extras a member declares dynamically are in the lock
        workspace = lock.fill_dynamic(workspace)
    config = MatrixConfig.load(workspace)
    pythons = [parse_python(p, where="--python") for p in args.python]
    if args.shards is not None and args.shards < 1:
        raise SelectionError(f"--shards must be at least 1, not {args.shards}")
    plan = plan_jobs(workspace, config, pythons=pythons, extras_combos=args.extras_combos)
    jobs = list(plan.jobs)
    reasons: dict[str, str] = {}
    if args.changed_since is not None:
        planned = sorted({job.python for job in jobs})
        reasons = changed_members(workspace, args.changed_since, pythons=planned)
        jobs = [job for job in jobs if job.members[0] in reasons]
    if args.shards is not None:
        cache_dir = Path(args.cache_dir) if args.cache_dir else workspace.root / ".pytest_cache"
        counts = {name: count_tests(workspace, m) for name, m in workspace.members.items()}
        weights = _weights(workspace, jobs, cache_dir, counts)
        jobs = [
            shard
            for python, table in weights.items()
            for shard in shard_jobs(
                [j for j in jobs if j.python == python], args.shards, table, counts
            )
        ]
    if args.verbose:
        for name, why in reasons.items():
            _note(f"selected {name}: {why}")
        if args.changed_since is not None:
            unchanged = [n for n in workspace.members if n not in reasons]
            if unchanged:
                _note(f"unchanged since {args.changed_since}: {', '.join(unchanged)}")
        for name, why in plan.skipped.items():
            _note(f"no job for {name}: {why}")
        _note(f"{len(jobs)} job(s)")
    if not jobs and not args.allow_empty:
        for line in _why_empty(workspace, plan, args.changed_since, reasons):
            _note(line)
        _note("nothing to test: the plan has no job; pass --allow-empty to print an empty matrix")
        return EMPTY_PLAN
    print(render(jobs, cast(Format, args.format), reasons=reasons))
    return 0
