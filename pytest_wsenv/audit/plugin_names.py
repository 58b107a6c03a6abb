"""Which installed distributions are pytest plugins."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable, Sequence
from pathlib import Path

from packaging.utils import canonicalize_name

__all__ = ["is_plugin", "pytest_plugins"]


def pytest_plugins(site_dirs: Sequence[Path] = ()) -> frozenset[str]:
    """Normalized names of the distributions with a ``pytest11`` entry point, installed in
    ``site_dirs`` or in the running environment."""
    found: set[str] = set()
    everywhere = [
        *(importlib.metadata.distributions(path=[str(p) for p in site_dirs]) if site_dirs else ()),
        *importlib.metadata.distributions(),
    ]
    for dist in everywhere:
        if any(e.group == "pytest11" for e in dist.entry_points) and dist.metadata["Name"]:
            found.add(canonicalize_name(dist.metadata["Name"]))
    return frozenset(found)


def is_plugin(dist: str, plugins: Iterable[str]) -> bool:
    """Whether a distribution is a pytest plugin (its name, or its entry points say so)."""
    name = canonicalize_name(dist)
    return name.startswith("pytest-") or name in set(plugins)
