"""Compare a closure with ``uv export`` output: flags -> Target, lines -> a set per env."""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from pathlib import Path

from packaging.markers import Marker

from pytest_wsenv.lock import Closure, Pin
from pytest_wsenv.target import MarkerEnv, Target

__all__ = [
    "EXPORT_FLAGS",
    "MARKER_ENVS",
    "export_set",
    "marker_env",
    "pin_line",
    "pins_set",
    "target_from_args",
]

#: The flags every recorded export used; they do not change the selection.
EXPORT_FLAGS = ("--frozen", "--no-hashes", "--no-header", "--no-annotate")

_PLATFORMS = {
    "linux": {
        "os_name": "posix",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
    },
    "win32": {
        "os_name": "nt",
        "sys_platform": "win32",
        "platform_system": "Windows",
        "platform_machine": "AMD64",
    },
    "darwin": {
        "os_name": "posix",
        "sys_platform": "darwin",
        "platform_system": "Darwin",
        "platform_machine": "arm64",
    },
}


def marker_env(version: str, platform: str = "linux") -> MarkerEnv:
    """A complete CPython marker environment for ``version`` (X.Y.Z) on ``platform``."""
    return MarkerEnv.from_dict(
        {
            "implementation_name": "cpython",
            "implementation_version": version,
            "platform_python_implementation": "CPython",
            "platform_release": "6.1.0",
            "platform_version": "#1 SMP",
            "python_full_version": version,
            "python_version": ".".join(version.split(".")[:2]),
            **_PLATFORMS[platform],
        }
    )


MARKER_ENVS = {
    "cp310-linux": marker_env("3.10.13"),
    "cp311-linux": marker_env("3.11.7"),
    "cp312-linux": marker_env("3.12.1"),
    "cp313-linux": marker_env("3.13.0"),
    "cp314-linux": marker_env("3.14.0"),
    "cp312-win32": marker_env("3.12.1", "win32"),
    "cp313-darwin": marker_env("3.13.0", "darwin"),
}


def target_from_args(args: Sequence[str] | str) -> Target:
    """The :class:`Target` of a ``uv export`` flag list (after ``uv export``)."""
    words = iter(shlex.split(args) if isinstance(args, str) else args)
    lists: dict[str, list[str]] = {"packages": [], "extras": [], "groups": [], "only_groups": []}
    options = {"--package": "packages", "--extra": "extras", "--group": "groups"}
    options["--only-group"] = "only_groups"
    flags: dict[str, bool] = {}
    for word in words:
        if word in EXPORT_FLAGS:
            continue
        if word in options:
            lists[options[word]].append(next(words))
        elif word in (
            "--all-packages",
            "--all-extras",
            "--all-groups",
            "--no-dev",
            "--no-default-groups",
        ):
            flags[word[2:].replace("-", "_")] = True
        else:
            raise ValueError(f"unexpected uv export flag {word!r}")
    return Target(
        packages=tuple(lists["packages"]),
        extras=tuple(lists["extras"]),
        groups=tuple(lists["groups"]),
        only_groups=tuple(lists["only_groups"]),
        all_packages=flags.get("all_packages", False),
        all_extras=flags.get("all_extras", False),
        all_groups=flags.get("all_groups", False),
        no_dev=flags.get("no_dev", False),
        no_default_groups=flags.get("no_default_groups", False),
    )


def export_set(text: str, env: MarkerEnv) -> set[str]:
    """The requirement lines of an export whose marker holds for ``env`` (markers dropped)."""
    out = set()
    values = env.as_dict()
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        requirement, _, marker = line.partition(" ; ")
        if marker and not Marker(marker).evaluate(values):
            continue
        out.add(requirement.strip())
    return out


def _anchor(relative: str) -> str:
    relative = relative.replace("\\", "/")
    if relative in ("", "."):
        return "."
    return relative if relative.startswith(("./", "../", "/")) else f"./{relative}"


def pin_line(pin: Pin, root: Path) -> str:
    """How ``uv export`` writes ``pin`` (relative editables/paths, URLs as recorded)."""
    if pin.source_kind == "editable":
        return f"-e {_anchor(pin.source)}"
    if pin.source_kind in ("directory", "path"):
        return _anchor(pin.source)
    return pin.requirement(root)


def pins_set(closure: Closure | Iterable[Pin], root: Path) -> set[str]:
    pins = closure.pins if isinstance(closure, Closure) else closure
    return {pin_line(p, root) for p in pins}
