"""Test tooling layers outside the lock, like ``uv run --with``: the runner and
``--ws-with``. What counts as test tooling (:func:`is_tooling`, re-exported here) and the
root's tooling every member gets are decided in :mod:`.tooling`.

A layer is a separate environment built from *resolved* requirements (the engine core
resolves a :class:`Layer` with a backend's ``resolve``, turns the pins into a plan with
:func:`layer_plan`, and builds and caches it like any env). It is attached to a member
environment by :func:`attach_layers`, which writes one ``.pth`` file,
:data:`LAYERS_PTH`, into the member env's ``site-packages``.

What an attached layer makes importable, exactly:

- every module and package in the layer's ``site-packages``, and whatever the layer's own
  ``.pth`` files add (editable installs, ``pytest-cov``'s startup hook), because each
  layer is added with ``site.addsitedir``;
- *after* everything of the member env: site.py appends ``.pth`` entries to the end of
  ``sys.path`` and processes ``.pth`` files in sorted order, and :data:`LAYERS_PTH` sorts
  after any ASCII name, so the member env's own ``site-packages`` and its editable
  members' source directories come first. A package present in both resolves to the
  member's pinned copy; ``importlib.metadata`` lists both distributions, and
  ``version(name)`` returns the member's (the first found on ``sys.path``);
- layers in the order given, each after the previous one;
- not the layer's console scripts (its ``bin`` is not on ``PATH``).

Caveat: a member installed through an import hook on ``sys.meta_path`` (setuptools'
strict editable mode) is found after all ``sys.path`` entries, so a layer providing a
top-level package of the same name would shadow it.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import shlex
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement

from ..errors import ConfigError
from ..lock.pins import file_url_path
from .backends._private import write_file
from .backends.base import IndexSettings, InstallPlan
from .backends.venv import site_packages
from .interpreters import Interpreter
from .tooling import is_tooling

__all__ = [
    "LAYERS_PTH",
    "Layer",
    "attach_layers",
    "attached_layers",
    "describe_tooling",
    "is_tooling",
    "layer_plan",
    "parent_pytest_version",
    "runner_requirements",
    "site_packages",
    "with_requirements",
]

#: The ``.pth`` file that attaches layers. ``~`` sorts after every ASCII letter, digit
#: and punctuation used in distribution names, so it is processed last.
LAYERS_PTH = "~wsenv-layers.pth"


@dataclass(frozen=True, slots=True)
class Layer:
    """Requirements resolved outside the lock, for one interpreter.

    ``requirements`` are requirement lines as :func:`with_requirements` returns them
    (``-e <abs dir>`` for editables); the layer's environment holds their resolution.
    """

    requirements: tuple[str, ...]
    interpreter: Interpreter


def describe_tooling(pins: Iterable[tuple[str, str | None]], source: str, *, more: int = 0) -> str:
    """One line saying which tooling came from where: ``tooling from <source>: pytest
    8.3.2, pytest-mock 3.14.0`` (``more``: how many locked dependencies came with it)."""
    listed = ", ".join(f"{name} {version}" if version else name for name, version in pins)
    tail = f" (+{more} locked {'dependency' if more == 1 else 'dependencies'})" if more else ""
    return f"tooling from {source}: {listed}{tail}"


def parent_pytest_version() -> str:
    """The version of the pytest running this process (the parent session's)."""
    return importlib.metadata.version("pytest")


def runner_requirements(parent_pytest_version: str | None = None) -> tuple[str, ...]:
    """The layer that runs tests in a member env whose closure lacks pytest: the
    parent's exact pytest (and, by resolution, its dependencies). ``None`` means the
    running pytest's version."""
    version = parent_pytest_version if parent_pytest_version is not None else _running_pytest()
    return (f"pytest=={version}",)


def _running_pytest() -> str:
    return parent_pytest_version()


def layer_plan(
    resolved: Iterable[str], index: IndexSettings, *, origin: str = "--ws-with"
) -> InstallPlan:
    """The plan that installs a layer's resolved pins (``-e <dir>`` lines -> editables).

    An editable may come back from the resolver as a directory or a ``file:`` URL (uv writes
    the editables it found through ``[tool.uv.sources]`` that way); both become directories.
    """
    requirements: list[str] = []
    editables: list[Path] = []
    for line in resolved:
        words = line.split(maxsplit=1)
        if words and words[0] in ("-e", "--editable") and len(words) == 2:
            target = words[1].strip()
            if target.startswith("file:"):
                editables.append(file_url_path(target))
            elif "://" in target or target.startswith("git+"):
                requirements.append(line.strip())  # an editable from version control
            else:
                editables.append(Path(target))
        elif line.strip():
            requirements.append(line.strip())
    return InstallPlan(
        requirements=tuple(requirements),
        editables=tuple(editables),
        index=index,
        origin=origin,
    )


def attach_layers(env_python: Path, layer_site_packages: Sequence[Path]) -> Path:
    """Attach ``layer_site_packages`` (in order) to the environment of ``env_python``.

    Writes :data:`LAYERS_PTH` atomically (an empty sequence removes it); returns its path.
    """
    target = site_packages(env_python) / LAYERS_PTH
    if not layer_site_packages:
        target.unlink(missing_ok=True)
        return target
    lines = [
        f"import site; site.addsitedir({str(Path(p).absolute())!r})" for p in layer_site_packages
    ]
    write_file(target, "\n".join(lines) + "\n")
    return target


def attached_layers(site: Path) -> list[Path]:
    """The layer site-packages :func:`attach_layers` attached to ``site``, in order."""
    try:
        text = (site / LAYERS_PTH).read_text(encoding="utf-8")
    except OSError:
        return []
    found = []
    for line in text.splitlines():
        prefix, _, rest = line.partition("site.addsitedir(")
        if prefix and rest.endswith(")"):
            try:
                found.append(Path(ast.literal_eval(rest[:-1])))
            except (ValueError, SyntaxError):
                continue
    return found


def with_requirements(
    with_reqs: Sequence[str],
    requirement_files: Sequence[str | Path],
    member_dir: Path,
    *,
    base_dir: Path | None = None,
    skip_dirs: Collection[Path] = (),
) -> tuple[str, ...]:
    """Requirement lines for a ``--ws-with`` layer of the member at ``member_dir``.

    ``with_reqs`` are requirement strings; ``requirement_files`` are paths in which
    ``{member_dir}`` is replaced by the member's directory, relative ones then taken
    relative to ``member_dir``. Files hold PEP 508 requirements, comments, ``\\``
    continuations, ``-r``/``--requirement`` (nested, relative to the including file)
    and ``-e``/``--editable`` directories. Like pip run from ``base_dir`` (the workspace
    root, which is where tox runs such files from; default: the file's directory),
    relative editable and local-file paths are taken relative to ``base_dir``; they come
    back absolute (``-e /abs/dir``). Editables whose directory is in ``skip_dirs``
    (workspace members already installed in the member env) are left out. Other options
    (indexes, constraints, hashes) are a ConfigError naming the file and line: index
    settings come from ``[tool.uv]``. Duplicates are dropped, first occurrence kept.
    """
    skip = {Path(os.path.normpath(d)) for d in skip_dirs}
    out: list[str] = []
    for value in with_reqs:
        out += _line(value, where="--ws-with", base=base_dir or member_dir, skip=skip)
    for raw in requirement_files:
        path = Path(str(raw).replace("{member_dir}", str(member_dir)))
        if not path.is_absolute():
            path = member_dir / path
        out += _read(Path(os.path.normpath(path)), base_dir, skip, seen=())
    return tuple(dict.fromkeys(out))


_COMMENT = re.compile(r"(^|\s+)#.*$")
_INCLUDE = re.compile(r"^(?:-r|--requirement)(?:\s*=?\s*)(?P<file>.+)$")
_EDITABLE = re.compile(r"^(?:-e|--editable)(?:\s*=?\s*)(?P<target>.+)$")


def _logical_lines(path: Path) -> list[tuple[int, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("requirements file not found", path=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read requirements file: {exc.strerror}", path=path) from exc
    lines: list[tuple[int, str]] = []
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        if raw.endswith("\\") and not raw.endswith("\\\\"):
            pending += raw[:-1]
            continue
        lines.append((start, pending + raw))
        pending = ""
    if pending:
        lines.append((start, pending))
    return lines


def _read(
    path: Path, base_dir: Path | None, skip: set[Path], *, seen: tuple[Path, ...]
) -> list[str]:
    if path in seen:
        chain = " -> ".join(str(p) for p in (*seen, path))
        raise ConfigError(f"requirements files include each other: {chain}", path=path)
    out: list[str] = []
    for number, raw in _logical_lines(path):
        line = _COMMENT.sub("", raw).strip()
        if not line:
            continue
        include = _INCLUDE.match(line)
        if include is not None:
            nested = Path(_unquote(include.group("file")))
            if not nested.is_absolute():
                nested = path.parent / nested
            out += _read(Path(os.path.normpath(nested)), base_dir, skip, seen=(*seen, path))
            continue
        out += _line(line, where=f"{path}:{number}", base=base_dir or path.parent, skip=skip)
    return out


def _unquote(text: str) -> str:
    try:
        words = shlex.split(text)
    except ValueError:
        return text.strip()
    return words[0] if len(words) == 1 else text.strip()


def _line(line: str, *, where: str, base: Path, skip: set[Path]) -> list[str]:
    text = line.strip()
    editable = _EDITABLE.match(text)
    if editable is not None:
        target = _unquote(editable.group("target"))
        if "://" in target or target.startswith("git+"):
            return [f"-e {target}"]
        directory = Path(os.path.normpath(base / os.path.expanduser(target)))
        return [] if directory in skip else [f"-e {directory}"]
    if text.startswith("-"):
        option = text.split()[0].split("=")[0]
        raise ConfigError(
            f"{where}: option {option} is not supported in layer requirements "
            "(indexes come from [tool.uv]; constraints and hashes do not apply to layers)"
        )
    if " --" in text or "\t--" in text:
        option = text[text.index("--") :].split()[0].split("=")[0]
        raise ConfigError(f"{where}: per-requirement option {option} is not supported in layers")
    local = _local_path(text, where=where, base=base)
    if local is not None:
        return [local]
    try:
        requirement = Requirement(text)
    except InvalidRequirement as exc:
        raise ConfigError(f"{where}: invalid requirement {text!r}: {exc}") from exc
    return [str(requirement)]  # normalized spelling: these lines are part of an env key


_EXTRAS = re.compile(r"^(?P<path>.+?)(?P<extras>\[[^\]]*\])?$")


def _local_path(text: str, *, where: str, base: Path) -> str | None:
    """A local project or archive as pip reads one: ``path[extras] ; marker`` (``None``
    when ``text`` is no path), absolute, with the marker normalized."""
    spec, has_marker, marker = text.partition(";")
    found = _EXTRAS.match(spec.strip())
    if found is None or not _looks_like_path(found.group("path")):
        return None
    path = Path(os.path.normpath(base / os.path.expanduser(found.group("path"))))
    line = f"{path}{found.group('extras') or ''}"
    if has_marker:
        try:
            line += f" ; {Marker(marker.strip())}"
        except InvalidMarker as exc:
            raise ConfigError(f"{where}: invalid marker {marker.strip()!r}: {exc}") from exc
    return line


def _looks_like_path(text: str) -> bool:
    if "://" in text or "@" in text or ";" in text:
        return False
    return (
        text.startswith((".", "/", "~"))
        or os.sep in text
        or text.endswith((".whl", ".tar.gz", ".zip"))
    )
