"""What decides an environment's contents, as one frozen value with a stable key.

An :class:`EnvSpec` holds exactly the inputs that decide what an environment contains:
the target, the interpreter's facts, the pinned closure, the pyproject content of the
workspace members installed from source, the backend and its version, the test tooling
layers and the env format version. Its :attr:`~EnvSpec.key` is the sha256 of a
canonical JSON of those inputs, so an edit to a member the target does not install, or
to an unrelated part of ``uv.lock``, leaves the key (and the cached env) alone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError
from ..lock import Closure, Pin
from ..target import Target
from ..workspace import Workspace, load_toml
from .interpreters import Interpreter

__all__ = [
    "ENV_FORMAT",
    "EnvKind",
    "EnvSpec",
    "diff",
    "env_name",
    "layer_specs",
    "member_fingerprint",
    "member_fingerprints",
]

#: Bump when the layout or the way an env is built changes: every key changes with it.
ENV_FORMAT = 1

#: ``target`` = a member env; ``with`` / ``runner`` = a shared layer env (``--ws-with``
#: requirements / the parent's pytest) attached to member envs.
EnvKind = Literal["target", "with", "runner"]

#: pyproject tables that configure tools only; editing them never changes an install.
_TOOL_ONLY = frozenset(
    {"pytest", "ruff", "mypy", "coverage", "black", "isort", "pyright", "pylint", "codespell"}
)


@dataclass(frozen=True, slots=True)
class EnvSpec:
    """Every input of one environment. Cheap to build; :attr:`key` is computed once."""

    label: str  # Target.label(), or "_with" / "_runner" for a layer env
    target: Target
    interpreter: Interpreter
    closure: Closure
    # (member name, fingerprint of its pyproject.toml) for members installed from source
    members: tuple[tuple[str, str], ...]
    backend: str
    backend_version: str
    workspace_root: str  # editable installs point into it, so a moved checkout rebuilds
    runner_pytest: str | None = None  # the parent's pytest version when a runner layer is used
    runner_requirements: tuple[str, ...] = ()
    with_requirements: tuple[str, ...] = ()  # the with layer's requirements
    no_install: tuple[str, ...] = ()
    kind: EnvKind = "target"
    format: int = ENV_FORMAT
    # where the test tooling comes from, for people (derived from the inputs, not hashed)
    layers: tuple[str, ...] = field(default=(), compare=False)
    key: str = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", _digest(self.inputs()))

    @property
    def name(self) -> str:
        """Directory name: ``<label>-py<X.Y>-<first 10 hex of key>``."""
        return env_name(self.label, self.interpreter.short_version, self.key)

    @property
    def short_name(self) -> str:
        """``<label>-py<X.Y>``: what progress lines call this env."""
        return f"{_safe(self.label)}-py{self.interpreter.short_version}"

    def inputs(self) -> dict[str, Any]:
        """The canonical, JSON-ready inputs that :attr:`key` hashes (kept in the manifest)."""
        interp = self.interpreter
        editable = any(p.editable for p in self.closure.pins)
        return {
            "format": self.format,
            "kind": self.kind,
            "label": self.label,
            "target": {k: _jsonable(v) for k, v in dataclasses.asdict(self.target).items()},
            "python": {
                "implementation": interp.implementation,
                "version": interp.version,
                "abi": interp.abi,
                "platform": interp.platform,
            },
            "pins": {pin.name: _pin_inputs(pin) for pin in self.closure.pins},
            "members": dict(self.members),
            "backend": {"name": self.backend, "version": self.backend_version},
            "workspace": self.workspace_root if editable else None,
            "runner": {"pytest": self.runner_pytest, "requirements": [*self.runner_requirements]},
            "with": [*self.with_requirements],
            "no_install": sorted(self.no_install),
        }


def layer_specs(spec: EnvSpec) -> tuple[EnvSpec, ...]:
    """The shared layer envs a target env reads from, in order: ``--ws-with``, runner.

    A layer env is keyed on its requirements (unresolved), the interpreter and the
    backend, so every member on one interpreter shares it.
    """
    wanted: list[tuple[EnvKind, tuple[str, ...]]] = []
    if spec.kind == "target" and spec.with_requirements:
        wanted.append(("with", spec.with_requirements))
    if spec.kind == "target" and spec.runner_requirements:
        wanted.append(("runner", spec.runner_requirements))
    return tuple(
        EnvSpec(
            label=f"_{kind}",
            target=Target(),
            interpreter=spec.interpreter,
            closure=Closure(()),
            members=(),
            backend=spec.backend,
            backend_version=spec.backend_version,
            workspace_root=spec.workspace_root,
            with_requirements=requirements if kind == "with" else (),
            runner_requirements=requirements if kind == "runner" else (),
            runner_pytest=spec.runner_pytest if kind == "runner" else None,
            kind=kind,
            layers=(f"{kind}: {', '.join(requirements)}",),
        )
        for kind, requirements in wanted
    )


def env_name(label: str, short_version: str, key: str) -> str:
    return f"{_safe(label)}-py{short_version}-{key[:10]}"


def member_fingerprint(pyproject: Path) -> str:
    """sha256 of a member's parsed ``pyproject.toml``, minus tool-only tables.

    Parsed, so reformatting or comments do not count; ``[tool.pytest]``, ``[tool.ruff]``
    and other pure tool configuration are left out because they never change an install.
    """
    data = load_toml(pyproject)
    tool = data.get("tool")
    if isinstance(tool, dict):
        kept = {k: v for k, v in tool.items() if k not in _TOOL_ONLY}
        if kept:
            data["tool"] = kept
        else:
            del data["tool"]
    return _digest(data)


_MEMO_LOCK = threading.Lock()
_FINGERPRINTS: dict[tuple[str, int, int], str] = {}


def member_fingerprints(workspace: Workspace, closure: Closure) -> tuple[tuple[str, str], ...]:
    """``(name, fingerprint)`` of each workspace member ``closure`` installs from source
    (memoized by the pyproject's path, size and mtime)."""
    found: list[tuple[str, str]] = []
    for pin in closure.pins:
        if not (pin.member and pin.editable) or pin.name not in workspace.members:
            continue
        pyproject = workspace.members[pin.name].pyproject
        try:
            st = pyproject.stat()
        except OSError as exc:
            raise ConfigError(f"cannot read member {pin.name!r}: {exc}", path=pyproject) from exc
        memo = (str(pyproject), st.st_size, st.st_mtime_ns)
        with _MEMO_LOCK:
            digest = _FINGERPRINTS.get(memo)
        if digest is None:
            digest = member_fingerprint(pyproject)
            with _MEMO_LOCK:
                _FINGERPRINTS[memo] = digest
        found.append((pin.name, digest))
    return tuple(found)


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, ...]:
    """Why ``new`` inputs differ from ``old`` ones, as short human reasons (like tox).

    e.g. ``("tqdm 4.66.1 -> 4.66.4", "member 'seeds' added", "python 3.12.1 -> 3.12.3")``.
    """
    reasons: list[str] = []
    if old.get("format") != new.get("format"):
        reasons.append(f"env format {old.get('format')} -> {new.get('format')}")
    reasons += _python_reasons(_mapping(old.get("python")), _mapping(new.get("python")))
    old_backend, new_backend = _mapping(old.get("backend")), _mapping(new.get("backend"))
    if old_backend != new_backend:
        reasons.append(
            f"backend {old_backend.get('name')} {old_backend.get('version')} -> "
            f"{new_backend.get('name')} {new_backend.get('version')}"
        )
    if old.get("target") != new.get("target"):
        reasons.append(f"target {_target_text(old)} -> {_target_text(new)}")
    reasons += _pin_reasons(_mapping(old.get("pins")), _mapping(new.get("pins")))
    reasons += _member_reasons(_mapping(old.get("members")), _mapping(new.get("members")))
    if old.get("workspace") != new.get("workspace") and old.get("workspace") is not None:
        reasons.append(f"workspace moved: {old.get('workspace')} -> {new.get('workspace')}")
    old_runner, new_runner = _mapping(old.get("runner")), _mapping(new.get("runner"))
    if old_runner.get("pytest") != new_runner.get("pytest"):
        reasons.append(
            f"runner pytest {old_runner.get('pytest') or 'none'} -> "
            f"{new_runner.get('pytest') or 'none'}"
        )
    elif old_runner != new_runner:
        reasons.append("runner layer requirements changed")
    reasons += _list_reasons("with layer", old.get("with"), new.get("with"))
    reasons += _list_reasons("--no-install-package", old.get("no_install"), new.get("no_install"))
    if not reasons and dict(old) != dict(new):
        reasons.append("inputs changed")
    return tuple(reasons)


# -- helpers ------------------------------------------------------------------------------


#: Longest label kept in a directory name (file names stop at 255 bytes; the key suffix
#: keeps shortened names unique).
_MAX_LABEL = 80


def _safe(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]", "_", label)[:_MAX_LABEL] or "env"


def _digest(data: object) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _jsonable(value: object) -> object:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value


def _pin_inputs(pin: Pin) -> dict[str, Any]:
    return {
        "version": pin.version,
        "source_kind": pin.source_kind,
        "source": pin.source,
        "hashes": [*pin.hashes],
        "editable": pin.editable,
        "member": pin.member,
    }


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _target_text(inputs: Mapping[str, Any]) -> str:
    """``label [groups: dev, lint]``: enough to tell two targets apart."""
    target = _mapping(inputs.get("target"))
    flags = [
        f"{k}: {', '.join(map(str, v))}" if isinstance(v, list) else k
        for k, v in sorted(target.items())
        if v and k not in ("packages", "extras")
    ]
    return f"{inputs.get('label')}" + (f" [{'; '.join(flags)}]" if flags else "")


def _python_reasons(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    reasons = []
    if old.get("version") != new.get("version"):
        reasons.append(f"python {old.get('version')} -> {new.get('version')}")
    for fact in ("implementation", "abi", "platform"):
        if old.get(fact) != new.get(fact):
            reasons.append(f"python {fact} {old.get(fact)} -> {new.get(fact)}")
    return reasons


def _pin_text(pin: object) -> str:
    if not isinstance(pin, Mapping):
        return "?"
    if pin.get("editable"):
        return "(editable)"
    return str(pin.get("version") or pin.get("source") or "?")


def _pin_reasons(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    reasons = []
    for name in sorted(old.keys() | new.keys()):
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        if before is None:
            reasons.append(f"{name} {_pin_text(after)} added")
        elif after is None:
            reasons.append(f"{name} {_pin_text(before)} removed")
        elif _mapping(before).get("version") != _mapping(after).get("version"):
            reasons.append(f"{name} {_pin_text(before)} -> {_pin_text(after)}")
        else:
            changed = sorted(k for k in _mapping(before) if _mapping(before)[k] != after.get(k))
            reasons.append(f"{name} {', '.join(changed) or 'pin'} changed")
    return reasons


def _member_reasons(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    reasons = []
    for name in sorted(old.keys() | new.keys()):
        if name not in old:
            reasons.append(f"member {name!r} added")
        elif name not in new:
            reasons.append(f"member {name!r} removed")
        elif old[name] != new[name]:
            reasons.append(f"member {name!r} pyproject.toml changed")
    return reasons


def _list_reasons(what: str, old: object, new: object) -> list[str]:
    before = {str(x) for x in old} if isinstance(old, list | tuple) else set()
    after = {str(x) for x in new} if isinstance(new, list | tuple) else set()
    reasons = [f"{what}: {x} added" for x in sorted(after - before)]
    reasons += [f"{what}: {x} removed" for x in sorted(before - after)]
    return reasons
