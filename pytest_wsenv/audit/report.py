"""Text and JSON for an :class:`~pytest_wsenv.audit.check.AuditResult`.

One line per finding: member, module, distribution, importing ``file:line``, who
declares it (wrapped here)::

    bird-feeder: 'sortedcontainers' (sortedcontainers) at
    packages/bird-feeder/tests/test_feeder.py:19; declared by seeds: sortedcontainers>=2.4

``--json`` (schema 1)::

    {"schema": 1, "root": "...", "members": [...], "files": 12, "seconds": 0.02,
     "failed": true,
     "findings": [{"kind": "undeclared" | "skip" | "transitive", "member": "bird-feeder",
                   "module": "sortedcontainers", "distributions": ["sortedcontainers"],
                   "path": "packages/bird-feeder/tests/test_feeder.py", "line": 19,
                   "test": true, "sources": ["static"], "origin": "shared environment",
                   "workspace_member": null,  # its directory, when a sibling member
                   "declared_by": [{"member": "seeds", "extra": null, "group": null,
                                    "requirement": "sortedcontainers>=2.4",
                                    "pyproject": "packages/seeds/pyproject.toml"}]}],
     "suppressed": [... same, plus "reason"],
     "unresolved": [{"member": ..., "module": ..., "path": ..., "line": ...}]}
"""

from __future__ import annotations

from typing import Any

from .check import AuditResult, Finding
from .environment import Declaration

__all__ = ["SCHEMA_VERSION", "finding_line", "json_document", "text_lines"]

SCHEMA_VERSION = 1

_HEADINGS = {
    "undeclared": "undeclared imports (they fail in the member's isolated environment):",
    "skip": "tests that skip in isolation (pytest.importorskip of a missing module):",
    "transitive": "transitive-only imports (installed only as a dependency of a dependency):",
}


def _declared(finding: Finding) -> str:
    if finding.kind == "transitive":
        return "not declared by the member itself"
    own = [d for d in finding.declared_by if d.member == finding.member]
    others = [d for d in finding.declared_by if d.member != finding.member]
    parts = [f"{d.owner}: {d.requirement}" for d in (*own, *others)]
    if finding.sibling is not None:
        sibling = finding.distributions[0]
        return (
            f"{sibling} is the workspace member at {finding.sibling}, which {finding.member} "
            f"does not depend on: add it to {finding.member}'s dependencies (with "
            f"`{sibling} = {{ workspace = true }}` in [tool.uv.sources])"
        )
    return "declared by " + ", ".join(parts) if parts else "declared by no workspace member"


def finding_line(finding: Finding) -> str:
    dists = ", ".join(finding.distributions)
    line = (
        f"{finding.member}: '{finding.module}' ({dists}) at {finding.location}; "
        f"{_declared(finding)}"
    )
    if finding.reason is not None:
        line += f" [suppressed: {finding.reason}]"
    return line


def text_lines(result: AuditResult, *, mode: str = "warn", verbose: bool = False) -> list[str]:
    """The terminal section (or the ``check-imports`` output)."""
    lines: list[str] = []
    for kind, heading in _HEADINGS.items():
        found = result.of_kind(kind)  # type: ignore[arg-type]
        if found:
            lines.append(heading)
            lines += [f"  {finding_line(f)}" for f in found]
    if result.suppressed and verbose:
        lines.append("suppressed by [tool.wsenv.check-imports] ignore:")
        lines += [f"  {finding_line(f)}" for f in result.suppressed]
    if result.unresolved and verbose:
        lines.append("modules no known distribution provides (not checked):")
        lines += [f"  {u.member}: '{u.module}' at {u.path}:{u.line}" for u in result.unresolved]
    counts = ", ".join(
        [
            f"{len(result.of_kind('undeclared'))} undeclared",
            f"{len(result.of_kind('skip'))} skipping",
            f"{len(result.of_kind('transitive'))} transitive-only",
            f"{len(result.suppressed)} suppressed",
        ]
    )
    members = len(result.members)
    summary = (
        f"{members} member{'s' if members != 1 else ''}, {result.files} files: {counts} "
        f"({result.seconds:.2f}s)"
    )
    if result.failed and mode == "error":
        summary += "; failing the session (--ws-check-imports=error)"
    lines.append(summary)
    return lines


def _declaration(d: Declaration) -> dict[str, Any]:
    return {
        "member": d.member,
        "extra": d.extra,
        "group": d.group,
        "requirement": d.requirement,
        "pyproject": d.pyproject,
    }


def _finding(f: Finding) -> dict[str, Any]:
    record: dict[str, Any] = {
        "kind": f.kind,
        "member": f.member,
        "module": f.module,
        "distributions": list(f.distributions),
        "path": f.path,
        "line": f.line,
        "test": f.test,
        "sources": list(f.sources),
        "origin": f.origin,
        "declared_by": [_declaration(d) for d in f.declared_by],
        "workspace_member": f.sibling,
    }
    if f.reason is not None:
        record["reason"] = f.reason
    return record


def json_document(result: AuditResult, root: str) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "root": root,
        "members": list(result.members),
        "files": result.files,
        "seconds": round(result.seconds, 3),
        "failed": result.failed,
        "findings": [_finding(f) for f in result.findings],
        "suppressed": [_finding(f) for f in result.suppressed],
        "unresolved": [
            {"member": u.member, "module": u.module, "path": u.path, "line": u.line}
            for u in result.unresolved
        ],
    }
