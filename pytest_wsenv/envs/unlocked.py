"""A target's install set without ``uv.lock``: resolve its declared requirements.

Used only when the workspace has no lock. Workspace members the target reaches are
installed editable from source; everything else is what the members declare
(dependencies, the selected extras, the selected and default groups), resolved by the
backend for the interpreter. The result is a :class:`~pytest_wsenv.lock.Closure` of
plain pins so the rest of the engine does not care where it came from; it is not
reproducible, and the engine says so.
"""

from __future__ import annotations

from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ..errors import ConfigError, SelectionError
from ..lock import Closure, Pin
from ..target import Target
from ..workspace import Member, Workspace

__all__ = ["declared_requirements", "pins_from_resolution", "target_members"]


def target_members(workspace: Workspace, target: Target) -> list[Member]:
    """The members a target selects (as ``uv export`` would), without their dependencies."""
    if target.packages:
        return [workspace.member(name) for name in target.packages]
    if target.all_packages or workspace.kind == "virtual":
        return list(workspace.members.values())
    return [m for m in workspace.members.values() if m.is_root] or list(workspace.members.values())


def declared_requirements(
    workspace: Workspace, target: Target
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(third-party requirement strings, names of members to install editable)."""
    selected = target_members(workspace, target)
    reached: set[str] = set()
    for member in selected:
        reached.add(member.name)
        reached |= workspace.dependencies(member.name)
    requirements: list[str] = []
    for name in sorted(reached):
        member = workspace.members[name]
        requirements += member.dependencies
    for member in selected:
        extras = sorted(member.extras) if target.all_extras else target.extras
        for extra in extras:
            requirements += member.extras.get(canonicalize_name(extra), ())
        for group in _groups(workspace, member, target):
            found = member.groups.get(group, workspace.root_groups.get(group))
            if found is None:
                if group in target.groups or group in target.only_groups:
                    known = ", ".join(sorted({*member.groups, *workspace.root_groups}))
                    raise SelectionError(
                        f"member {member.name!r} has no dependency group {group!r} (and the "
                        f"workspace root has none); groups: {known or 'none'}",
                        path=member.pyproject,
                    )
                continue
            requirements += found
    third_party: list[str] = []
    for text in requirements:
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            raise ConfigError(f"invalid requirement {text!r}: {exc}") from exc
        if canonicalize_name(req.name) in workspace.members:
            continue
        if text not in third_party:
            third_party.append(text)
    editable = tuple(n for n in sorted(reached) if workspace.members[n].package)
    return tuple(third_party), editable


def _groups(workspace: Workspace, member: Member, target: Target) -> list[str]:
    if target.only_groups:
        return [str(canonicalize_name(g)) for g in target.only_groups]
    wanted: list[str] = [canonicalize_name(g) for g in target.groups]
    if target.all_groups:
        wanted += sorted({*member.groups, *workspace.root_groups})
    if not (target.no_default_groups or target.no_dev):
        # default groups come from the member's own groups only (as `uv export --package`)
        defaults = member.default_groups
        if defaults == "all":
            wanted += sorted(member.groups)
        else:
            wanted += [g for g in defaults if g in member.groups]
    elif target.no_dev:
        wanted = [g for g in wanted if g != "dev"]
    return list(dict.fromkeys(wanted))


def pins_from_resolution(
    workspace: Workspace, lines: tuple[str, ...], editable: tuple[str, ...]
) -> Closure:
    """A closure from a backend's resolution (``name==version`` / ``name @ url`` lines) plus
    the workspace members installed from source."""
    pins: dict[str, Pin] = {}
    for line in lines:
        text = line.split(" --hash", 1)[0].strip()
        if not text or text.startswith(("#", "-e ", "--")):
            continue
        req = Requirement(text)
        name: str = canonicalize_name(req.name)
        if name in workspace.members:
            continue
        specs = list(req.specifier)
        if req.url:
            pins[name] = Pin(name, None, "url", req.url, (), None, False, False)
        elif len(specs) == 1 and specs[0].operator == "==":
            pins[name] = Pin(name, specs[0].version, "registry", "", (), None, False, False)
    for name in editable:
        member = workspace.members[name]
        version = member.project.get("version")
        rel = Path(member.path).relative_to(workspace.root).as_posix()
        pins[name] = Pin(
            name,
            str(version) if isinstance(version, str) else None,
            "editable",
            rel if rel != "." else ".",
            (),
            None,
            True,
            True,
        )
    return Closure(tuple(pins[n] for n in sorted(pins)))
