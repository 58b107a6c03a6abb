"""After a build: is the env exactly its plan? Before a build: what changed since the last one?"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ..errors import EnvBuildError
from . import cache
from .backends import InstallPlan
from .spec import EnvSpec

__all__ = ["check_exact", "distributions", "previous_env", "requirement_name"]


def requirement_name(text: str) -> str | None:
    try:
        return canonicalize_name(Requirement(text.split(" --hash", 1)[0]).name)
    except InvalidRequirement:
        return None


def distributions(site: Path) -> dict[str, str]:
    """``{normalized name: dist-info directory}`` of everything installed in ``site``."""
    found: dict[str, str] = {}
    for entry in os.listdir(site):
        stem, dot, suffix = entry.rpartition(".")
        if dot and suffix in ("dist-info", "egg-info"):
            found[canonicalize_name(stem.split("-", 1)[0])] = entry
    return found


def _expected(spec: EnvSpec, plans: Sequence[InstallPlan]) -> set[str] | None:
    """Distribution names the env must hold exactly (None: cannot tell, e.g. a layer with
    editables or direct references whose names are only known after building)."""
    if spec.kind == "target":
        names = {p.name for p in spec.closure.pins if p.source_kind != "virtual"}
        return names - set(spec.no_install)
    names = set()
    for plan in plans:
        if plan.editables:
            return None
        for line in plan.requirements:
            name = requirement_name(line)
            if name is None:
                return None
            names.add(name)
    return names


def check_exact(
    spec: EnvSpec, plans: Sequence[InstallPlan], installed: dict[str, str], where: Path
) -> None:
    """The env holds exactly the plan: nothing missing, nothing extra."""
    expected = _expected(spec, plans)
    if expected is None:
        return
    have = set(installed)
    missing = sorted(expected - have)
    extra = sorted(have - expected)
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if extra:
            parts.append(f"unexpected {', '.join(extra)}")
        raise EnvBuildError(
            f"the {spec.backend} backend did not install exactly the plan of "
            f"{spec.short_name}: {'; '.join(parts)}",
            path=where,
        )


def previous_env(cache_dir: Path, spec: EnvSpec) -> cache.Manifest | None:
    """The most recently used other env of the same target and Python (for the diff)."""
    prefix = f"{spec.short_name}-"
    best: cache.Manifest | None = None
    try:
        names = [n for n in os.listdir(cache_dir) if n.startswith(prefix) and n != spec.name]
    except OSError:
        return None
    for name in names:
        try:
            manifest = cache.read_manifest(cache_dir / name)
        except cache.InvalidManifest:
            continue
        if best is None or manifest.last_used > best.last_used:
            best = manifest
    return best
