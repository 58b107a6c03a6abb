"""The CI matrix: which (member, extras, python) jobs to run, and how to print them.

Inputs are the workspace, the optional ``[tool.wsenv]`` table of the root
``pyproject.toml`` and the command-line choices; the output is an ordered list of
:class:`Job` values that does not depend on the working directory. Rendering for GitHub
Actions (``strategy.matrix`` via ``fromJSON``), GitLab CI (``parallel:matrix``) and plain
JSON lives here too.

``[tool.wsenv]`` schema (every key optional)::

    [tool.wsenv]
    pythons = ["3.11", "3.12"]   # versions every member is tested on
    skip = ["docs-tools"]        # members that get no job

    [tool.wsenv.members.bird-feeder]
    extras = [[], ["torch"]]     # extras combinations, one job each
    pythons = ["3.12"]           # replaces tool.wsenv.pythons for this member
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from ..errors import ConfigError, SelectionError
from ..workspace import Member, Workspace, load_toml

__all__ = [
    "GITLAB_MAX_JOBS",
    "KNOWN_PYTHONS",
    "Format",
    "Job",
    "MatrixConfig",
    "MemberMatrix",
    "Plan",
    "parse_python",
    "plan_jobs",
    "python_allowed",
    "render",
]

#: Minor versions the default python is chosen from (the lowest one a member allows).
KNOWN_PYTHONS = ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14")
#: GitLab refuses a ``parallel:matrix`` with more jobs than this.
GITLAB_MAX_JOBS = 200

Format = Literal["github", "gitlab", "json"]

_PYTHON = re.compile(r"\d+\.\d+(\.\d+)?\Z")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+\Z")
_TOP_KEYS = ("members", "pythons", "skip", "check-imports")
_MEMBER_KEYS = ("extras", "pythons")


def parse_python(text: str, *, where: str) -> str:
    """``text`` if it is a version ``X.Y`` or ``X.Y.Z``; else SelectionError naming ``where``."""
    value = text.strip()
    if not _PYTHON.match(value):
        raise SelectionError(f"{where}: {text!r} is not a Python version like 3.12 or 3.12.1")
    return value


def python_allowed(spec: SpecifierSet | None, python: str) -> bool:
    """Whether ``spec`` admits ``python``; ``X.Y`` is admitted when any ``X.Y.Z`` is."""
    if spec is None:
        return True
    if python.count(".") >= 2:
        return spec.contains(python, prereleases=True)
    return any(spec.contains(f"{python}.{patch}", prereleases=True) for patch in range(50))


# -- [tool.wsenv] ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemberMatrix:
    """``[tool.wsenv.members.<name>]``: ``None`` where a key is not given."""

    extras: tuple[tuple[str, ...], ...] | None = None
    pythons: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class MatrixConfig:
    """The validated ``[tool.wsenv]`` table (member names normalized)."""

    pythons: tuple[str, ...] = ()
    skip: frozenset[str] = frozenset()
    members: Mapping[str, MemberMatrix] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def load(cls, workspace: Workspace) -> MatrixConfig:
        """Read ``[tool.wsenv]`` from the workspace root ``pyproject.toml``."""
        data = load_toml(workspace.root_pyproject)
        tool = data.get("tool", {})
        table = tool.get("wsenv") if isinstance(tool, dict) else None
        if table is None:
            return cls()
        return cls.from_table(table, workspace)

    @classmethod
    def from_table(cls, table: object, workspace: Workspace) -> MatrixConfig:
        """Validate ``table`` (the value of ``tool.wsenv``); ConfigError names the key."""
        return _Reader(workspace).config(table)


class _Reader:
    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    def error(self, where: str, message: str) -> ConfigError:
        return ConfigError(f"{where} {message}", path=self.workspace.root_pyproject)

    def table(self, value: object, where: str, known: Sequence[str]) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.error(where, "must be a table")
        for key in value:
            if key not in known:
                raise self.error(
                    _join(where, key), f"is not a known key (known: {', '.join(known)})"
                )
        return value

    def strings(self, value: object, where: str) -> list[str]:
        if not isinstance(value, list):
            raise self.error(where, "must be a list of strings")
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise self.error(f"{where}[{index}]", f"must be a string, not {item!r}")
        return value

    def pythons(self, value: object, where: str) -> tuple[str, ...]:
        items = self.strings(value, where)
        if not items:
            raise self.error(where, "must list at least one Python version")
        for index, item in enumerate(items):
            if not _PYTHON.match(item):
                raise self.error(
                    f"{where}[{index}]", f'must be a Python version like "3.12", not {item!r}'
                )
        return _sorted_pythons(items)

    def member(self, name: str, where: str) -> Member:
        found = self.workspace.members.get(canonicalize_name(name))
        if found is None:
            names = ", ".join(self.workspace.members) or "none"
            raise self.error(where, f"names no workspace member {name!r} (members: {names})")
        return found

    def extras(self, value: object, member: Member, where: str) -> tuple[tuple[str, ...], ...]:
        if not isinstance(value, list) or not value:
            raise self.error(where, 'must be a non-empty list of lists of extras, e.g. [[], ["x"]]')
        combos: list[tuple[str, ...]] = []
        for index, combo in enumerate(value):
            names = self.strings(combo, f"{where}[{index}]")
            normalized: list[str] = []
            for inner, extra in enumerate(names):
                name = canonicalize_name(extra)
                if name not in member.extras:
                    defined = ", ".join(sorted(member.extras)) or "none"
                    raise self.error(
                        f"{where}[{index}][{inner}]",
                        f"names {extra!r}, which member {member.name!r} does not define "
                        f"(its extras: {defined})",
                    )
                normalized.append(name)
            combos.append(tuple(sorted(set(normalized))))
        return tuple(dict.fromkeys(combos))

    def config(self, value: object) -> MatrixConfig:
        where = "tool.wsenv"
        table = self.table(value, where, _TOP_KEYS)
        pythons: tuple[str, ...] = ()
        if "pythons" in table:
            pythons = self.pythons(table["pythons"], f"{where}.pythons")
        skip: set[str] = set()
        if "skip" in table:
            for index, name in enumerate(self.strings(table["skip"], f"{where}.skip")):
                skip.add(self.member(name, f"{where}.skip[{index}]").name)
        members: dict[str, MemberMatrix] = {}
        if "members" in table:
            mwhere = f"{where}.members"
            if not isinstance(table["members"], dict):
                raise self.error(mwhere, "must be a table of member names")
            for name, raw in table["members"].items():
                key = _join(mwhere, name)
                member = self.member(name, key)
                entry = self.table(raw, key, _MEMBER_KEYS)
                members[member.name] = MemberMatrix(
                    extras=(
                        self.extras(entry["extras"], member, f"{key}.extras")
                        if "extras" in entry
                        else None
                    ),
                    pythons=(
                        self.pythons(entry["pythons"], f"{key}.pythons")
                        if "pythons" in entry
                        else None
                    ),
                )
        return MatrixConfig(
            pythons=pythons,
            skip=frozenset(skip),
            members=MappingProxyType(dict(sorted(members.items()))),
        )


def _join(where: str, key: str) -> str:
    return f"{where}.{key if _BARE_KEY.match(key) else json.dumps(key)}"


def _sorted_pythons(items: Collection[str]) -> tuple[str, ...]:
    return tuple(sorted(set(items), key=Version))


# -- planning -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Job:
    """One CI job: a member (or a shard of members) with extras on one python."""

    members: tuple[str, ...]
    extras: tuple[str, ...]
    python: str
    shard: tuple[int, int] | None = None  # (K, N) for shard jobs
    # (member, I, N): of this member of ``members`` the job runs only part I (1-based) of N
    parts: tuple[tuple[str, int, int], ...] = ()

    @property
    def args(self) -> tuple[str, ...]:
        """The pytest arguments that run exactly this job."""
        args: list[str] = []
        for member in self.members:
            args += ["--ws-package", member]
        for member, part, count in self.parts:
            args += ["--ws-part", f"{member}:{part}/{count}"]
        for extra in self.extras:
            args += ["--ws-extra", extra]
        return (*args, "--ws-python", self.python)

    @property
    def labels(self) -> tuple[str, ...]:
        """The members, a member run in part as ``big[1/3]`` for each part it runs."""
        held: dict[str, list[str]] = {}
        for member, part, count in self.parts:
            held.setdefault(member, []).append(f"{member}[{part}/{count}]")
        return tuple(label for member in self.members for label in held.get(member, [member]))

    @property
    def name(self) -> str:
        """A readable job name: ``bird-feeder[torch] py3.12`` or ``shard 1/3 py3.12``."""
        if self.shard is not None:
            base = f"shard {self.shard[0]}/{self.shard[1]}"
        else:
            base = " ".join(self.members)
        extras = f"[{','.join(self.extras)}]" if self.extras else ""
        return f"{base}{extras} py{self.python}"


@dataclass(frozen=True, slots=True)
class Plan:
    """The jobs, and why members that were asked for got none."""

    jobs: tuple[Job, ...]
    skipped: Mapping[str, str]  # member -> reason


def _extras_combos(
    member: Member, entry: MemberMatrix | None, extras_combos: bool
) -> tuple[tuple[str, ...], ...]:
    if entry is not None and entry.extras is not None:
        return entry.extras
    if extras_combos:
        return ((), *((extra,) for extra in sorted(member.extras)))
    return ((),)


def _pythons_for(
    workspace: Workspace,
    member: Member,
    config: MatrixConfig,
    pythons: Sequence[str],
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(allowed pythons, candidates considered)."""

    def allowed(python: str) -> bool:
        return python_allowed(member.requires_python, python) and python_allowed(
            workspace.requires_python, python
        )

    entry = config.members.get(member.name)
    if pythons:
        candidates = _sorted_pythons(pythons)
    elif entry is not None and entry.pythons is not None:
        candidates = entry.pythons
    elif config.pythons:
        candidates = config.pythons
    else:
        lowest = next((p for p in KNOWN_PYTHONS if allowed(p)), None)
        return ((lowest,) if lowest else ()), KNOWN_PYTHONS
    return tuple(p for p in candidates if allowed(p)), candidates


def plan_jobs(
    workspace: Workspace,
    config: MatrixConfig,
    *,
    pythons: Sequence[str] = (),
    extras_combos: bool = False,
    members: Collection[str] | None = None,
) -> Plan:
    """The jobs for every member (or only ``members``), in a stable order.

    Pythons: ``pythons`` when given, else the member's ``[tool.wsenv.members.<m>]
    pythons``, else ``[tool.wsenv] pythons``, else the lowest of :data:`KNOWN_PYTHONS`
    that the member's and the workspace's ``requires-python`` allow; a python they do
    not allow gets no job. Extras: the member's configured ``extras`` combinations, else
    with ``extras_combos`` no extras plus each single extra, else no extras.
    Order: member name, then python version, then extras combination.
    """
    wanted = set(workspace.members) if members is None else set(members)
    jobs: list[Job] = []
    skipped: dict[str, str] = {}
    for name, member in workspace.members.items():
        if name not in wanted:
            continue
        if name in config.skip:
            skipped[name] = "listed in tool.wsenv.skip"
            continue
        allowed, candidates = _pythons_for(workspace, member, config, pythons)
        if not allowed:
            own = f"{member.requires_python}" if member.requires_python else "any"
            skipped[name] = (
                f"requires-python (member: {own}; workspace: "
                f"{workspace.requires_python or 'any'}) allows none of {', '.join(candidates)}"
            )
            continue
        combos = _extras_combos(member, config.members.get(name), extras_combos)
        for python in allowed:
            for combo in combos:
                jobs.append(Job(members=(name,), extras=combo, python=python))
    return Plan(jobs=tuple(jobs), skipped=MappingProxyType(skipped))


# -- rendering ------------------------------------------------------------------------------


def _entry(job: Job) -> dict[str, str]:
    entry = {"name": job.name}
    if job.shard is None:
        entry["member"] = job.members[0]
    else:
        entry["shard"] = f"{job.shard[0]}/{job.shard[1]}"
        entry["members"] = " ".join(job.labels)
    entry["extras"] = ",".join(job.extras)
    entry["python"] = job.python
    entry["args"] = shlex.join(job.args)
    return entry


def _github(jobs: Sequence[Job]) -> str:
    return json.dumps({"include": [_entry(job) for job in jobs]}, separators=(",", ":"))


def _gitlab(jobs: Sequence[Job]) -> str:
    if len(jobs) > GITLAB_MAX_JOBS:
        raise SelectionError(
            f"GitLab runs at most {GITLAB_MAX_JOBS} jobs from one parallel:matrix and this "
            f"selection has {len(jobs)}; use --shards to group members into fewer jobs"
        )
    entries = [_entry(job) for job in jobs]
    if not entries:
        # GitLab rejects an empty matrix: one entry with empty values stands for "nothing"
        entries = [{"name": "", "member": "", "extras": "", "python": "", "args": ""}]
    lines = [".wsenv-matrix:", "  parallel:", "    matrix:"]
    for entry in entries:
        prefix = "      - "
        for key, value in entry.items():
            lines.append(f"{prefix}WSENV_{key.upper()}: {json.dumps(value)}")
            prefix = "        "
    return "\n".join(lines)


def _json(jobs: Sequence[Job], reasons: Mapping[str, str]) -> str:
    items: list[dict[str, object]] = []
    for job in jobs:
        item: dict[str, object] = {
            "name": job.name,
            "members": list(job.labels),
            "extras": list(job.extras),
            "python": job.python,
            "shard": f"{job.shard[0]}/{job.shard[1]}" if job.shard else None,
            "args": list(job.args),
        }
        if reasons:
            item["reasons"] = {m: reasons[m] for m in job.members if m in reasons}
        items.append(item)
    return json.dumps(items, indent=2)


def render(jobs: Sequence[Job], fmt: Format, *, reasons: Mapping[str, str] | None = None) -> str:
    """The jobs as text (no trailing newline).

    ``github``: one line of JSON, ``{"include": [{"name", "member" | "shard" and
    "members", "extras", "python", "args"}]}``, for ``fromJSON`` in ``strategy.matrix``;
    a shard's ``members`` names a member it runs in part by its parts, ``big[1/3]``.
    ``gitlab``: a hidden job ``.wsenv-matrix`` holding ``parallel: matrix:`` with the same
    fields as ``WSENV_*`` variables, to be used with ``extends``. ``json``: a list of
    objects with lists for members, extras and args (and ``reasons`` when given).
    """
    if fmt == "github":
        return _github(jobs)
    if fmt == "gitlab":
        return _gitlab(jobs)
    return _json(jobs, reasons or {})
