"""Where things are inside a virtual environment, computed from its layout alone.

No function here starts an interpreter: the layout of a venv created by ``uv venv`` or
virtualenv is fixed (``bin/python`` and ``lib/pythonX.Y/site-packages`` on POSIX,
``Scripts/python.exe`` and ``Lib/site-packages`` on Windows) and ``pyvenv.cfg`` records
the Python version.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

__all__ = ["env_dir", "env_python", "relocate_scripts", "site_packages", "venv_version"]

_WINDOWS = sys.platform == "win32"


def env_python(dest: Path) -> Path:
    """The python executable of the environment at ``dest``."""
    return dest / "Scripts" / "python.exe" if _WINDOWS else dest / "bin" / "python"


def env_dir(python: Path) -> Path:
    """The environment directory of an environment's python (``<env>/bin/python``)."""
    return python.parent.parent


def venv_version(env: Path) -> str | None:
    """``X.Y`` from ``<env>/pyvenv.cfg`` (``version_info`` or ``version``), if recorded."""
    try:
        text = (env / "pyvenv.cfg").read_text(encoding="utf-8")
    except OSError:
        return None
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            found[key.strip().lower()] = value.strip()
    for key in ("version_info", "version"):
        match = re.match(r"(\d+)\.(\d+)", found.get(key, ""))
        if match:
            return f"{match.group(1)}.{match.group(2)}"
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


def relocate_scripts(env: Path) -> int:
    """Make console scripts in ``<env>/bin`` independent of where ``env`` lives.

    pip writes ``#!<env>/bin/python`` into every script; the environment engine builds in
    a temporary directory and renames it into place, which would leave those shebangs
    dangling. Each such script gets the ``/bin/sh`` trampoline that ``uv venv
    --relocatable`` uses, which runs the ``python`` next to the script. POSIX only (Windows
    launchers are ``.exe`` files). Returns how many scripts were rewritten.
    """
    if _WINDOWS:
        return 0
    bindir = env / "bin"
    prefixes = (f"#!{bindir}{os.sep}".encode(), f"#!{bindir.resolve()}{os.sep}".encode())
    rewritten = 0
    for script in sorted(bindir.iterdir()):
        if script.is_symlink() or not script.is_file():
            continue
        with script.open("rb") as f:
            head = f.read(4096)
        if not head.startswith(prefixes):
            continue
        first = head.partition(b"\n")[0]
        interpreter = first[2:].split()[0].decode()
        name = os.path.basename(interpreter)
        if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
            continue
        body = script.read_bytes()[len(first) + 1 :]
        mode = script.stat().st_mode
        script.write_bytes(_RELOCATABLE.format(name=name).encode() + body)
        os.chmod(script, mode)
        rewritten += 1
    return rewritten
