"""The audit: each member's imports against what its isolated environment would hold.

For every import a member makes (static scan of its source and test files, plus the imports
seen at run time), the distributions providing the module
(:class:`~pytest_wsenv.audit.modules.ModuleIndex`) are compared with the member's
environment (:func:`~pytest_wsenv.audit.environment.member_env`):

- standard library, the member's own packages, its local test helpers, pytest: fine;
- declared by the member (dependencies, requested extras, default and test groups): fine;
- in the environment only as a dependency of a dependency, or of the test runner:
  ``transitive`` (a softer warning, deptry's DEP003);
- not in the environment at all: ``undeclared`` (the import fails in isolation), or
  ``skip`` for ``pytest.importorskip`` (the test silently skips in isolation). Not
  reported: imports that cope with the module's absence (``guarded``) and lazy imports
  (inside a function) in the member's source of a distribution one of its own extras
  declares (an optional feature).

Imports whose module no source knows are listed as unresolved, never as findings.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from packaging.utils import canonicalize_name

from ..lock import Lock
from ..target import MarkerEnv, Target
from ..workspace import Member, Workspace
from .config import CheckImportsConfig
from .environment import Declaration, DeclarationIndex, MemberEnv, member_env
from .files import MemberLayout, is_test_path, member_layout, package_prefixes
from .modules import ModuleIndex, is_stdlib, shared_site_packages
from .static import ImportUse, scan_file

__all__ = [
    "AuditRequest",
    "AuditResult",
    "Finding",
    "FindingKind",
    "ImportAudit",
    "Unresolved",
    "audit_members",
]

FindingKind = Literal["undeclared", "skip", "transitive"]
_ORDER = {"undeclared": 0, "skip": 1, "transitive": 2}


@dataclass(frozen=True, slots=True)
class Finding:
    """One import of a distribution a member's isolated environment lacks or gets only
    indirectly."""

    member: str
    module: str
    distributions: tuple[str, ...]
    path: str  # POSIX, relative to the workspace root
    line: int
    kind: FindingKind
    declared_by: tuple[Declaration, ...]
    test: bool  # the importing file is test code
    sources: tuple[str, ...]  # "static", "runtime"
    origin: str  # where the module -> distribution answer came from
    reason: str | None = None  # the suppression's reason, for suppressed findings
    sibling: str | None = None  # the directory of the workspace member providing the module

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True, slots=True)
class Unresolved:
    """An import of a module no known distribution provides."""

    member: str
    module: str
    path: str
    line: int


@dataclass(frozen=True, slots=True)
class AuditResult:
    members: tuple[str, ...]
    findings: tuple[Finding, ...]
    suppressed: tuple[Finding, ...] = ()
    unresolved: tuple[Unresolved, ...] = ()
    files: int = 0
    seconds: float = 0.0

    def of_kind(self, kind: FindingKind) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.kind == kind)

    @property
    def failed(self) -> bool:
        """Whether any import fails in its member's isolated environment."""
        return any(f.kind == "undeclared" for f in self.findings)


@dataclass(frozen=True, slots=True)
class AuditRequest:
    """The extras and groups the tests request, as ``--ws-extra``/``--ws-group`` say."""

    extras: tuple[str, ...] = ()
    all_extras: bool = False
    groups: tuple[str, ...] = ()
    no_default_groups: bool = False
    test_group: str = "dev"
    marker_env: MarkerEnv | None = field(default=None)

    def target(self, member: Member) -> Target:
        return Target(
            packages=(member.name,),
            extras=tuple(e for e in map(canonicalize_name, self.extras) if e in member.extras),
            all_extras=self.all_extras,
            groups=tuple(canonicalize_name(g) for g in self.groups),
            no_default_groups=self.no_default_groups,
        )


def _relative(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


def _minimal(sets: Iterable[frozenset[str]]) -> list[frozenset[str]]:
    """The distinct non-empty sets that contain no smaller set of the collection."""
    unique = list(dict.fromkeys(s for s in sets if s))
    return [s for s in unique if not any(o < s for o in unique)]


class ImportAudit:
    """Audits members of one workspace; reusable for several :meth:`run` calls."""

    def __init__(
        self,
        workspace: Workspace,
        lock: Lock | None,
        *,
        request: AuditRequest | None = None,
        config: CheckImportsConfig | None = None,
        site_dirs: Sequence[Path] | None = None,
        running: bool = True,
    ) -> None:
        self.workspace = workspace
        self.lock = lock
        self.request = request or AuditRequest()
        self.config = config if config is not None else CheckImportsConfig.load(workspace)
        dirs = shared_site_packages(workspace.root) if site_dirs is None else list(site_dirs)
        self.declarations = DeclarationIndex(workspace)
        self.index = ModuleIndex.build(
            workspace,
            {name: package_prefixes(m) for name, m in workspace.members.items()},
            lock=lock,
            site_dirs=dirs,
            running=running,
            known=self.declarations.names(),
        )
        self._layouts: dict[str, MemberLayout] = {}
        self._envs: dict[str, MemberEnv] = {}
        self._owners: dict[Path, str | None] = {}

    # -- per member --------------------------------------------------------------------

    def layout(self, member: str) -> MemberLayout:
        if member not in self._layouts:
            self._layouts[member] = member_layout(self.workspace, self.workspace.members[member])
        return self._layouts[member]

    def env(self, member: str) -> MemberEnv:
        if member not in self._envs:
            found = self.workspace.members[member]
            self._envs[member] = member_env(
                self.workspace,
                self.lock,
                found,
                self.request.target(found),
                test_group=self.request.test_group,
                marker_env=self.request.marker_env,
            )
        return self._envs[member]

    def static_uses(self, member: str) -> list[ImportUse]:
        return [use for path in self.layout(member).files for use in scan_file(path)]

    def owner(self, path: Path) -> str | None:
        """The member a file belongs to (None outside members or inside an environment)."""
        if path not in self._owners:
            self._owners[path] = self._owner(path)
        return self._owners[path]

    def _owner(self, path: Path) -> str | None:
        found = self.workspace.member_for(path)
        if found is None:
            return None
        relative = Path(os.path.relpath(path, found.path)).parts
        if any(p.startswith(".") or p in ("site-packages", "node_modules") for p in relative):
            return None
        return found.name

    # -- the audit ---------------------------------------------------------------------

    def run(
        self, members: Iterable[str] | None = None, runtime: Iterable[ImportUse] = ()
    ) -> AuditResult:
        """Scan ``members`` (all when None) and merge the ``runtime`` uses of any member."""
        start = time.perf_counter()
        wanted = [self.workspace.member(m).name for m in members] if members is not None else None
        chosen = list(self.workspace.members) if wanted is None else wanted
        uses: dict[str, list[ImportUse]] = {m: self.static_uses(m) for m in chosen}
        files = sum(len(self.layout(m).files) for m in chosen)
        for use in runtime:
            owner = self.owner(use.path)
            if owner is not None:
                uses.setdefault(owner, [])
                _merge(uses[owner], use)
        findings: dict[tuple[object, ...], Finding] = {}
        unresolved: dict[tuple[object, ...], Unresolved] = {}
        for member, member_uses in uses.items():
            for use in member_uses:
                for result in self.classify(member, use):
                    if isinstance(result, Unresolved):
                        unresolved.setdefault(
                            (result.member, result.module, result.path, result.line), result
                        )
                        continue
                    key = (result.member, result.distributions, result.path, result.line)
                    previous = findings.get(key)
                    if previous is not None:
                        sources = tuple(sorted({*previous.sources, *result.sources}))
                        findings[key] = replace(previous, sources=sources)
                    else:
                        findings[key] = result
        reported: list[Finding] = []
        suppressed: list[Finding] = []
        for finding in findings.values():
            entry = self.config.suppression(finding.member, finding.module, finding.distributions)
            if entry is None:
                reported.append(finding)
            else:
                suppressed.append(replace(finding, reason=entry.reason or "no reason given"))

        def order(f: Finding) -> tuple[object, ...]:
            return (_ORDER[f.kind], f.member, f.path, f.line, f.module)

        return AuditResult(
            members=tuple(sorted(uses)),
            findings=tuple(sorted(reported, key=order)),
            suppressed=tuple(sorted(suppressed, key=order)),
            unresolved=tuple(sorted(unresolved.values(), key=lambda u: (u.member, u.path, u.line))),
            files=files,
            seconds=time.perf_counter() - start,
        )

    def classify(self, member: str, use: ImportUse) -> list[Finding | Unresolved]:
        """What one import of ``member`` means for its isolated environment."""
        if is_stdlib(use.module) or use.top in self.layout(member).local_names:
            return []
        own = self.index.member(use.module)
        if own == member:
            return []
        root = self.workspace.root
        path = _relative(use.path, root)
        # A namespace level (``from opentelemetry import trace``: ``opentelemetry``) uses no
        # one distribution; its portions (``opentelemetry.trace``) are looked up instead.
        candidates = [n for n in use.candidates() if not self.index.is_namespace(n)]
        if not candidates:
            return []
        looked = {name: self.index.lookup(name) for name in candidates}
        sets = _minimal(dists for dists, _origin in looked.values())
        if not sets:
            if use.guarded:
                return []
            return [Unresolved(member, use.module, path, use.line)]
        origin = next(o for d, o in looked.values() if d)
        test = is_test_path(Path(os.path.relpath(use.path, self.workspace.members[member].path)))
        results: list[Finding | Unresolved] = []
        members = self.workspace.members
        for dists in sets:
            sibling = next((members[d].path for d in sorted(dists) if d in members), None)
            kind = self._kind(member, use, dists, test)
            if kind is None:
                continue
            results.append(
                Finding(
                    member=member,
                    module=use.module,
                    distributions=tuple(sorted(dists)),
                    path=path,
                    line=use.line,
                    kind=kind,
                    declared_by=self.declarations.of(dists),
                    test=test,
                    sources=("runtime", "static") if use.source == "both" else (use.source,),
                    origin=origin,
                    sibling=_relative(sibling, root) if sibling is not None else None,
                )
            )
        return results

    def _kind(
        self, member: str, use: ImportUse, dists: frozenset[str], test: bool
    ) -> FindingKind | None:
        env = self.env(member)
        if dists & env.direct or "pytest" in dists:
            return None
        if dists & (env.closure | env.runner):
            return None if use.guarded else "transitive"
        if use.guarded:
            return None
        if use.kind == "skip":
            return "skip"
        if not test and not use.toplevel:
            own_extras = [d for d in self.declarations.of(dists) if d.member == member and d.extra]
            if own_extras:
                return None  # a lazy import of an optional dependency of its own extra
        return "undeclared"


def _merge(uses: list[ImportUse], runtime: ImportUse) -> None:
    """Add a runtime use unless the static scan saw the same statement (its context wins)."""
    for index, use in enumerate(uses):
        if (
            use.path == runtime.path
            and use.top == runtime.top
            and (use.line <= runtime.line <= max(use.end_line, use.line))
        ):
            if use.source == "static":
                uses[index] = replace(use, source="both")
            return
    uses.append(runtime)


def audit_members(
    workspace: Workspace,
    lock: Lock | None,
    members: Iterable[str] | None = None,
    *,
    request: AuditRequest | None = None,
    runtime: Iterable[ImportUse] = (),
    site_dirs: Sequence[Path] | None = None,
) -> AuditResult:
    """One-shot :class:`ImportAudit` run (the ``check-imports`` command's whole job)."""
    return ImportAudit(workspace, lock, request=request, site_dirs=site_dirs).run(members, runtime)
