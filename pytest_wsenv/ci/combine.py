"""Put the reports of a matrix's jobs back together: one junit XML, one coverage file.

Each job of a matrix (or each ``--ws-shard``) writes its own junit XML. A job names its
report with pytest's ``junit_suite_name`` ini key set to the job's ``name`` from
``pytest-wsenv matrix`` (``-o "junit_suite_name=bird-feeder[torch] py3.12"``), so the
combined file keeps every job's ``<testsuite>`` apart: the same test run on two Pythons,
or with two sets of extras, stays two results. Outcomes are counted from the
``<testcase>`` elements, never from the attributes of the inputs, so the totals are
right however the inputs were produced.

Problems that make the combined result untrustworthy are reported, not hidden:

- *duplicates*: the same test in two reports of the same variant (the part of a job
  name after its members: extras and Python), e.g. two shards that both ran it, or
  one report given twice;
- *missing*: a job of the plan (the JSON ``pytest-wsenv matrix`` printed) without a
  report, e.g. a job that died before pytest wrote one.

Coverage data files (``.coverage``, ``.coverage.*``) are merged with coverage.py's own
API when it is importable.
"""

from __future__ import annotations

import io
import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from types import MappingProxyType

from ..errors import WsenvError

__all__ = [
    "Case",
    "CombinedReport",
    "CoverageResult",
    "Outcome",
    "ReportError",
    "Suite",
    "combine_coverage",
    "combine_reports",
    "find_inputs",
    "planned_jobs",
    "read_junit",
    "summary_line",
    "write_junit",
]

#: The ``junit_suite_name`` pytest writes when it is not set.
DEFAULT_SUITE = "pytest"
_VARIANT = re.compile(r"(?P<extras>\[[^\]]*\])? py(?P<python>\S+)\Z")


class ReportError(WsenvError, ValueError):
    """A report or plan file cannot be read."""


class Outcome(Enum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    XFAILED = "xfailed"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Case:
    """One ``<testcase>``: its id (``classname::name``) and outcome."""

    classname: str
    name: str
    outcome: Outcome
    element: ET.Element = field(compare=False, repr=False)

    @property
    def id(self) -> str:
        return f"{self.classname}::{self.name}" if self.classname else self.name


@dataclass(frozen=True, slots=True)
class Suite:
    """One ``<testsuite>`` of one input file."""

    name: str  # the job's name, or the file's path when the suite has pytest's default name
    path: Path
    cases: tuple[Case, ...]
    time: float
    element: ET.Element = field(compare=False, repr=False)

    @property
    def variant(self) -> str:
        """What must not run a test twice: ``[extras] py3.12`` of ``member[extras] py3.12``."""
        match = _VARIANT.search(self.name)
        return match.group(0).strip() if match else ""


def _outcome(case: ET.Element) -> Outcome:
    tags = {child.tag: child for child in case}
    if "failure" in tags:
        return Outcome.FAILED
    if "error" in tags:
        return Outcome.ERROR
    if "skipped" in tags:
        if tags["skipped"].get("type") == "pytest.xfail":
            return Outcome.XFAILED
        return Outcome.SKIPPED
    return Outcome.PASSED


def _seconds(text: str | None) -> float:
    try:
        value = float(text or 0)
    except ValueError:
        return 0.0
    return value if math.isfinite(value) and value >= 0 else 0.0


def read_junit(path: Path, *, label: str | None = None) -> list[Suite]:
    """The suites of the junit XML file ``path`` (``<testsuites>`` or one ``<testsuite>``).

    A suite named ``pytest`` (pytest's default) is named ``label`` (default: ``path``).
    """
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise ReportError(f"cannot read it as junit XML: {exc}", path=path) from exc
    if root.tag == "testsuite":
        elements = [root]
    elif root.tag == "testsuites":
        elements = list(root.iter("testsuite"))
    else:
        raise ReportError(
            f"is not a junit XML report (its root element is <{root.tag}>, "
            "not <testsuites> or <testsuite>)",
            path=path,
        )
    suites: list[Suite] = []
    for element in elements:
        name = element.get("name") or DEFAULT_SUITE
        if name == DEFAULT_SUITE:
            name = label or str(path)
        cases = tuple(
            Case(
                classname=case.get("classname", ""),
                name=case.get("name", ""),
                outcome=_outcome(case),
                element=case,
            )
            for case in element.iter("testcase")
        )
        suites.append(Suite(name, path, cases, _seconds(element.get("time")), element))
    return suites


def is_junit(path: Path) -> bool:
    """Whether ``path`` is an XML file whose root is a junit element (read lazily)."""
    try:
        for _, element in ET.iterparse(path, events=("start",)):
            return element.tag in ("testsuites", "testsuite")
    except (OSError, ET.ParseError):
        return False
    return False


def _is_coverage_data(path: Path) -> bool:
    return path.name == ".coverage" or path.name.startswith(".coverage.")


def find_inputs(
    paths: Iterable[Path], *, exclude: Iterable[Path] = ()
) -> tuple[list[Path], list[Path]]:
    """(junit files, coverage data files) among ``paths``; directories are searched.

    A file named on its own is a junit report unless it is a coverage data file; in a
    directory, XML files that are not junit (a ``coverage.xml``) are passed over.
    """
    skip = {p.resolve() for p in exclude}
    junit: list[Path] = []
    data: list[Path] = []
    for path in paths:
        if path.is_dir():
            for found in sorted(path.rglob("*")):
                if not found.is_file() or found.resolve() in skip:
                    continue
                if _is_coverage_data(found):
                    data.append(found)
                elif found.suffix == ".xml" and is_junit(found):
                    junit.append(found)
        elif not path.exists():
            raise ReportError("no such file or directory", path=path)
        elif path.resolve() not in skip:
            (data if _is_coverage_data(path) else junit).append(path)
    return junit, data


def planned_jobs(path: Path) -> list[str]:
    """The job names of a plan: what ``matrix --format github`` or ``--format json`` printed."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ReportError(f"cannot read the matrix JSON: {exc}", path=path) from exc
    entries = data.get("include") if isinstance(data, dict) else data
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get("name"), str) for e in entries
    ):
        raise ReportError(
            "is not the output of `pytest-wsenv matrix --format github` or `--format json` "
            "(a list of jobs, each with a name)",
            path=path,
        )
    return [e["name"] for e in entries]


@dataclass(frozen=True, slots=True)
class CombinedReport:
    suites: tuple[Suite, ...]
    counts: Mapping[Outcome, int]
    duplicates: Mapping[str, tuple[str, ...]]  # "variant test id" -> the suites holding it
    missing: tuple[str, ...]  # planned jobs without a report
    unplanned: tuple[str, ...]  # suites whose name is no planned job
    time: float

    @property
    def ok(self) -> bool:
        failed = self.counts[Outcome.FAILED] + self.counts[Outcome.ERROR]
        return not (failed or self.duplicates or self.missing)

    def failures(self) -> list[tuple[Suite, Case]]:
        return [
            (suite, case)
            for suite in self.suites
            for case in suite.cases
            if case.outcome in (Outcome.FAILED, Outcome.ERROR)
        ]


def combine_reports(
    files: Sequence[Path], *, planned: Sequence[str] | None = None, base: Path | None = None
) -> CombinedReport:
    """Read ``files`` and check them against each other and the ``planned`` job names.

    Suites with pytest's default name are labelled by their path relative to ``base``.
    """
    suites: list[Suite] = []
    by_name: dict[str, Path] = {}
    for path in files:
        label = str(path.relative_to(base)) if base and path.is_relative_to(base) else str(path)
        for suite in read_junit(path, label=label):
            if suite.name in by_name:
                raise ReportError(
                    f"reports the job {suite.name!r} again (first in {by_name[suite.name]}); "
                    "give each job's report its own junit_suite_name, or drop one",
                    path=path,
                )
            by_name[suite.name] = path
            suites.append(suite)
    counts = dict.fromkeys(Outcome, 0)
    seen: dict[tuple[str, str], list[str]] = {}
    for suite in suites:
        for case in suite.cases:
            counts[case.outcome] += 1
            seen.setdefault((suite.variant, case.id), []).append(suite.name)
    duplicates = {
        f"{variant} {test}".strip(): tuple(names)
        for (variant, test), names in seen.items()
        if len(names) > 1
    }
    missing: tuple[str, ...] = ()
    unplanned: tuple[str, ...] = ()
    if planned is not None:
        missing = tuple(name for name in planned if name not in by_name)
        unplanned = tuple(s.name for s in suites if s.name not in set(planned))
    return CombinedReport(
        suites=tuple(suites),
        counts=MappingProxyType(counts),
        duplicates=MappingProxyType(duplicates),
        missing=missing,
        unplanned=unplanned,
        time=sum(s.time for s in suites),
    )


def write_junit(report: CombinedReport, out: Path) -> None:
    """One ``<testsuites>`` holding every job's ``<testsuite>``, with recounted totals."""
    root = ET.Element("testsuites", name="pytest-wsenv combine")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in report.suites:
        element = ET.SubElement(root, "testsuite", dict(suite.element.attrib))
        element.set("name", suite.name)
        for child in suite.element:
            element.append(child)
        counts = {
            "tests": len(suite.cases),
            "failures": sum(c.outcome is Outcome.FAILED for c in suite.cases),
            "errors": sum(c.outcome is Outcome.ERROR for c in suite.cases),
            "skipped": sum(c.outcome in (Outcome.SKIPPED, Outcome.XFAILED) for c in suite.cases),
        }
        for key, value in counts.items():
            element.set(key, str(value))
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{report.time:.3f}")
    ET.indent(root)
    out.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(out, encoding="utf-8", xml_declaration=True)


@dataclass(frozen=True, slots=True)
class CoverageResult:
    data_file: Path
    inputs: int
    percent: float | None  # None when no report could be made (sources absent)
    xml: Path | None


def combine_coverage(
    files: Sequence[Path], out: Path, *, xml: Path | None = None
) -> CoverageResult | None:
    """Merge coverage ``files`` into ``out`` with coverage.py; None when it is not importable.

    The ``[paths]`` and ``[report]`` settings of the coverage configuration in the current
    directory apply. With ``xml`` a Cobertura report is written there too.
    """
    try:
        import coverage
        from coverage.exceptions import CoverageException
    except ImportError:
        return None
    if out.exists() and out.resolve() not in {f.resolve() for f in files}:
        out.unlink()  # what an earlier combine left; merging into it would count it twice
    cov = coverage.Coverage(data_file=str(out), config_file=True)
    try:
        cov.combine(data_paths=[str(f) for f in files], strict=True, keep=True)
        cov.save()
    except CoverageException as exc:
        raise ReportError(f"coverage could not combine the data files: {exc}", path=out) from exc
    cov.load()
    percent: float | None = None
    try:
        if xml is not None:
            percent = cov.xml_report(outfile=str(xml), ignore_errors=True)
        else:
            percent = cov.report(file=io.StringIO(), ignore_errors=True)
    except CoverageException as exc:
        if xml is not None:
            raise ReportError(f"coverage could not write the report: {exc}", path=xml) from exc
    return CoverageResult(out, len(files), percent, xml)


def summary_line(report: CombinedReport, coverage: CoverageResult | None = None) -> str:
    """pytest's closing line for the combined result, with the problems counted in."""
    counts = report.counts
    parts = [
        f"{counts[Outcome.FAILED]} failed" if counts[Outcome.FAILED] else "",
        f"{counts[Outcome.PASSED]} passed" if counts[Outcome.PASSED] else "",
        f"{counts[Outcome.SKIPPED]} skipped" if counts[Outcome.SKIPPED] else "",
        f"{counts[Outcome.XFAILED]} xfailed" if counts[Outcome.XFAILED] else "",
        _plural(counts[Outcome.ERROR], "error") if counts[Outcome.ERROR] else "",
        _plural(len(report.duplicates), "duplicate") if report.duplicates else "",
        f"{len(report.missing)} missing" if report.missing else "",
    ]
    text = ", ".join(p for p in parts if p) or "no tests ran"
    jobs = _plural(len(report.suites), "report")
    line = f"{text} in {report.time:.2f}s ({jobs})"
    if coverage is not None and coverage.percent is not None:
        line += f", coverage {coverage.percent:.0f}%"
    return line


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"
