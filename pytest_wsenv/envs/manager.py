"""The environment engine: target + interpreter -> a ready, exact, cached environment.

:meth:`EnvManager.spec_for` decides what an environment holds (see :mod:`.planner`, which
also describes the layers its test tooling comes from), :meth:`EnvManager.ensure` reuses
the cached env with that key or builds it, once across threads and processes, and
:meth:`EnvManager.mark_broken` has an env that cannot start pytest rebuilt.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

from ..errors import EnvBuildError
from ..lock import Lock
from ..target import Target
from ..workspace import Workspace
from . import cache, layers
from ._checks import check_exact, distributions, previous_env
from .backends import (
    Backend,
    BackendChoice,
    SyncRequest,
    UvBackend,
    fault_error,
    fault_in_output,
    permissive_umask,
    recording_installers,
    restrict_tree,
    select_backend,
)
from .bytecode import install_bytecode_hook
from .interpreters import Interpreter, find_interpreter
from .plan import sync_flags
from .planner import EnvPlanner
from .progress import BuildProgress, LogProgress
from .spec import EnvSpec, diff, layer_specs

__all__ = ["EnvManager", "ReadyEnv"]


@dataclass(frozen=True, slots=True)
class ReadyEnv:
    """An environment that exists, matches its spec, and may be run."""

    name: str
    path: Path
    python: Path
    bin_dir: Path
    key: str
    built: bool  # built (or rebuilt) by this call, as opposed to reused
    seconds: float  # time this call took
    packages: int  # distributions installed in it (layer envs not counted)
    layers: tuple[str, ...]  # where its test tooling comes from, in order
    site_packages: Path
    reason: str | None = None  # why it was (re)built, when an earlier env existed


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class EnvManager:
    """Builds and reuses the environments of one workspace, from any thread."""

    def __init__(
        self,
        workspace: Workspace,
        lock: Lock | None,
        *,
        cache_dir: Path,
        backend: BackendChoice = "auto",
        offline: bool = False,
        rebuild: bool = False,
        with_reqs: Sequence[str] = (),
        with_requirement_files: Sequence[str | os.PathLike[str]] = (),
        test_group: str = "dev",
        strict_runner: bool = False,
        no_install: frozenset[str] = frozenset(),
        log: Callable[[str], None] = _stderr,
        verbose: bool = False,
        progress: BuildProgress | None = None,
    ) -> None:
        self.workspace = workspace
        self.lock = lock
        self.cache_dir = Path(cache_dir)
        self.offline = offline
        self.rebuild = rebuild
        self.with_reqs = tuple(with_reqs)
        self.with_requirement_files = tuple(str(f) for f in with_requirement_files)
        self.test_group = canonicalize_name(test_group)
        self.strict_runner = strict_runner
        self.no_install = frozenset(canonicalize_name(n) for n in no_install)
        self.log = log
        self.verbose = verbose
        self.progress: BuildProgress = progress or LogProgress(log)
        self._backend_choice: BackendChoice = backend
        self._backend: Backend | None = None
        self._started = time.time()
        self._guard = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._rebuilt: set[str] = set()
        self._healed: set[str] = set()
        self._cache_checked = False
        self._planner = EnvPlanner(
            workspace,
            lock,
            backend=lambda: self.backend,
            offline=offline,
            with_reqs=self.with_reqs,
            with_requirement_files=self.with_requirement_files,
            test_group=self.test_group,
            strict_runner=strict_runner,
            no_install=self.no_install,
            log=log,
        )

    # -- choosing ------------------------------------------------------------------------

    def interpreter(self, request: str | None) -> Interpreter:
        """:func:`find_interpreter` with facts cached in this manager's cache directory."""
        return find_interpreter(request, cache_dir=self.cache_dir)

    @property
    def backend(self) -> Backend:
        with self._guard:
            if self._backend is None:
                self._backend = select_backend(self._backend_choice, self.cache_dir)
            return self._backend

    def spec_for(self, target: Target, interpreter: Interpreter) -> EnvSpec:
        """Every input of ``target``'s env on ``interpreter`` (no env is touched)."""
        return self._planner.spec_for(target, interpreter)

    def tool_layer(self, spec: EnvSpec, requirements: Sequence[str]) -> ReadyEnv:
        """The shared layer env of ``requirements`` on ``spec``'s interpreter (keyed as a
        ``--ws-with`` layer), for a tool a child adds at run time (coverage for ``--cov``)."""
        alone = dataclasses.replace(
            spec, with_requirements=tuple(requirements), runner_requirements=()
        )
        return self.ensure(layer_specs(alone)[0])

    # -- ensuring ------------------------------------------------------------------------

    def ensure(self, spec: EnvSpec) -> ReadyEnv:
        """The env of ``spec``: reused when its cached copy is intact, else built once
        (in-process and across processes), published atomically."""
        start = time.perf_counter()
        if not self._cache_checked:  # one stat per run: another user's cache is refused
            cache.check_cache_dir(self.cache_dir)
            self._cache_checked = True
        with self._guard:
            key_lock = self._key_locks.setdefault(spec.key, threading.Lock())
        with key_lock:
            attached: list[ReadyEnv] = []
            if spec.kind == "target":
                attached = [self.ensure(layer) for layer in self._planner.layer_specs(spec)]
            forced = self.rebuild and spec.key not in self._rebuilt
            found = cache.check(self.cache_dir, spec.name, spec.key)
            if isinstance(found, cache.Manifest) and not forced:
                if self.verbose:
                    self.log(f"reusing {spec.name}")
                return _ready(found, built=False, seconds=time.perf_counter() - start)
            cache.ensure_cache_dir(self.cache_dir)
            with cache.build_lock(self.cache_dir, spec.name, self.log):
                found = cache.check(self.cache_dir, spec.name, spec.key)
                if isinstance(found, cache.Manifest) and (
                    not forced or found.created >= self._started
                ):
                    self._rebuilt.add(spec.key)
                    return _ready(found, built=False, seconds=time.perf_counter() - start)
                reason = self._reason(spec, found, forced)
                manifest = self._build(spec, attached, reason)
                self._rebuilt.add(spec.key)
            return _ready(manifest, built=True, seconds=time.perf_counter() - start, reason=reason)

    def mark_broken(self, env: ReadyEnv, reason: str) -> bool:
        """Record that ``env`` cannot be used, e.g. its interpreter could not start pytest
        (``reason`` says how: the child's last line, "marshal data too short"...).

        The next :meth:`ensure` of its spec, in this run or a later one, rebuilds it and
        says so: ``building <name> ... (marked broken: <reason>)``; ``pytest-wsenv envs``
        lists it as broken meanwhile. Returns True the first time for ``env``'s key in
        this manager: the caller may call :meth:`ensure` and retry once. False when that
        key was already rebuilt for being broken in this run (a second rebuild would not
        help: report the failure). An env rebuilt by someone else since is not marked.
        Call it when no child of this run uses ``env`` any more: its rebuild replaces
        the directory.
        """
        with self._guard:
            first = env.key not in self._healed
            self._healed.add(env.key)
        with cache.build_lock(self.cache_dir, env.name, self.log):
            marked = cache.mark_broken(self.cache_dir, env.name, env.key, reason)
        if marked:
            self.log(f"{env.name} is broken ({' '.join(reason.split())}): it will be rebuilt")
        return first

    def _fault(self, exc: BaseException, spec: EnvSpec) -> EnvBuildError | None:
        """One line for a build that failed because of the machine (disk full, read-only
        cache, too many open files...) or another OSError; None to raise ``exc`` as is."""
        doing = f"building {spec.short_name}"
        if isinstance(exc, EnvBuildError):
            return fault_in_output([exc.message, *exc.log_tail.splitlines()], self.cache_dir, doing)
        if isinstance(exc, OSError):
            found = fault_error(exc, self.cache_dir, doing)
            where = exc.filename if isinstance(exc.filename, str) else self.cache_dir
            return found or EnvBuildError(
                f"cannot build {spec.short_name}: {exc.strerror or exc}", path=where
            )
        return None

    def _reason(self, spec: EnvSpec, found: cache.Manifest | str, forced: bool) -> str | None:
        if isinstance(found, cache.Manifest):
            return "--ws-rebuild" if forced else None
        if found != "not built yet":
            return found
        previous = previous_env(self.cache_dir, spec)
        if previous is None:
            return None
        reasons = diff(previous.inputs, spec.inputs())
        return "; ".join(reasons) if reasons else None

    def _build(
        self, spec: EnvSpec, attached: Sequence[ReadyEnv], reason: str | None
    ) -> cache.Manifest:
        backend = self.backend
        if backend.name != spec.backend:
            raise EnvBuildError(
                f"{spec.name} is specified for the {spec.backend} backend but this run uses "
                f"{backend.name}"
            )
        start = time.perf_counter()
        log = self.log if self.verbose else _quiet
        tmp = cache.new_temp_dir(self.cache_dir, spec.name)
        cache.sweep_killed_builds(self.cache_dir, skip=spec.name)
        try:
            with recording_installers(cache.installer_record(tmp)):
                manifest, installed = self._install(spec, attached, tmp, start, log)
        except BaseException as exc:
            cache.abandon(self.cache_dir, spec.name, tmp)
            self.progress.build_ended(spec.name, None)
            found = self._fault(exc, spec)
            if found is None:
                raise
            raise found from exc
        seconds = time.perf_counter() - start
        because = f" ({reason})" if reason else ""
        self.progress.build_ended(
            spec.name,
            f"building {spec.short_name} ({backend.name}, {len(installed)} packages) ... "
            f"{seconds:.1f}s{because}",
        )
        return manifest

    def _install(
        self,
        spec: EnvSpec,
        attached: Sequence[ReadyEnv],
        tmp: Path,
        start: float,
        log: Callable[[str], None],
    ) -> tuple[cache.Manifest, dict[str, str]]:
        """Build ``spec`` in ``tmp`` and publish it (see :meth:`_build`)."""
        backend = self.backend
        plans = self._planner.plans(spec)
        count = sum(len(p) for p in plans)
        if self.verbose:
            self.log(f"{spec.name}: installing {count} packages with {backend.name}")
        self.progress.build_started(
            spec.name, f"{spec.short_name} ({backend.name}, {count} packages)"
        )
        if isinstance(backend, UvBackend) and spec.kind == "target" and self.lock is not None:
            # uv's own sync engine: see the backend's docstring
            flags = sync_flags(spec.target, self.no_install)
            request = SyncRequest(self.workspace.root, flags, plans[0])
            built_at = cache.build_path(self.cache_dir, spec.name, tmp)
            python = backend.sync(spec.interpreter, built_at, request, log)
            cache.checkpoint("created")
            for plan in plans[1:]:  # the root's test tooling, at the lock's pins
                backend.install(python, plan, log)
        else:
            built_at = tmp
            python = backend.create(spec.interpreter, tmp, log)
            cache.checkpoint("created")
            for plan in plans:
                backend.install(python, plan, log)
        cache.checkpoint("installed")
        site = cache.site_packages_of(tmp)
        install_bytecode_hook(site)
        if attached:
            layers.attach_layers(python, [env.site_packages for env in attached])
        installed = distributions(site)
        check_exact(spec, plans, installed, tmp)
        if permissive_umask():  # built in-process with the umask: nothing others may write
            restrict_tree(tmp)
        record = {
            "key": spec.key,
            "kind": spec.kind,
            "label": spec.label,
            "inputs": spec.inputs(),
            "interpreter": str(spec.interpreter.executable),
            "build": {
                "backend": backend.name,
                "backend_version": spec.backend_version,
                "seconds": round(time.perf_counter() - start, 3),
                "packages": len(installed),
                "layers": [*spec.layers],
            },
        }
        manifest = cache.publish(
            self.cache_dir,
            spec.name,
            tmp,
            record,
            python=python,
            bin_dir=python.parent,
            attached=[env.name for env in attached],
            built_at=built_at,
            site=site,
        )
        return manifest, installed


def _quiet(line: str) -> None:
    pass


def _ready(
    manifest: cache.Manifest, *, built: bool, seconds: float, reason: str | None = None
) -> ReadyEnv:
    return ReadyEnv(
        name=manifest.name,
        path=manifest.path,
        python=manifest.python,
        bin_dir=manifest.bin_dir,
        key=manifest.key,
        built=built,
        seconds=seconds,
        packages=manifest.packages,
        layers=manifest.layers,
        reason=reason,
        site_packages=manifest.site_packages,
    )
