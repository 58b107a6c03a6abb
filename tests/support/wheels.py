"""Write wheels without a build backend or network.

``build_wheel`` makes a tiny pure-Python wheel from a few lines of metadata;
``repack_installed`` turns a distribution installed in the running environment back
into a wheel (its RECORD lists every file), so tests can install real pytest into
isolated environments offline.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from packaging.utils import canonicalize_name

__all__ = ["build_wheel", "repack_installed"]

_WHEEL = "Wheel-Version: 1.0\nGenerator: pytest-wsenv-tests\nRoot-Is-Purelib: true\nTag: {tag}\n"


def _record_line(arcname: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{arcname},sha256={digest},{len(data)}"


def _write(wheel: Path, files: Mapping[str, bytes], dist_info: str) -> Path:
    record = [_record_line(name, data) for name, data in files.items()]
    record.append(f"{dist_info}/RECORD,,")
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)
        zf.writestr(
            zipfile.ZipInfo(f"{dist_info}/RECORD", date_time=(2020, 1, 1, 0, 0, 0)),
            "\n".join(record) + "\n",
        )
    return wheel


def metadata_text(
    name: str,
    version: str,
    *,
    requires: Iterable[str] = (),
    extras: Mapping[str, Iterable[str]] | None = None,
    requires_python: str | None = None,
) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    lines += [f"Requires-Dist: {req}" for req in requires]
    for extra, reqs in (extras or {}).items():
        lines.append(f"Provides-Extra: {extra}")
        for req in reqs:
            marker = f'extra == "{extra}"'
            joined = f"{req} and {marker}" if ";" in req else f"{req}; {marker}"
            lines.append(f"Requires-Dist: {joined}")
    return "\n".join(lines) + "\n"


def build_wheel(
    dest: Path,
    name: str,
    version: str,
    *,
    requires: Iterable[str] = (),
    extras: Mapping[str, Iterable[str]] | None = None,
    requires_python: str | None = None,
    modules: Mapping[str, str] | None = None,
    tag: str = "py3-none-any",
) -> Path:
    """Write ``<name>-<version>-<tag>.whl`` into ``dest``.

    ``modules`` maps a relative file path (``"tinyleft/__init__.py"``) to its text; by
    default the wheel holds one package named after the distribution whose
    ``__init__`` records the version.
    """
    dest.mkdir(parents=True, exist_ok=True)
    stem = canonicalize_name(name).replace("-", "_")
    if modules is None:
        modules = {f"{stem}/__init__.py": f"VERSION = {version!r}\n"}
    dist_info = f"{stem}-{version}.dist-info"
    files = {path: text.encode() for path, text in modules.items()}
    files[f"{dist_info}/METADATA"] = metadata_text(
        name, version, requires=requires, extras=extras, requires_python=requires_python
    ).encode()
    files[f"{dist_info}/WHEEL"] = _WHEEL.format(tag=tag).encode()
    return _write(dest / f"{stem}-{version}-{tag}.whl", files, dist_info)


_SKIP = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}


def repack_installed(dest: Path, name: str, *, pure: bool = False) -> Path:
    """Rebuild a wheel of the installed distribution ``name`` from its RECORD.

    ``pure``: leave out compiled extensions and tag the wheel ``py3-none-any``, for a
    distribution that falls back to Python without them (coverage's tracer), so that it
    installs on every interpreter.
    """
    dist = importlib.metadata.distribution(name)
    stem = canonicalize_name(dist.metadata["Name"]).replace("-", "_")
    version = dist.version
    files: dict[str, bytes] = {}
    dist_info = ""
    for entry in dist.files or ():
        posix = entry.as_posix()
        if posix.startswith("..") or "__pycache__" in posix or posix.endswith(".pyc"):
            continue
        parts = posix.split("/")
        if parts[0].endswith(".dist-info"):
            dist_info = parts[0]
            if parts[-1] in _SKIP:
                continue
        if pure and posix.endswith((".so", ".pyd")):
            continue
        path = Path(str(entry.locate()))
        if path.is_file():
            files[posix] = path.read_bytes()
    if not dist_info:
        raise RuntimeError(f"{name} has no dist-info in its RECORD")
    dest.mkdir(parents=True, exist_ok=True)
    if pure:
        files[f"{dist_info}/WHEEL"] = _WHEEL.format(tag="py3-none-any").encode()
    wheel_text = files.get(f"{dist_info}/WHEEL", b"").decode()
    tags = [
        line.split(":", 1)[1].strip().split("-")
        for line in wheel_text.splitlines()
        if line.startswith("Tag:")
    ]
    # the file name carries the compressed tag set: every interpreter, abi, platform tag
    parts = [".".join(sorted({t[i] for t in tags})) for i in range(3)] if tags else []
    tag = "-".join(parts) if parts else "py3-none-any"
    return _write(dest / f"{stem}-{version}-{tag}.whl", files, dist_info)
