"""Why a member lacks a module: the sentence added to a report in an isolated run.

For example::

    bird-feeder imports 'sortedcontainers' but does not declare it; 'seeds' declares
    sortedcontainers>=2.4 (packages/seeds/pyproject.toml). Add it to bird-feeder's
    dependencies, or to an extra/group that the tests request.

The distribution providing the module comes from
:class:`~pytest_wsenv.audit.modules.ModuleIndex` (the shared ``.venv`` if there is one, the
running environment, the lock's wheels on disk, else the module name); whether the member's
environment has it from :func:`~pytest_wsenv.audit.environment.member_env`; who declares it
from every member's ``pyproject.toml``. The advice depends on that: another member declares
it, only this member's extra or group does, it is a sibling member, a pytest plugin, a local
package, or nobody declares it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from packaging.utils import canonicalize_name

from ..lock import Lock
from ..selection import ALL_MEMBERS
from ..target import Target
from ..workspace import Workspace
from .environment import Declaration, DeclarationIndex, MemberEnv, member_env
from .files import local_packages, package_prefixes
from .modules import ModuleIndex, is_stdlib, shared_site_packages
from .plugin_names import is_plugin, pytest_plugins

__all__ = ["Explainer", "explanation", "local_explanation"]


def local_explanation(module: str, where: Sequence[str]) -> str:
    """The note for a module whose top-level name is a local package, not a distribution."""
    top = module.partition(".")[0]
    if len(where) > 1:
        return (
            f"'{module}' is not a distribution: '{top}' is a local package in "
            f"{_names(where)}, and these directories collide under pytest's default import "
            f"mode (the first '{top}' imported hides the others). Give them distinct names, "
            "or run with --import-mode=importlib."
        )
    return (
        f"'{module}' is not a distribution: '{top}' is the local package at {where[0]}, "
        "which is not importable from where this test runs (see pytest's import modes)."
    )


def _names(items: Iterable[str]) -> str:
    quoted = [f"'{i}'" for i in items]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def explanation(
    member: str,
    module: str,
    dists: Sequence[str],
    declarations: Sequence[Declaration],
    *,
    origin: str = "",
    sibling: str | None = None,
    plugin: bool = False,
) -> str:
    """The sentence(s) attached to a report (see the module docstring)."""
    who = "the tests outside any member" if member == ALL_MEMBERS else member
    whose = "the workspace root's" if member == ALL_MEMBERS else f"{member}'s"
    dist = " or ".join(dists) if dists else canonicalize_name(module.partition(".")[0])
    named = f"'{module}'" if dist == canonicalize_name(module) else f"'{module}' ({dist})"
    if plugin:
        add = "uv add --dev" if member == ALL_MEMBERS else f"uv add --package {member} --dev"
        said = "; ".join(d.describe() for d in declarations[:2])
        return (
            f"{who} imports {named}, a pytest plugin: it is test tooling, not a runtime "
            f"dependency. Add it to {whose} dev group ({add} {dist}), or to the workspace "
            f"root's dev group for every member's tests{f' ({said})' if said else ''}."
        )
    own = [d for d in declarations if d.member == member]
    extras = [d for d in own if d.extra is not None]
    groups = [d for d in own if d.group is not None]
    others = [d for d in declarations if d.member != member]
    fix = f"Add it to {whose} dependencies, or to an extra/group that the tests request."
    if extras:
        first = extras[0]
        names = sorted({d.extra for d in extras if d.extra})
        flags = " or ".join(f"--ws-extra {n}" for n in names)
        return (
            f"{who} imports {named}, which only its extra{'s' if len(names) > 1 else ''} "
            f"{_names(names)} provide{'' if len(names) > 1 else 's'} ({first.requirement} in "
            f"{first.pyproject}). Run with {flags}, or add it to {whose} dependencies or to "
            "a group the tests use."
        )
    if groups:
        first = groups[0]
        names = sorted({d.group for d in groups if d.group})
        flags = " or ".join(f"--ws-group {n}" for n in names)
        return (
            f"{who} declares {first.requirement} only in its group{'s' if len(names) > 1 else ''} "
            f"{_names(names)} ({first.pyproject}), which this run does not install. Run with "
            f"{flags}, or add it to {whose} dependencies."
        )
    if sibling is not None:
        return (
            f"{who} imports '{module}': {dist} is the workspace member at {sibling}, which "
            f"{who} does not depend on: add it to {whose} dependencies (with "
            f"`{dist} = {{ workspace = true }}` in [tool.uv.sources])."
        )
    if others:
        said = "; ".join(d.describe() for d in others[:3])
        more = f" (and {len(others) - 3} more)" if len(others) > 3 else ""
        return f"{who} imports {named} but does not declare it; {said}{more}. {fix}"
    found = origin and origin not in ("module name", "unknown")
    where = f", found in the {origin}," if found else ""
    return f"{who} imports {named}{where} but no workspace member declares it. {fix}"


class Explainer:
    """Builds explanations for one workspace; the module index is built on first use."""

    def __init__(
        self,
        workspace: Workspace,
        lock: Lock | None,
        *,
        site_dirs: Sequence[Path] | None = None,
        test_group: str = "dev",
    ) -> None:
        self.workspace = workspace
        self.lock = lock
        self.site_dirs = site_dirs
        self.test_group = test_group
        self._index: ModuleIndex | None = None
        self._declarations: DeclarationIndex | None = None
        self._envs: dict[Target, MemberEnv | None] = {}
        self._locals: dict[tuple[str, str], list[str]] = {}
        self._plugins: frozenset[str] | None = None

    @property
    def index(self) -> ModuleIndex:
        if self._index is None:
            dirs = self.site_dirs
            self._index = ModuleIndex.build(
                self.workspace,
                {n: package_prefixes(m) for n, m in self.workspace.members.items()},
                lock=self.lock,
                site_dirs=shared_site_packages(self.workspace.root) if dirs is None else dirs,
                known=self.declarations.names(),
            )
        return self._index

    @property
    def declarations(self) -> DeclarationIndex:
        if self._declarations is None:
            self._declarations = DeclarationIndex(self.workspace)
        return self._declarations

    def env(self, member: str, target: Target | None) -> MemberEnv | None:
        found = self.workspace.members.get(member)
        if found is None:
            return None
        chosen = target or Target(packages=(member,))
        if chosen not in self._envs:
            try:
                self._envs[chosen] = member_env(
                    self.workspace, self.lock, found, chosen, test_group=self.test_group
                )
            except Exception:  # the explanation is a courtesy; never fail the run for it
                self._envs[chosen] = None
        return self._envs[chosen]

    @property
    def plugins(self) -> frozenset[str]:
        """Distributions with a ``pytest11`` entry point (shared ``.venv``, this one)."""
        if self._plugins is None:
            dirs = self.site_dirs
            site = shared_site_packages(self.workspace.root) if dirs is None else dirs
            self._plugins = pytest_plugins(site)
        return self._plugins

    def local(self, member: str, module: str) -> list[str]:
        """Where ``module``'s top-level name is a local package of ``member`` (of the
        workspace root for the tests outside any member), relative to the root."""
        top = module.partition(".")[0]
        if self.index.member(top) is not None:
            return []
        found = self.workspace.members.get(member)
        base = found.path if found is not None else self.workspace.root
        key = (str(base), top)
        if key not in self._locals:
            root = self.workspace.root
            self._locals[key] = sorted(
                Path(os.path.relpath(p, root)).as_posix() for p in local_packages(base, top)
            )
        return self._locals[key]

    def explain(self, member: str, module: str, target: Target | None = None) -> str | None:
        """Why ``module`` is missing for ``member``; None when it is not an undeclared
        dependency (stdlib, the member's own package, or in the member's environment)."""
        if is_stdlib(module):
            return None
        local = self.local(member, module)
        if local:
            return local_explanation(module, local)
        owner = self.index.member(module)
        if owner is not None and owner == member:
            return None
        dists, origin = self.index.lookup(module)
        env = self.env(member, target)
        if env is not None and any(env.available(d) for d in dists):
            return None
        names = dists or frozenset({canonicalize_name(module.partition(".")[0])})
        declarations = self.declarations.of(names)
        if any(d.member == member and d.extra is None and d.group is None for d in declarations):
            return None  # declared as a dependency: missing for another reason (markers)
        members = self.workspace.members
        sibling = next((members[d].path for d in sorted(dists) if d in members), None)
        return explanation(
            member,
            module,
            sorted(dists),
            declarations,
            origin=origin,
            sibling=os.path.relpath(sibling, self.workspace.root) if sibling else None,
            plugin=bool(names) and all(is_plugin(d, self.plugins) for d in names),
        )
