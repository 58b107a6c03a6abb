"""Find CPython interpreters: PATH, pyenv, ``uv python find``, virtualenv discovery.

Facts about an interpreter (implementation, version, ABI, platform, PEP 508 marker
environment) cost one subprocess to learn. They are memoized in-process and, when a
cache directory is given, on disk keyed by the executable's path, size and mtime, so
later sessions start no interpreter at all.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import InterpreterNotFoundError
from ..target import MarkerEnv
from ._facts import QueryError, facts_of, forget_facts, running_facts
from .uv_binary import find_uv

__all__ = ["Interpreter", "find_interpreter", "marker_env_for"]

_VERSION_RE = re.compile(r"^(?:c?python|py)?(\d+)\.(\d+)(?:\.(\d+))?$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Interpreter:
    """A real interpreter on this machine, with the facts that decide an env's contents."""

    executable: Path  # absolute
    implementation: str  # "cpython"
    version: str  # full, e.g. "3.12.1"
    abi: str  # e.g. "cp312"
    platform: str  # sysconfig.get_platform(), e.g. "linux-x86_64"
    marker_env: MarkerEnv

    @property
    def short_version(self) -> str:
        """``X.Y``."""
        return ".".join(self.version.split(".")[:2])


def find_interpreter(request: str | None, *, cache_dir: Path | None = None) -> Interpreter:
    """``None`` = the running interpreter; ``"3.12"``/``"3.12.1"`` = that CPython found on
    PATH (``python3.12``), in pyenv, via ``uv python find``, via virtualenv's discovery;
    a path = that executable. InterpreterNotFoundError lists every place it looked.

    ``cache_dir`` (optional): where interpreter facts are cached on disk between sessions
    (a ``interpreters/`` folder is made inside it).
    """
    key = _search_key(request)
    with _MEMO_LOCK:
        found = _FOUND.get(key)
    if isinstance(found, Interpreter) and found.executable.exists():
        return found
    if isinstance(found, InterpreterNotFoundError):
        raise found
    try:
        result = _find(request, cache_dir)
    except InterpreterNotFoundError as exc:
        if request is not None and _VERSION_RE.match(request.strip()):
            with _MEMO_LOCK:
                _FOUND[key] = exc
        raise
    with _MEMO_LOCK:
        _FOUND[key] = result
    return result


def marker_env_for(request: str | None, *, cache_dir: Path | None = None) -> MarkerEnv:
    """Marker environment for ``request``: the real interpreter's when one is found, else
    (for a bare ``X.Y[.Z]`` version only) :meth:`MarkerEnv.for_version` on this platform."""
    try:
        return find_interpreter(request, cache_dir=cache_dir).marker_env
    except InterpreterNotFoundError:
        match = _VERSION_RE.match(request.strip()) if request is not None else None
        if match is None:
            raise
        version = ".".join(g for g in match.groups() if g is not None)
        return MarkerEnv.for_version(version)


# -- search -------------------------------------------------------------------------------

_MEMO_LOCK = threading.Lock()
#: (request, PATH, PYENV_ROOT, HOME) -> the answer found earlier in this process
_FOUND: dict[tuple[str | None, ...], Interpreter | InterpreterNotFoundError] = {}


def _search_key(request: str | None) -> tuple[str | None, ...]:
    env = os.environ
    return (request, env.get("PATH"), env.get("PYENV_ROOT"), env.get("HOME"), os.getcwd())


def _find(request: str | None, cache_dir: Path | None) -> Interpreter:
    if request is None:
        return _interpreter(Path(sys.executable), cache_dir, trust_running=True)
    text = request.strip()
    match = _VERSION_RE.match(text)
    if match is None:
        return _from_path(text, cache_dir)
    major, minor, micro = match.groups()
    return _from_version(
        text, (int(major), int(minor), None if micro is None else int(micro)), cache_dir
    )


def _from_path(text: str, cache_dir: Path | None) -> Interpreter:
    path = Path(text).expanduser()
    if not path.is_absolute() and os.sep not in text and (os.altsep or os.sep) not in text:
        on_path = shutil.which(text)
        if on_path is None:
            raise InterpreterNotFoundError(
                f"interpreter {text!r} is neither a version (like 3.12) nor an existing path, "
                f"and no {text!r} is on PATH; pass X.Y[.Z] or the path of a python executable"
            )
        path = Path(on_path)
    path = Path(os.path.abspath(path))
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise InterpreterNotFoundError(
            f"interpreter {str(path)!r} does not exist or is not executable; "
            "pass X.Y[.Z] or the path of a python executable"
        )
    shim = _is_pyenv_shim(path)
    if shim:
        versioned = re.match(r"^python(\d+)\.(\d+)$", path.name)
        if versioned is not None:  # bypass the shim: the newest pyenv pythonX.Y
            want = (int(versioned.group(1)), int(versioned.group(2)), None)
            real = _in_pyenv(path.parent.parent, path.name, want)
            if real:
                path, shim = real[0], False
    try:
        return _interpreter(path, cache_dir, shim=shim)
    except QueryError as exc:
        raise InterpreterNotFoundError(
            f"interpreter {str(path)!r} did not report its facts: {exc}"
        ) from exc


def _from_version(
    text: str, want: tuple[int, int, int | None], cache_dir: Path | None
) -> Interpreter:
    looked: list[str] = []
    for place, candidates in _places(want, cache_dir):
        tried: list[str] = []
        for candidate in candidates:
            try:
                interp = _interpreter(candidate, cache_dir)
            except QueryError as exc:
                tried.append(f"{candidate} (failed: {exc})")
                continue
            if _matches(interp, want):
                return interp
            tried.append(f"{candidate} (is {interp.implementation} {interp.version})")
        looked.append(f"{place}: {', '.join(tried) if tried else 'nothing found'}")
    wanted = ".".join(str(p) for p in want if p is not None)
    raise InterpreterNotFoundError(
        f"no CPython {wanted} found for --python {text!r}; looked at "
        + "; ".join(looked)
        + f". Install it (for example `uv python install {wanted}` or `pyenv install "
        f"{wanted}`) or pass the path of its python executable"
    )


def _matches(interp: Interpreter, want: tuple[int, int, int | None]) -> bool:
    if interp.implementation != "cpython":
        return False
    parts = re.findall(r"\d+", interp.version)[:3]
    have = tuple(int(p) for p in parts)
    if have[:2] != want[:2]:
        return False
    return want[2] is None or (len(have) > 2 and have[2] == want[2])


def _places(
    want: tuple[int, int, int | None], cache_dir: Path | None
) -> Iterator[tuple[str, list[Path]]]:
    """Each place to look, lazily (later places cost subprocesses)."""
    short = f"{want[0]}.{want[1]}"
    name = f"python{short}"
    running = sys.version_info[:3]
    if sys.implementation.name == "cpython" and running[:2] == want[:2]:
        yield "the running interpreter", [Path(sys.executable)]
    yield f"PATH ({name})", list(_on_path(name))
    root = _pyenv_root()
    yield f"pyenv ({root / 'versions' / '*' / 'bin' / name})", _in_pyenv(root, name, want)
    yield f"`uv python find {short}`", list(_uv_find(want))
    yield "virtualenv discovery", list(_virtualenv_find(want))


def _on_path(name: str) -> Iterator[Path]:
    seen: set[str] = set()
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        if not entry:
            continue
        candidate = Path(entry) / name
        if not candidate.is_file() or not os.access(candidate, os.X_OK):
            continue
        if _is_pyenv_shim(candidate):
            continue  # a bash script costing ~30 ms per start; pyenv is searched directly
        real = os.path.realpath(candidate)
        if real in seen:
            continue
        seen.add(real)
        yield Path(os.path.abspath(candidate))


def _pyenv_root() -> Path:
    env = os.environ.get("PYENV_ROOT")
    return Path(env) if env else Path.home() / ".pyenv"


def _is_pyenv_shim(path: Path) -> bool:
    if path.parent.name != "shims":
        return False
    try:
        with path.open("rb") as handle:
            head = handle.read(512)
    except OSError:
        return False
    return head.startswith(b"#!") and b"pyenv" in head


def _in_pyenv(root: Path, name: str, want: tuple[int, int, int | None]) -> list[Path]:
    versions = root / "versions"
    found: list[tuple[tuple[int, ...], Path]] = []
    with contextlib.suppress(OSError):
        for entry in versions.iterdir():
            digits = re.match(r"^(\d+)\.(\d+)\.(\d+)$", entry.name)
            if digits is None:
                continue  # "3.12-dev", "pypy3.10-7.3", "miniconda": not a plain CPython
            parsed = tuple(int(g) for g in digits.groups())
            if parsed[:2] != want[:2] or (want[2] is not None and parsed[2] != want[2]):
                continue
            exe = entry / "bin" / name
            if exe.is_file() and os.access(exe, os.X_OK):
                found.append((parsed, exe))
    return [exe for _, exe in sorted(found, reverse=True)]  # newest patch first


def _uv_binary() -> str | None:
    return find_uv()


def _uv_find(want: tuple[int, int, int | None]) -> Iterator[Path]:
    uv = _uv_binary()
    if uv is None:
        return
    version = ".".join(str(p) for p in want if p is not None)
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    try:
        proc = subprocess.run(
            [uv, "python", "find", "--no-project", f"cpython@{version}"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return
    out = proc.stdout.strip()
    if proc.returncode == 0 and out:
        yield Path(out.splitlines()[-1])


def _virtualenv_find(want: tuple[int, int, int | None]) -> Iterator[Path]:
    try:
        from virtualenv.discovery.builtin import get_interpreter
    except ImportError:
        return
    version = ".".join(str(p) for p in want if p is not None)
    try:
        info = get_interpreter(f"cpython{version}", [], env=dict(os.environ))
    except Exception:  # third-party discovery: any failure just means "not found here"
        return
    executable = getattr(info, "executable", None) if info is not None else None
    if executable:
        yield Path(str(executable))


# -- facts --------------------------------------------------------------------------------


def _interpreter(
    path: Path, cache_dir: Path | None, *, trust_running: bool = False, shim: bool = False
) -> Interpreter:
    """The interpreter at ``path``, its facts from the memo, the disk cache or one run."""
    found = running_facts() if trust_running else facts_of(path, cache_dir, memo=not shim)
    executable = Path(found["executable"]) if shim else path
    return Interpreter(
        executable=Path(os.path.abspath(executable)),
        implementation=str(found["implementation"]),
        version=str(found["version"]),
        abi=str(found["abi"]),
        platform=str(found["platform"]),
        marker_env=MarkerEnv.from_dict({str(k): str(v) for k, v in found["markers"].items()}),
    )


def _forget() -> None:
    """Drop every in-process memo (for tests that change the machine under our feet)."""
    with _MEMO_LOCK:
        _FOUND.clear()
    forget_facts()
