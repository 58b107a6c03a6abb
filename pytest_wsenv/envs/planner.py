"""What an environment holds: the :class:`~.spec.EnvSpec` of a target on an interpreter
(cheap: the lock closure, member fingerprints, the backend's version; no env is touched)
and the install plans that build it (:mod:`.plan` turns one closure into one plan).

Test tooling is layered, and reported in :attr:`EnvSpec.layers <.spec.EnvSpec>`:

1. the target's lock closure with its selected groups (as ``uv sync`` installs it), with
   whatever tooling those groups name;
2. the test tooling (pytest and ``pytest-*`` plugins, see :mod:`.tooling`) of
   the workspace root's ``test_group`` group (``dev``), with its locked dependencies, at the
   lock's versions: the workspace-wide tooling every member's tests see in the shared
   ``.venv``. Only the tooling comes from the root, not the rest of its group, and where
   the member's closure already pins a package, the member's pin wins;
3. ``--ws-with`` requirements (and ``wsenv_with_requirements`` files), in a separate
   cached layer env attached to this one;
4. when there is still no pytest: a runner layer with the parent's pytest version.

``strict_runner`` refuses layers 3 and 4 as a source of pytest.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from ..errors import EnvBuildError
from ..lock import Closure, Lock
from ..target import Target
from ..workspace import Workspace
from . import layers
from ._checks import requirement_name
from .backends import Backend, IndexSettings, InstallPlan
from .interpreters import Interpreter
from .plan import index_settings, plan_for
from .spec import EnvSpec, layer_specs, member_fingerprints
from .tooling import declared_tooling, is_tooling, locked_tooling, with_tooling
from .unlocked import declared_requirements, pins_from_resolution

__all__ = ["EnvPlanner"]


class EnvPlanner:
    """Plans the environments of one workspace for an
    :class:`~.manager.EnvManager`, from any thread."""

    def __init__(
        self,
        workspace: Workspace,
        lock: Lock | None,
        *,
        backend: Callable[[], Backend],
        offline: bool,
        with_reqs: tuple[str, ...],
        with_requirement_files: tuple[str, ...],
        test_group: str,
        strict_runner: bool,
        no_install: frozenset[str],
        log: Callable[[str], None],
    ) -> None:
        self.workspace = workspace
        self.lock = lock
        self.offline = offline
        self.with_reqs = with_reqs
        self.with_requirement_files = with_requirement_files
        self.test_group = test_group
        self.strict_runner = strict_runner
        self.no_install = no_install
        self.log = log
        self._get_backend = backend
        self._backend_version: str | None = None
        self._guard = threading.Lock()
        self._warned_unlocked = False
        self._resolved: dict[tuple[object, ...], tuple[str, ...]] = {}
        self._layer_index: dict[str, IndexSettings] = {}
        self._layers_of: dict[str, tuple[EnvSpec, ...]] = {}
        self._tooling_of: dict[str, frozenset[str]] = {}

    @property
    def backend(self) -> Backend:
        return self._get_backend()

    def _backend_id(self) -> tuple[str, str]:
        backend = self.backend
        if self._backend_version is None:
            version = backend.version()
            with self._guard:
                self._backend_version = version
        return backend.name, self._backend_version

    def spec_for(self, target: Target, interpreter: Interpreter) -> EnvSpec:
        """Every input of ``target``'s env on ``interpreter`` (no env is touched)."""
        closure, tooling, added = self._tooled_closure(target, interpreter)
        names = closure.names() - self.no_install
        with_reqs = self._with_requirements(target, closure)
        with_pytest = any(requirement_name(r) == "pytest" for r in with_reqs)
        runner_pytest: str | None = None
        runner_reqs: tuple[str, ...] = ()
        if "pytest" not in names and self.strict_runner:
            raise EnvBuildError(
                f"{target.label()} has no pytest in its locked dependencies (its selected "
                f"groups and the workspace root's group {self.test_group!r}); add pytest to the "
                f"{self.test_group!r} group of the member or of the workspace root and run "
                "`uv lock`, or drop --ws-strict-runner"
            )
        if with_reqs:
            tooling.append(f"with: {', '.join(with_reqs)}")
        if "pytest" not in names and not with_pytest:
            runner_pytest = layers.parent_pytest_version()
            runner_reqs = layers.runner_requirements(runner_pytest)
            tooling.append(f"runner: pytest {runner_pytest} (the running pytest's version)")
        backend, backend_version = self._backend_id()
        spec = EnvSpec(
            label=target.label(),
            target=target,
            interpreter=interpreter,
            closure=closure,
            members=member_fingerprints(self.workspace, closure),
            backend=backend,
            backend_version=backend_version,
            workspace_root=str(self.workspace.root),
            runner_pytest=runner_pytest,
            runner_requirements=runner_reqs,
            with_requirements=with_reqs,
            no_install=tuple(sorted(self.no_install)),
            layers=tuple(tooling),
        )
        with self._guard:
            self._tooling_of[spec.key] = added
        return spec

    def _tooled_closure(
        self, target: Target, interpreter: Interpreter
    ) -> tuple[Closure, list[str], frozenset[str]]:
        """Layers 1 and 2: the target's closure plus the root's test tooling.

        Returns the merged closure, the lines saying where the tooling comes from, and the
        names of the packages layer 2 added (installed after the target's own closure).
        """
        own_closure = self._closure(target, interpreter)
        source = "uv.lock" if self.lock is not None else "declared requirements (no uv.lock)"
        described = [f"{source}: {target.label()}"]
        own = [
            (p.name, p.version)
            for p in own_closure.pins
            if is_tooling(p.name) and p.name not in self.no_install
        ]
        if own:
            described.append(layers.describe_tooling(own, f"{target.label()}'s groups"))
        closure, picked = self._root_tooling(target, interpreter, own_closure)
        if not picked.pins:
            return own_closure, described, frozenset()
        named = [(p.name, p.version) for p in picked.pins if is_tooling(p.name)]
        described.append(
            layers.describe_tooling(
                named,
                f"the workspace root's group {self.test_group!r}",
                more=len(picked.pins) - len(named),
            )
        )
        return closure, described, picked.names()

    def _root_tooling(
        self, target: Target, interpreter: Interpreter, closure: Closure
    ) -> tuple[Closure, Closure]:
        """Layer 2: ``closure`` with the root's tooling, and the pins that tooling added
        (from the lock; without one, resolved together with the target's requirements)."""
        have = closure.names()
        if self.lock is not None:
            picked = locked_tooling(
                self.lock, self.workspace, self.test_group, interpreter.marker_env, have=have
            )
            return with_tooling(closure, picked), picked
        wanted = declared_tooling(self.workspace, self.test_group, have=have)
        if not wanted:
            return closure, Closure(())
        merged = self._closure(target, interpreter, extra=wanted)
        return merged, Closure(tuple(p for p in merged.pins if p.name not in have))

    def _tooling_names(self, spec: EnvSpec) -> frozenset[str]:
        """The names layer 2 added to ``spec``'s closure (see :meth:`_tooled_closure`)."""
        with self._guard:
            found = self._tooling_of.get(spec.key)
        if found is None:
            found = self._tooled_closure(spec.target, spec.interpreter)[2]
            with self._guard:
                self._tooling_of[spec.key] = found
        return found

    def _closure(
        self, target: Target, interpreter: Interpreter, extra: tuple[str, ...] = ()
    ) -> Closure:
        if self.lock is not None:
            return self.lock.closure(self.workspace, target, interpreter.marker_env)
        requirements, editable = declared_requirements(self.workspace, target)
        with self._guard:
            warn, self._warned_unlocked = not self._warned_unlocked, True
        if warn:
            self.log(
                f"no uv.lock in {self.workspace.root}: resolving the members' declared "
                "requirements; this run is not reproducible (run `uv lock` to pin it)"
            )
        pinned = self._resolve(interpreter, (*requirements, *extra))
        return pins_from_resolution(self.workspace, pinned, editable)

    def _resolve(self, interpreter: Interpreter, requirements: tuple[str, ...]) -> tuple[str, ...]:
        memo = (interpreter.executable, interpreter.version, requirements)
        with self._guard:
            found = self._resolved.get(memo)
        if found is None:
            index = index_settings(self.workspace, offline=self.offline)
            found = self.backend.resolve(interpreter, requirements, index)
            with self._guard:
                self._resolved[memo] = found
        return found

    def _with_requirements(self, target: Target, closure: Closure) -> tuple[str, ...]:
        if not (self.with_reqs or self.with_requirement_files):
            return ()
        members = self.workspace.members
        installed = [members[p.name].path for p in closure.pins if p.member and p.name in members]
        return layers.with_requirements(
            self.with_reqs,
            self.with_requirement_files,
            self._member_dir(target),
            base_dir=self.workspace.root,
            skip_dirs=installed,
        )

    def _member_dir(self, target: Target) -> Path:
        if len(target.packages) == 1:
            return self.workspace.member(target.packages[0]).path
        return self.workspace.root

    def layer_specs(self, spec: EnvSpec) -> tuple[EnvSpec, ...]:
        """The shared layer envs ``spec`` reads from (memoized with their index)."""
        with self._guard:
            found = self._layers_of.get(spec.key)
        if found is None:
            found = layer_specs(spec)
            index = index_settings(self.workspace, spec.closure.pins, offline=self.offline)
            with self._guard:
                self._layers_of[spec.key] = found
                for layer in found:
                    # resolved against the registries of the first closure that asks for it
                    self._layer_index.setdefault(layer.key, index)
        return found

    def plans(self, spec: EnvSpec) -> list[InstallPlan]:
        """The install plans that build ``spec``, in order: a target's own closure, then
        the root's test tooling that layer 2 added (if any); a layer env's one plan."""
        if spec.kind == "target":
            added = self._tooling_names(spec) if self.lock is not None else frozenset()
            parts = [
                Closure(tuple(p for p in spec.closure.pins if p.name not in added)),
                Closure(tuple(p for p in spec.closure.pins if p.name in added)),
            ]
            return [
                plan_for(part, self.workspace, offline=self.offline, no_install=self.no_install)
                for part in parts
                if part.pins or part is parts[0]
            ]
        requirements = spec.with_requirements or spec.runner_requirements
        with self._guard:
            index = self._layer_index.get(spec.key)
        if index is None:
            index = index_settings(self.workspace, offline=self.offline)
        pinned = self.backend.resolve(spec.interpreter, requirements, index)
        origin = "--ws-with" if spec.kind == "with" else "the runner layer (the parent's pytest)"
        return [layers.layer_plan(pinned, index, origin=origin)]
