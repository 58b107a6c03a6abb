"""The uv backend: ``uv sync`` for locked targets; else an in-process virtualenv + one
``uv pip install --no-deps``.

A locked target (a member's closure in ``uv.lock``) is built by uv's own sync engine:
``uv sync --frozen --exact`` with the target's selection flags, run at the workspace
root with ``UV_PROJECT_ENVIRONMENT`` naming the directory being built (the env's final
path, a link to its temporary directory until it is published: see
:func:`..publishing.build_path`). uv then creates the environment and installs the lock's
packages itself, with every workspace setting (indexes, sources, ``no-build-isolation``,
``cache-keys``) exactly as ``uv sync`` applies them, in the time ``uv sync`` takes. The
environment engine still checks the result against the closure it computed (nothing
missing, nothing extra).

Layers (``--ws-with``, the runner) and targets without a lock are installed from a plan:
a cold build is one uv process and no interpreter start. The environment is created by
virtualenv's Python API (:mod:`._create`: a few milliseconds once virtualenv has cached
the interpreter's facts, where ``uv venv`` is a process of its own). The plan is then
installed by one ``uv pip install`` from one requirements file written once: the
third-party pins, then ``-e file:///<dir>`` for each editable.

Two choices keep that install as fast as ``uv sync``:

- ``--python <base interpreter> --prefix <env>`` rather than ``--python <env>/bin/python``.
  uv must learn the facts of the interpreter it installs for and caches them per
  executable path; a new environment's python is always a cache miss costing a Python
  start (100-200 ms), the base interpreter a hit. ``--prefix`` installs into ``<env>``
  with a virtual environment's layout and considers only what is installed there.
  Console scripts then name the base interpreter, so they are rewritten to the
  relocatable trampoline that runs the env's own ``python``
  (:func:`~.venv.relocate_scripts`), which also lets the engine rename the env into
  place. Windows, or an env whose ``pyvenv.cfg`` records no base interpreter, uses
  ``--python <env python>``.
- Editables are listed in the file rather than given as ``-e`` arguments: uv rebuilds
  a source tree named on the command line on every install, but reuses its cached
  editable build for one from a file (keyed, as for ``uv sync``, on the project's
  ``pyproject.toml`` and ``tool.uv.cache-keys``).

Hashes: with ``require_hashes`` and no editables, ``--require-hashes``; with editables
(which uv, like pip, refuses in hash-checking mode) the hashes in the requirements
file are still verified, because uv verifies every hash it is given by default
(``--verify-hashes``).

Configuration: uv runs from the system temporary directory with the controlled
environment of :mod:`._process`, so user- and system-level ``uv.toml`` settings and
``UV_*`` variables (mirrors, credentials, cache) apply as they would to ``uv sync``, but
no project configuration is discovered from the working directory: the workspace's
``[tool.uv]`` index settings reach uv only through the plan's explicit flags.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from ...errors import EnvBuildError
from ..interpreters import Interpreter
from ._create import create_virtualenv
from ._diagnose import failure
from ._process import installer_env, requirements_file, run
from ._versions import remembered_version
from .base import BackendName, IndexSettings, InstallPlan, Log, SyncRequest, index_flags
from .venv import base_executable, env_dir, env_python, relocate_scripts

__all__ = ["UvBackend"]


def _neutral_cwd() -> Path:
    """Where uv runs: outside any project, so it discovers no project configuration."""
    return Path(tempfile.gettempdir())


class UvBackend:
    """Create and fill environments with the uv binary at ``uv``."""

    name: BackendName = "uv"

    def __init__(self, uv: str, cache_dir: Path | None = None) -> None:
        self.uv = uv
        self.cache_dir = cache_dir
        self._version: str | None = None

    def __repr__(self) -> str:
        return f"UvBackend({self.uv!r})"

    def version(self) -> str:
        """``uv --version`` output, e.g. ``uv 0.13.8`` (memoized per backend object, and on
        disk in ``cache_dir`` per binary)."""
        if self._version is None:
            self._version = remembered_version(self.uv, self.cache_dir, self._ask_version)
        return self._version

    def _ask_version(self) -> str:
        try:
            proc = subprocess.run(
                [self.uv, "--version"],
                capture_output=True,
                text=True,
                check=False,
                env=installer_env(),
            )
        except OSError as exc:
            raise EnvBuildError(f"cannot run {self.uv}: {exc.strerror or exc}") from exc
        if proc.returncode != 0 or not proc.stdout.strip():
            raise EnvBuildError(
                f"`{self.uv} --version` failed", log_tail=(proc.stdout + proc.stderr)[-2000:]
            )
        # "uv 0.13.8 (abc123 2025-01-01)" -> "uv 0.13.8"
        return " ".join(proc.stdout.split()[:2])

    def create(self, interpreter: Interpreter, dest: Path, log: Log) -> Path:
        return create_virtualenv(interpreter, dest, log)

    def sync(self, interpreter: Interpreter, dest: Path, request: SyncRequest, log: Log) -> Path:
        """Create the environment at ``dest`` holding the locked target of ``request``
        (``uv sync --frozen --exact``); return its python."""
        command = [self.uv, "sync", "--frozen", "--exact", "--no-progress"]
        command += ["--python", str(interpreter.executable), *request.flags]
        if request.plan.index.offline:
            command.append("--offline")
        env = installer_env({"UV_PROJECT_ENVIRONMENT": str(dest)})
        output = run(command, log=log, env=env, cwd=request.project, where=dest)
        if not output.ok:
            raise failure("uv sync", output, request.plan, where=dest)
        return env_python(dest)

    def install(self, python: Path, plan: InstallPlan, log: Log) -> None:
        if not len(plan):
            return
        env = env_dir(python)
        base = None if sys.platform == "win32" else base_executable(env)
        if base is not None:  # see the module docstring
            target = ["--python", str(base), "--prefix", str(env)]
        else:
            target = ["--python", str(python)]
        command = [self.uv, "pip", "install", *target, "--no-deps"]
        command += index_flags(plan.index)
        if plan.index.offline:
            command.append("--offline")
        if plan.require_hashes and not plan.editables:
            command.append("--require-hashes")
        # editables in the file, not as -e arguments: see the module docstring
        lines = (*plan.requirements, *(f"-e {path.as_uri()}" for path in plan.editables))
        with requirements_file(lines) as reqfile:
            assert reqfile is not None
            command += ["-r", str(reqfile)]
            output = run(command, log=log, env=installer_env(), cwd=_neutral_cwd(), where=env)
        if not output.ok:
            raise failure("uv pip install", output, plan, where=env)
        relocate_scripts(env, foreign=[base] if base is not None else [])

    def resolve(
        self, interpreter: Interpreter, requirements: tuple[str, ...], index: IndexSettings
    ) -> tuple[str, ...]:
        """``uv pip compile`` for ``interpreter``: ``name==version`` lines, ``name @ url``
        for direct references and ``-e <path>`` for editables, in uv's (sorted) order."""
        plan = InstallPlan(requirements=requirements, index=index)
        command = [
            self.uv,
            "pip",
            "compile",
            "--python",
            str(interpreter.executable),
            "--no-header",
            "--no-annotate",
            "--quiet",
        ]
        command += index_flags(index)
        if index.offline:
            command.append("--offline")
        with requirements_file(requirements) as reqfile:
            if reqfile is None:
                return ()
            pinned = reqfile.with_suffix(".out.txt")
            command += ["--output-file", str(pinned), str(reqfile)]
            try:
                output = run(command, log=_discard, env=installer_env(), cwd=_neutral_cwd())
                if not output.ok:
                    raise failure("uv pip compile", output, plan, where=None)
                return _pins(pinned.read_text(encoding="utf-8").splitlines())
            finally:
                pinned.unlink(missing_ok=True)


def _discard(line: str) -> None:
    pass


def _pins(lines: list[str]) -> tuple[str, ...]:
    return tuple(text for line in lines if (text := line.strip()) and not text.startswith("#"))
