"""One env's manifest (``wsenv-manifest.json``) and the reuse check built on it.

The manifest is written last, inside the env, just before the env is renamed into
place: an env directory without a valid manifest is never used. The reuse check
(:func:`check`) is what every test session pays for every cached env, so it does no
subprocess and as little as possible: one small JSON read, four stats, one directory
listing, one ``utime``. It works on strings; ``Path`` objects are made only for the
answer.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import EnvBuildError
from .backends._private import write_file

__all__ = [
    "LAST_USED",
    "MANIFEST",
    "MANIFEST_FORMAT",
    "InvalidManifest",
    "Manifest",
    "broken_reason",
    "check",
    "fingerprint",
    "listing",
    "manifest_from",
    "read_manifest",
    "site_packages_of",
    "write_manifest",
]

MANIFEST = "wsenv-manifest.json"
LAST_USED = ".wsenv-last-used"
MANIFEST_FORMAT = 1


@dataclass(frozen=True, slots=True)
class Manifest:
    """What ``wsenv-manifest.json`` records about one published env."""

    path: Path  # the env directory it was read from
    name: str
    key: str
    kind: str  # "target", "with", "runner"
    label: str
    inputs: Mapping[str, Any]  # EnvSpec.inputs() at build time
    interpreter: Path  # the executable the env was created from
    python: Path  # absolute
    bin_dir: Path  # absolute
    site_packages: Path  # absolute
    fingerprint: str
    entries: tuple[str, ...]  # site-packages listing at build time
    backend: str
    backend_version: str
    seconds: float
    packages: int
    created: float
    layers: tuple[str, ...]
    attached: tuple[str, ...]  # names of layer envs this env reads from
    raw: Mapping[str, Any]

    @property
    def last_used(self) -> float:
        """When a session last reused the env (the marker is made at the first reuse),
        else when it was built."""
        try:
            return os.stat(os.path.join(self.path, LAST_USED)).st_mtime
        except OSError:
            return self.created


class InvalidManifest(Exception):
    """The manifest cannot be used; ``str()`` says why (shown as the rebuild reason)."""


def _load(env_dir: str) -> dict[str, Any]:
    try:
        with open(os.path.join(env_dir, MANIFEST), "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise InvalidManifest("it has no manifest (a half-built or foreign directory)") from None
    except OSError as exc:
        raise InvalidManifest(f"its manifest is unreadable ({exc})") from exc
    try:
        raw = json.loads(data)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        raise InvalidManifest("its manifest is corrupt or truncated") from None
    if not isinstance(raw, dict) or raw.get("format") != MANIFEST_FORMAT:
        raise InvalidManifest("its manifest has an unknown format")
    return raw


def read_manifest(env_dir: Path | str) -> Manifest:
    """Parse ``env_dir``'s manifest; InvalidManifest when missing, corrupt or incomplete."""
    where = os.fspath(env_dir)
    return _manifest(where, _load(where))


def manifest_from(env_dir: Path | str, raw: dict[str, Any]) -> Manifest:
    """The manifest of ``env_dir`` from its parsed JSON ``raw``; InvalidManifest when
    incomplete."""
    return _manifest(os.fspath(env_dir), raw)


def _manifest(where: str, raw: dict[str, Any]) -> Manifest:
    try:
        build = raw["build"]
        site = raw["site_packages"]
        prefix = where + os.sep
        return Manifest(
            path=Path(where),
            name=_str(raw["name"]),
            key=_str(raw["key"]),
            kind=_str(raw["kind"]),
            label=_str(raw["label"]),
            inputs=_dict(raw["inputs"]),
            interpreter=Path(_str(raw["interpreter"])),
            python=Path(prefix + _str(raw["python"])),
            bin_dir=Path(prefix + _str(raw["bin_dir"])),
            site_packages=Path(prefix + _str(site["path"])),
            fingerprint=_str(site["fingerprint"]),
            entries=_strs(site["entries"]),
            backend=_str(build["backend"]),
            backend_version=_str(build["backend_version"]),
            seconds=float(build["seconds"]),
            packages=int(build["packages"]),
            created=float(build["created"]),
            layers=_strs(build["layers"]),
            attached=_strs(build["attached"]),
            raw=raw,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidManifest(f"its manifest is incomplete ({exc!r})") from None


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


def _strs(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list, got {value!r}")
    return tuple(map(_str, value))


def _dict(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"expected a table, got {value!r}")
    return value


def site_packages_of(env_dir: Path) -> Path:
    """The purelib directory of a virtual environment (POSIX or Windows layout)."""
    if os.name == "nt":
        return env_dir / "Lib" / "site-packages"
    lib = os.path.join(env_dir, "lib")
    with contextlib.suppress(OSError):
        for name in sorted(os.listdir(lib)):
            if os.path.isdir(os.path.join(lib, name, "site-packages")):
                return env_dir / "lib" / name / "site-packages"
    raise EnvBuildError("the environment has no lib/*/site-packages", path=env_dir)


def listing(site_packages: Path | str) -> list[str]:
    """The sorted entries of a site-packages directory, bytecode caches left out."""
    return sorted(e for e in os.listdir(site_packages) if e != "__pycache__")


def fingerprint(entries: Sequence[str]) -> str:
    """A cheap fingerprint of a site-packages listing (names of its entries)."""
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()


def check(cache_dir: Path | str, name: str, key: str) -> Manifest | str:
    """The env ``name``'s manifest if it can be reused as it is, else why not.

    Usable means: the manifest parses and names this key and this directory (not a
    link: see :func:`~.publishing.build_path`), the interpreter it was built from and its own
    python still exist, its site-packages listing has the fingerprint recorded at build
    time (nothing installed or removed by hand), and the layer envs it reads from still
    exist. A usable env has its last-used marker touched (made at the first reuse).
    """
    root = os.fspath(cache_dir)
    where = os.path.join(root, name)
    try:
        raw = _load(where)
    except InvalidManifest as exc:
        return "not built yet" if not os.path.exists(where) else str(exc)
    if raw.get("key") != key or raw.get("name") != name:
        return "its manifest records another key"
    broken = broken_reason(raw)
    if broken is not None:
        return broken
    if raw.get("path") != where:
        return f"it was built at {raw.get('path')} (environments are not relocatable)"
    if os.path.islink(where):
        return "its build did not finish (it is still a link to the build directory)"
    try:
        interpreter = _str(raw["interpreter"])
        python = os.path.join(where, _str(raw["python"]))
        site = raw["site_packages"]
        site_dir = os.path.join(where, _str(site["path"]))
        recorded = _str(site["fingerprint"])
        attached = _strs(raw["build"]["attached"])
    except (KeyError, TypeError) as exc:
        return f"its manifest is incomplete ({exc!r})"
    if not os.path.exists(interpreter):
        return f"its interpreter {interpreter} is gone"
    if not os.path.exists(python):
        return f"its python {python} is broken"
    try:
        entries = listing(site_dir)
    except OSError:
        return "its site-packages is gone"
    if fingerprint(entries) != recorded:
        before = site.get("entries")
        before = before if isinstance(before, list) else []
        return f"site-packages changed since it was built ({_describe(before, entries)})"
    for layer in attached:
        if not os.path.isfile(os.path.join(root, str(layer), MANIFEST)):
            return f"its layer environment {layer} is gone"
    try:
        manifest = _manifest(where, raw)
    except InvalidManifest as exc:
        return str(exc)
    _touch(os.path.join(where, LAST_USED))
    return manifest


def broken_reason(raw: Mapping[str, Any]) -> str | None:
    """Why the env was marked broken after it was published (see :func:`.cache.mark_broken`)."""
    reason = raw.get("broken")
    return None if reason is None else f"marked broken: {reason}"


def write_manifest(env_dir: Path, raw: Mapping[str, Any]) -> str:
    """Write ``raw`` as ``env_dir``'s manifest, whole or not at all: to a scratch file,
    flushed to disk, then renamed over the manifest. Returns the JSON text written."""
    # compact, so the C encoder writes it (with ``indent`` json encodes in Python)
    text = json.dumps(raw, sort_keys=True, separators=(",", ":"))
    write_file(Path(env_dir) / MANIFEST, text, sync=True)
    return text


def _describe(before: Sequence[str], after: Sequence[str]) -> str:
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    parts = [f"+{x}" for x in added[:5]] + [f"-{x}" for x in removed[:5]]
    more = len(added) + len(removed) - len(parts)
    return ", ".join(parts) + (f" and {more} more" if more > 0 else "")


def _touch(path: str) -> None:
    try:
        os.utime(path)
    except FileNotFoundError:
        with contextlib.suppress(OSError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o644))
    except OSError:
        pass
