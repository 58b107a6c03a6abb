"""The CI stage: split a workspace's test runs over the jobs of a CI engine.

:mod:`.matrix` plans one job per member and Python and renders it for GitHub Actions or
GitLab CI; :mod:`.shards` balances runs over ``--ws-shard k/n`` by recorded duration or test
count; :mod:`.changed` selects the members a git change affects.
"""

from __future__ import annotations

from .changed import changed_files, changed_members, git_toplevel
from .matrix import (
    GITLAB_MAX_JOBS,
    KNOWN_PYTHONS,
    Format,
    Job,
    MatrixConfig,
    MemberMatrix,
    parse_python,
    plan_jobs,
    python_allowed,
    render,
)
from .shards import (
    DURATIONS_KEY,
    assign_shards,
    count_tests,
    member_weights,
    parse_shard,
    read_durations,
    select_shard,
    shard_jobs,
    valid_durations,
)

__all__ = [
    "DURATIONS_KEY",
    "GITLAB_MAX_JOBS",
    "KNOWN_PYTHONS",
    "Format",
    "Job",
    "MatrixConfig",
    "MemberMatrix",
    "assign_shards",
    "changed_files",
    "changed_members",
    "count_tests",
    "git_toplevel",
    "member_weights",
    "parse_python",
    "parse_shard",
    "plan_jobs",
    "python_allowed",
    "read_durations",
    "render",
    "select_shard",
    "shard_jobs",
    "valid_durations",
]
