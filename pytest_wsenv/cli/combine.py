"""``pytest-wsenv combine``: one junit XML and one coverage file from a matrix's jobs.

Exit codes: 0 when every test passed and, given ``--matrix``, every planned job has a
report; 1 when a test failed or errored, a report is missing, or a test was reported
twice; 2 for input that cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..ci import (
    ReportError,
    combine_coverage,
    combine_reports,
    find_inputs,
    planned_jobs,
    summary_line,
    write_junit,
)

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "combine",
        help="Merge the junit and coverage reports of a matrix's jobs into one of each",
        description=(
            "Merge the junit XML reports of matrix jobs or shards into one file, keeping "
            "each job's results apart, merge the coverage data files found next to them, "
            "and print one summary line. Name each job's report with "
            '-o "junit_suite_name=<the job\'s name from pytest-wsenv matrix>".'
        ),
    )
    parser.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="junit XML files, coverage data files, or directories to search for both",
    )
    parser.add_argument(
        "--matrix",
        type=Path,
        metavar="FILE",
        help="The JSON `pytest-wsenv matrix --format github|json` printed: a planned job "
        "without a report fails the combination",
    )
    parser.add_argument(
        "--junit-xml",
        type=Path,
        metavar="FILE",
        help="Write the combined junit XML here",
    )
    parser.add_argument(
        "--cov-data",
        type=Path,
        default=Path(".coverage"),
        metavar="FILE",
        help="Where the merged coverage data goes, when data files are found (default: .coverage)",
    )
    parser.add_argument(
        "--cov-xml",
        type=Path,
        metavar="FILE",
        help="Also write a Cobertura XML coverage report (needs coverage and the sources)",
    )
    parser.set_defaults(func=_run)


def _say(text: str) -> None:
    print(f"pytest-wsenv: {text}", file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    outputs = [p for p in (args.junit_xml, args.cov_data, args.cov_xml) if p is not None]
    junit, data = find_inputs(args.paths, exclude=outputs)
    if not junit:
        where = ", ".join(str(p) for p in args.paths)
        raise ReportError(f"no junit XML report found in {where}")
    planned = planned_jobs(args.matrix) if args.matrix is not None else None
    base = Path.cwd()
    report = combine_reports(junit, planned=planned, base=base)
    if args.junit_xml is not None:
        write_junit(report, args.junit_xml)
    coverage = None
    if data:
        coverage = combine_coverage(data, args.cov_data, xml=args.cov_xml)
        if coverage is None:
            if args.cov_xml is not None:
                raise ReportError(
                    f"{len(data)} coverage data file(s) found but coverage is not installed; "
                    "install coverage to combine them"
                )
            _say(
                f"{len(data)} coverage data file(s) left as they are: coverage is not "
                "installed (pip install coverage)"
            )
    elif args.cov_xml is not None:
        _say("no coverage data file found; no coverage report written")
    for suite, case in report.failures():
        print(f"{case.outcome.value.upper()} [{suite.name}] {case.id}")
    for test, names in report.duplicates.items():
        print(f"DUPLICATE {test} in: {', '.join(names)}")
    for name in report.missing:
        print(f"MISSING [{name}] no report for this planned job")
    for name in report.unplanned:
        _say(f"the report of {name!r} is not a job of {args.matrix}")
    if coverage is not None:
        _say(f"coverage: {coverage.inputs} data file(s) combined into {coverage.data_file}")
    print(summary_line(report, coverage))
    return 0 if report.ok else 1
