"""Where things are inside a virtual environment, computed from its layout alone.

No function here starts an interpreter: the layout of a venv created by virtualenv or
``uv venv`` is fixed (``bin/python`` and ``lib/pythonX.Y/site-packages`` on POSIX,
``Scripts/python.exe`` and ``Lib/site-packages`` on Windows) and ``pyvenv.cfg`` records
the Python version and the base interpreter.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "base_executable",
    "env_dir",
    "env_python",
    "relocate_scripts",
    "site_packages",
    "venv_version",
]

_WINDOWS = sys.platform == "win32"


def env_python(dest: Path) -> Path:
    """The python executable of the environment at ``dest``."""
    return dest / "Scripts" / "python.exe" if _WINDOWS else dest / "bin" / "python"


def env_dir(python: Path) -> Path:
    """The environment directory of an environment's python (``<env>/bin/python``)."""
    return python.parent.parent


def _config(env: Path) -> dict[str, str]:
    """``<env>/pyvenv.cfg`` as a dict with lower-case keys (empty when unreadable)."""
    try:
        text = (env / "pyvenv.cfg").read_text(encoding="utf-8")
    except OSError:
        return {}
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            found[key.strip().lower()] = value.strip()
    return found


def venv_version(env: Path) -> str | None:
    """``X.Y`` from ``<env>/pyvenv.cfg`` (``version_info`` or ``version``), if recorded."""
    found = _config(env)
    for key in ("version_info", "version"):
        match = re.match(r"(\d+)\.(\d+)", found.get(key, ""))
        if match:
            return f"{match.group(1)}.{match.group(2)}"
    return None


def base_executable(env: Path) -> Path | None:
    """The interpreter ``env`` was created from, as virtualenv records it in
    ``pyvenv.cfg`` (``base-executable``); ``None`` when not recorded or gone."""
    found = _config(env)
    for key in ("base-executable", "executable"):
        value = found.get(key)
        if value and Path(value).is_file():
            return Path(value)
    return None


def site_packages(python: Path) -> Path:
    """The purelib ``site-packages`` of the environment of ``python``.

    POSIX: ``lib/pythonX.Y/site-packages`` with ``X.Y`` from ``pyvenv.cfg``; when that
    does not exist (a free-threaded ``python3.13t`` or PyPy layout) the single
    ``lib/*/site-packages`` there is. Windows: ``Lib/site-packages``.
    """
    env = env_dir(python)
    if _WINDOWS:
        return env / "Lib" / "site-packages"
    version = venv_version(env)
    if version is not None:
        candidate = env / "lib" / f"python{version}" / "site-packages"
        if candidate.is_dir():
            return candidate
    found = sorted((env / "lib").glob("*/site-packages"))
    if len(found) == 1:
        return found[0]
    if version is not None:
        return env / "lib" / f"python{version}" / "site-packages"
    raise FileNotFoundError(f"no site-packages directory in {env}")


#: The ``/bin/sh`` trampoline of ``uv venv --relocatable``: run the python beside the script.
_RELOCATABLE = "\n".join(
    (
        "#!/bin/sh",
        '\'\'\'exec\' "$(dirname -- "$(realpath -- "$0")")"/{name} "$0" "$@"',
        "' '''",
        "",
    )
)

#: The exec line of a trampoline that names an absolute interpreter (pip and uv write
#: one instead of ``#!<path>`` when the path holds spaces or is too long).
_EXEC_LINE = re.compile("^'''exec' (?P<q>['\"])(?P<path>[^'\"]+)(?P=q) \"\\$0\" \"\\$@\"$")
_TRAMPOLINE_END = b"' '''"


def _interpreter_of(head: bytes) -> tuple[str, int] | None:
    """The interpreter a script's header runs and how many header lines it spans."""
    lines = head.split(b"\n", 3)
    first = lines[0][2:].decode(errors="replace").strip()
    if first == "/bin/sh":
        if len(lines) > 2 and lines[2].rstrip(b"\r") == _TRAMPOLINE_END:
            match = _EXEC_LINE.match(lines[1].decode(errors="replace").rstrip("\r"))
            if match is not None:
                return match.group("path"), 3
        return None
    if first and " " not in first:
        return first, 1
    return None


def relocate_scripts(env: Path, foreign: Iterable[Path] = ()) -> int:
    """Make console scripts in ``<env>/bin`` independent of where ``env`` lives.

    Installers write an absolute interpreter path into every script: pip the env's own
    ``<env>/bin/python``, ``uv pip install --prefix`` the installing (base) interpreter,
    one of ``foreign``. The environment engine builds in a temporary directory and
    renames it into place, which would leave such scripts pointing at the wrong place.
    Each one gets the ``/bin/sh`` trampoline that ``uv venv --relocatable`` writes,
    which runs the ``python`` beside the script. POSIX only (Windows launchers are
    ``.exe`` files). Returns how many scripts were rewritten.
    """
    if _WINDOWS:
        return 0
    bindir = env / "bin"
    own = {str(bindir), str(bindir.resolve())}
    others = {str(path) for path in foreign}
    rewritten = 0
    for script in sorted(bindir.iterdir()):
        if script.is_symlink() or not script.is_file():
            continue
        with script.open("rb") as f:
            head = f.read(4096)
        found = _interpreter_of(head) if head.startswith(b"#!") else None
        if found is None:
            continue
        interpreter, header_lines = found
        if os.path.dirname(interpreter) in own:
            name = os.path.basename(interpreter)
        elif interpreter in others:
            name = "python"
        else:
            continue
        if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
            continue
        parts = script.read_bytes().split(b"\n", header_lines)
        body = parts[header_lines] if len(parts) > header_lines else b""
        mode = script.stat().st_mode
        script.write_bytes(_RELOCATABLE.format(name=name).encode() + body)
        os.chmod(script, mode)
        rewritten += 1
    return rewritten
