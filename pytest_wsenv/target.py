"""What to install: the flags of ``uv export``/``uv sync`` as one frozen value.

A :class:`Target` says *which* members, extras and groups; the interpreter it is
evaluated for is a :class:`MarkerEnv`. Both are plain data handed from selection to
the lock reader to the environment engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["MarkerEnv", "Target"]


@dataclass(frozen=True, slots=True)
class Target:
    """The install selection, with the meaning of the same ``uv export`` flags.

    ``packages`` empty and ``all_packages`` false means what plain ``uv export`` selects
    at the workspace root (the root project for an explicit root; every member's
    dependencies for a virtual root, as uv does).
    """

    packages: tuple[str, ...] = ()
    all_packages: bool = False
    extras: tuple[str, ...] = ()
    all_extras: bool = False
    groups: tuple[str, ...] = ()
    only_groups: tuple[str, ...] = ()
    all_groups: bool = False
    no_dev: bool = False
    no_default_groups: bool = False

    def label(self) -> str:
        """A short readable name, e.g. ``bird-feeder+torch`` (used in env directory names)."""
        base = "+".join(self.packages) if self.packages else "all" if self.all_packages else "root"
        extras = ["all-extras"] if self.all_extras else list(self.extras)
        return "+".join([base, *extras])


@dataclass(frozen=True, slots=True)
class MarkerEnv:
    """PEP 508 marker variables of one interpreter, as ``packaging.markers`` expects them."""

    values: tuple[tuple[str, str], ...] = field(default=())

    def as_dict(self) -> dict[str, str]:
        return dict(self.values)

    @property
    def python_version(self) -> str:
        return self.as_dict()["python_version"]

    @property
    def python_full_version(self) -> str:
        return self.as_dict()["python_full_version"]

    @classmethod
    def from_dict(cls, values: dict[str, str]) -> MarkerEnv:
        return cls(tuple(sorted(values.items())))

    @classmethod
    def current(cls) -> MarkerEnv:
        """The marker environment of the running interpreter."""
        from packaging.markers import default_environment

        return cls.from_dict({k: str(v) for k, v in default_environment().items()})

    @classmethod
    def for_version(cls, version: str) -> MarkerEnv:
        """This platform with another CPython ``X.Y`` or ``X.Y.Z`` (for planning without it).

        Used for ``--python 3.9`` where no 3.9 is installed: platform markers are this
        machine's, version markers are the requested version's.
        """
        env = dict(cls.current().as_dict())
        parts = version.split(".")
        full = version if len(parts) >= 3 else f"{parts[0]}.{parts[1]}.0"
        env["python_version"] = ".".join(parts[:2])
        env["python_full_version"] = full
        env["implementation_name"] = "cpython"
        env["platform_python_implementation"] = "CPython"
        env["implementation_version"] = full
        return cls.from_dict(env)
