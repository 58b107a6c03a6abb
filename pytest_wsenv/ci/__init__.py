"""The CI stage: split a workspace's test runs over the jobs of a CI engine.

:mod:`.matrix` plans one job per member and Python and renders it for GitHub Actions or
GitLab CI; :mod:`.shards` balances runs over ``--ws-shard k/n`` by recorded duration or test
count, and :mod:`.split` cuts a member heavier than a fair share into parts by test, for
``--ws-shard`` and for the planned shard jobs of ``matrix --shards``;
:mod:`.changed` selects the members a git change affects; :mod:`.combine` merges the jobs'
junit and coverage reports back into one of each.
"""

from __future__ import annotations

from .changed import changed_files, changed_members, git_toplevel
from .combine import (
    CombinedReport,
    CoverageResult,
    combine_coverage,
    combine_reports,
    find_inputs,
    planned_jobs,
    read_junit,
    summary_line,
    write_junit,
)
from .matrix import (
    GITLAB_MAX_JOBS,
    KNOWN_PYTHONS,
    Format,
    Job,
    MatrixConfig,
    MemberMatrix,
    Plan,
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
    valid_durations,
)
from .split import (
    TEST_DURATIONS_KEY,
    ShardPlan,
    parse_part,
    plan_shard,
    shard_jobs,
    split_tests,
)

__all__ = [
    "DURATIONS_KEY",
    "GITLAB_MAX_JOBS",
    "KNOWN_PYTHONS",
    "TEST_DURATIONS_KEY",
    "CombinedReport",
    "CoverageResult",
    "Format",
    "Job",
    "MatrixConfig",
    "MemberMatrix",
    "Plan",
    "ShardPlan",
    "assign_shards",
    "changed_files",
    "changed_members",
    "combine_coverage",
    "combine_reports",
    "count_tests",
    "find_inputs",
    "git_toplevel",
    "member_weights",
    "parse_part",
    "parse_python",
    "parse_shard",
    "plan_jobs",
    "plan_shard",
    "planned_jobs",
    "python_allowed",
    "read_durations",
    "read_junit",
    "render",
    "select_shard",
    "shard_jobs",
    "split_tests",
    "summary_line",
    "valid_durations",
    "write_junit",
]
