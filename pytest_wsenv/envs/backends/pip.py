"""The pip backend: ``virtualenv`` (Python API) + pip, for machines without uv.

Environments are created in-process with ``virtualenv.cli_run`` and **no seed packages**
(no pip, setuptools or wheel; see :mod:`._create`), so an environment holds exactly the
plan, as with uv. pip is not
installed into it: it runs from the pip wheel bundled with virtualenv, which Python can
execute in place (``<env python> <pip.whl>/pip install ...``, the way ``get-pip`` and
virtualenv's own seeder run it). The pip used is therefore virtualenv's bundled pip for
the interpreter's ``X.Y``; :meth:`PipBackend.version` names it together with the
virtualenv version that determines it.

Installs use ``--no-deps --no-compile`` (no ``.pyc`` written at install time, as ``uv
sync`` does by default). pip turns hash-checking mode on for a whole call as soon as
one requirement has a hash, and then refuses editables and unhashed requirements (a git
pin); so requirements with hashes are installed in one call (``--require-hashes``) and
the others plus the editables in a second. Editables are built with
build isolation, their build requirements coming from the plan's index/find-links.
pip has no offline mode that uses its cache, so an offline plan adds ``--no-index``.
After installing, console-script shebangs are made relocatable
(:func:`~.venv.relocate_scripts`). pip reads user/site ``pip.conf`` and the ``PIP_*``
variables kept by :mod:`._process`.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from ...errors import EnvBuildError
from ...lock.pins import file_url_path
from ..interpreters import Interpreter
from ._create import create_virtualenv
from ._diagnose import failure
from ._process import installer_env, requirements_file, run
from .base import BackendName, IndexSettings, InstallPlan, Log, index_flags
from .venv import env_dir, relocate_scripts, venv_version

__all__ = ["PipBackend"]

_HASH = re.compile(r"\s--hash[=\s]")

_PIP_OPTIONS = (
    "--no-input",
    "--no-color",
    "--progress-bar",
    "off",
    "--disable-pip-version-check",
)


def _pip_wheel(python_version: str | None) -> Path:
    """The pip wheel virtualenv bundles for ``X.Y`` (the newest bundle for ``None``)."""
    import virtualenv  # imported when the pip backend is used, not with the plugin
    from virtualenv.seed.wheels.embed import get_embed_wheel

    try:
        wheel = get_embed_wheel("pip", python_version)
    except RuntimeError as exc:  # a bundled wheel that fails its checksum
        raise EnvBuildError(f"virtualenv's bundled pip is unusable: {exc}") from exc
    if wheel is None or not Path(wheel.path).is_file():
        raise EnvBuildError(
            f"virtualenv {virtualenv.__version__} bundles no pip for Python "
            f"{python_version or '(newest)'}; use the uv backend "
            "(pip install pytest-wsenv[uv])"
        )
    return Path(wheel.path)


def _pip_version(wheel: Path) -> str:
    return wheel.name.split("-")[1]


def _neutral_cwd() -> Path:
    return Path(tempfile.gettempdir())


class PipBackend:
    """Create environments with virtualenv and fill them with virtualenv's bundled pip."""

    name: BackendName = "pip"

    def __repr__(self) -> str:
        return "PipBackend()"

    def version(self) -> str:
        """e.g. ``pip 26.3 (virtualenv 21.15.7)``: the newest bundled pip; for an older
        Python virtualenv may bundle an older pip, which the interpreter part of an
        environment key (and the virtualenv version here) determines."""
        import virtualenv

        return f"pip {_pip_version(_pip_wheel(None))} (virtualenv {virtualenv.__version__})"

    def create(self, interpreter: Interpreter, dest: Path, log: Log) -> Path:
        return create_virtualenv(interpreter, dest, log)

    def install(self, python: Path, plan: InstallPlan, log: Log) -> None:
        if not len(plan):
            return
        env = env_dir(python)
        pip = _pip_wheel(venv_version(env)) / "pip"
        base = [str(python), str(pip), "install", "--no-deps", "--no-compile", *_PIP_OPTIONS]
        base += ["--no-warn-script-location", "--no-warn-conflicts"]
        base += _pip_index_flags(plan.index)
        # pip switches to hash-checking mode as soon as one line has a hash, and then
        # refuses unhashed lines (git, directories) and editables: hashed lines go in a
        # call of their own, everything else in a second one
        hashed = tuple(line for line in plan.requirements if _HASH.search(line))
        rest = tuple(line for line in plan.requirements if not _HASH.search(line))
        editables = [arg for path in plan.editables for arg in ("-e", str(path))]
        with requirements_file(hashed) as checked, requirements_file(rest) as unchecked:
            calls: list[list[str]] = []
            if checked is not None:
                calls.append([*base, "--require-hashes", "-r", str(checked)])
            if unchecked is not None or editables:
                files = ["-r", str(unchecked)] if unchecked is not None else []
                calls.append([*base, *files, *editables])
            for command in calls:
                output = run(command, log=log, env=installer_env(), cwd=_neutral_cwd(), where=env)
                if not output.ok:
                    raise failure("pip install", output, plan, where=env)
        relocate_scripts(env)

    def resolve(
        self, interpreter: Interpreter, requirements: tuple[str, ...], index: IndexSettings
    ) -> tuple[str, ...]:
        """``pip install --dry-run --ignore-installed --report`` run by ``interpreter``:
        ``-e <path>`` for editables first, then ``name==version`` / ``name @ url``
        sorted by name."""
        if not requirements:
            return ()
        plan = InstallPlan(requirements=requirements, index=index)
        pip = _pip_wheel(interpreter.short_version) / "pip"
        with requirements_file(requirements) as reqfile:
            assert reqfile is not None
            report = reqfile.with_suffix(".report.json")
            command = [str(interpreter.executable), str(pip), "install", *_PIP_OPTIONS]
            command += ["--dry-run", "--ignore-installed", "--quiet", "--report", str(report)]
            command += [*_pip_index_flags(index), "-r", str(reqfile)]
            try:
                output = run(command, log=_discard, env=installer_env(), cwd=_neutral_cwd())
                if not output.ok:
                    raise failure("pip install --dry-run", output, plan, where=None)
                try:
                    data = json.loads(report.read_text(encoding="utf-8"))
                except (OSError, ValueError) as exc:
                    raise EnvBuildError(
                        f"pip wrote no readable resolution report: {exc}",
                        log_tail=output.tail(),
                    ) from exc
            finally:
                report.unlink(missing_ok=True)
        return _pins_from_report(data)


def _discard(line: str) -> None:
    pass


def _pip_index_flags(index: IndexSettings) -> list[str]:
    flags = index_flags(index)
    if index.offline and not index.no_index:
        flags.append("--no-index")
    return flags


def _pins_from_report(data: Any) -> tuple[str, ...]:
    editables: list[str] = []
    pins: list[tuple[str, str]] = []
    for item in data.get("install", ()) if isinstance(data, dict) else ():
        meta = item.get("metadata", {})
        name = canonicalize_name(str(meta.get("name", "")))
        info = item.get("download_info", {})
        url = str(info.get("url", ""))
        if info.get("dir_info", {}).get("editable"):
            editables.append(f"-e {file_url_path(url)}")
        elif item.get("is_direct"):
            vcs = info.get("vcs_info")
            if vcs:
                url = f"{vcs['vcs']}+{url}@{vcs['commit_id']}"
            if info.get("subdirectory"):
                url += f"#subdirectory={info['subdirectory']}"
            pins.append((name, f"{name} @ {url}"))
        else:
            pins.append((name, f"{name}=={meta.get('version')}"))
    return (*sorted(editables), *(line for _, line in sorted(pins)))
