"""``pytest-wsenv envs`` and ``pytest-wsenv prune``: the environment cache.

``envs`` lists every cached environment, one line each::

    NAME  TARGET  PYTHON  SIZE  LAST-USED  STATUS

``TARGET`` ends in ``+root tooling`` when the env holds test tooling from the workspace
root's ``dev`` group (``--json`` says what came from where, in ``tooling``). ``STATUS`` is
``current`` when the env's key is the key today's workspace, lock and
interpreter give for the same target and options (computed without building anything),
``stale`` when it is not, ``broken: <why>`` when its manifest is unusable or it was
marked broken (by a run whose child could not start in it, or by ``--verify``). Layer envs
(``_with``, ``_runner``) are current when a current env reads from them.

``--verify`` also checks every installed file of every env against its ``RECORD`` hash
and every bytecode file for truncation (reading every file: slow on big caches); an env
that fails is listed as ``broken: <what>``, marked broken so that the next run rebuilds
it, and the command exits with 1.

``--json`` prints one object (schema version 1)::

    {"schema": 1, "cache_dir": "/abs/.wsenv", "envs": [
      {"name": "...", "path": "...", "kind": "target" | "with" | "runner" | null,
       "label": "bird-feeder+torch", "packages": ["bird-feeder"], "extras": ["torch"],
       "groups": ["dev"], "python": "3.12.1", "size": 12345678,
       "tooling": ["uv.lock: bird-feeder+torch", "tooling from the workspace root's
                   group 'dev': pytest 8.3.2 (+4 locked dependencies)"],
       "last_used": "2025-01-01T12:00:00+00:00", "current": true, "problem": null,
       "key": "<sha256>"}]}

``envs --path MEMBER [--extra E] [--python X]`` prints the interpreter of the member's
current env (building it first when needed, exactly as ``pytest --ws-isolated`` would),
through the stable link ``<cache>/current/<member>[+extras]-py<X.Y>``: the link is
re-pointed at each call, so an editor or a shell pointed at it follows the current env.

``prune`` removes every env that is not current, unusable envs and half-built
leftovers (``--all``: every env); ``--dry-run`` only lists them.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from ..envs import cache
from ..envs.backends import BackendChoice
from ..envs.interpreters import Interpreter, find_interpreter
from ..envs.manager import EnvManager
from ..envs.verify import SHOWN, verify_env
from ..errors import SelectionError, WsenvError
from ..lock import Lock
from ..target import Target
from ..workspace import Workspace, load_toml

__all__ = ["SCHEMA_VERSION", "current_keys", "register"]

SCHEMA_VERSION = 1


def register(subparsers: Any) -> None:
    envs: argparse.ArgumentParser = subparsers.add_parser(
        "envs",
        help="List the cached member environments",
        description="List every environment in the cache and whether it is current.",
    )
    envs.add_argument(
        "--json", action="store_true", dest="as_json", help="Print JSON instead of text"
    )
    envs.add_argument(
        "--verify",
        action="store_true",
        help="Check every installed file against its RECORD hash; mark broken envs for rebuild",
    )
    envs.add_argument(
        "--path",
        metavar="MEMBER",
        default=None,
        help="Print the interpreter of MEMBER's current environment (building it if "
        "needed), through the stable link <cache>/current/<member>-py<X.Y>",
    )
    envs.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="EXTRA",
        help="With --path: include this extra of the member (repeatable)",
    )
    envs.add_argument(
        "--python",
        metavar="VERSION_OR_PATH",
        default=None,
        help="With --path: the interpreter, X.Y or a path (default: the running one)",
    )
    _cache_dir_option(envs)
    envs.set_defaults(func=_run_envs)

    prune: argparse.ArgumentParser = subparsers.add_parser(
        "prune",
        help="Remove environments no current target uses",
        description=(
            "Remove cached environments that are not current, unusable ones and "
            "half-built leftovers."
        ),
    )
    prune.add_argument(
        "--all", action="store_true", dest="remove_all", help="Remove every environment"
    )
    prune.add_argument(
        "--dry-run", action="store_true", help="List what would be removed, remove nothing"
    )
    _cache_dir_option(prune)
    prune.set_defaults(func=_run_prune)


def _cache_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cache-dir",
        "--ws-cache-dir",
        metavar="DIR",
        default=None,
        help="The environment cache (default: PYTEST_WSENV_CACHE_DIR, the wsenv_cache_dir "
        "ini key of the root pyproject.toml, or <workspace root>/.wsenv)",
    )


def _locate(args: argparse.Namespace) -> tuple[Workspace, Path]:
    workspace = Workspace.discover(Path(args.directory).resolve())
    ini: str | None = None
    with contextlib.suppress(WsenvError):
        options = load_toml(workspace.root_pyproject).get("tool", {}).get("pytest", {})
        value = options.get("ini_options", {}).get("wsenv_cache_dir")
        if isinstance(value, str):
            ini = str((workspace.root / value).absolute())
    return workspace, cache.resolve_cache_dir(workspace.root, args.cache_dir, ini)


def current_keys(workspace: Workspace, cache_dir: Path, envs: list[cache.CachedEnv]) -> set[str]:
    """Keys of the cached envs that today's workspace would give the same key again (and
    of the layer envs those read from). Nothing is built; interpreters are only looked up."""
    lock = Lock.load(workspace.lock_path) if workspace.lock_path.exists() else None
    managers: dict[tuple[object, ...], EnvManager] = {}
    current: set[str] = set()
    for env in envs:
        manifest = env.manifest
        if manifest is None or manifest.kind != "target":
            continue
        inputs = manifest.inputs
        backend = str(_mapping(inputs.get("backend")).get("name", "auto"))
        with_reqs = tuple(str(r) for r in inputs.get("with", ()) or ())
        no_install = frozenset(str(n) for n in inputs.get("no_install", ()) or ())
        options = (backend, with_reqs, no_install)
        try:
            manager = managers.get(options)
            if manager is None:
                manager = managers[options] = EnvManager(
                    workspace,
                    lock,
                    cache_dir=cache_dir,
                    backend=cast(BackendChoice, backend),
                    with_reqs=with_reqs,
                    no_install=no_install,
                    log=_quiet,
                )
            target = _target(_mapping(inputs.get("target")))
            interpreter = _interpreter(manifest, cache_dir)
            if interpreter is None:
                continue
            if manager.spec_for(target, interpreter).key == manifest.key:
                current.add(manifest.key)
        except (WsenvError, TypeError, ValueError):
            continue  # a member, extra or group that no longer exists: not current
    for env in envs:
        if env.manifest is not None and env.manifest.key in current:
            current.update(
                other.manifest.key
                for other in envs
                if other.manifest is not None and other.name in env.manifest.attached
            )
    return current


def _quiet(line: str) -> None:
    pass


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _target(raw: Mapping[str, Any]) -> Target:
    values: dict[str, Any] = {}
    for name in Target.__dataclass_fields__:
        if name in raw:
            value = raw[name]
            values[name] = tuple(value) if isinstance(value, list) else bool(value)
    return Target(**values)


def _interpreter(manifest: cache.Manifest, cache_dir: Path) -> Interpreter | None:
    """The interpreter the env was built from, else one with the same version."""
    for request in (
        str(manifest.interpreter),
        _mapping(manifest.inputs.get("python")).get("version"),
    ):
        if not request:
            continue
        try:
            return find_interpreter(str(request), cache_dir=cache_dir)
        except WsenvError:
            continue
    return None


def _record(env: cache.CachedEnv, current: set[str]) -> dict[str, Any]:
    manifest = env.manifest
    target = _mapping(manifest.inputs.get("target")) if manifest is not None else {}
    python = _mapping(manifest.inputs.get("python")).get("version") if manifest else None
    last_used = manifest.last_used if manifest is not None else None
    return {
        "name": env.name,
        "path": str(env.path),
        "kind": manifest.kind if manifest is not None else None,
        "label": manifest.label if manifest is not None else None,
        "packages": list(target.get("packages", [])),
        "extras": list(target.get("extras", [])),
        "groups": list(target.get("groups", [])),
        "tooling": list(manifest.layers) if manifest is not None else [],
        "python": python,
        "size": env.size(),
        "last_used": (
            datetime.datetime.fromtimestamp(last_used, datetime.timezone.utc).isoformat(
                timespec="seconds"
            )
            if last_used is not None
            else None
        ),
        "current": manifest is not None and manifest.key in current,
        "problem": env.problem,
        "key": manifest.key if manifest is not None else None,
    }


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def _text(records: list[dict[str, Any]]) -> list[str]:
    rows = [("NAME", "TARGET", "PYTHON", "SIZE", "LAST-USED", "STATUS")]
    for r in records:
        target = r["label"] or "?"
        if r["groups"]:
            target += f" [groups: {','.join(r['groups'])}]"
        if any(line.startswith("tooling from the workspace root") for line in r["tooling"]):
            target += " +root tooling"
        if r["problem"]:
            status = f"broken: {r['problem']}"
        else:
            status = "current" if r["current"] else "stale"
        when = (r["last_used"] or "-").replace("T", " ").replace("+00:00", "Z")
        rows.append((r["name"], target, r["python"] or "?", _size(r["size"]), when, status))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    ]


def _verified(cache_dir: Path, envs: list[cache.CachedEnv]) -> list[cache.CachedEnv]:
    """``envs`` with the problems :func:`verify_env` finds; envs that have one are marked
    broken (unless being rebuilt right now)."""
    checked = []
    for env in envs:
        manifest = env.manifest
        if manifest is not None and env.problem is None:
            problems = verify_env(manifest.site_packages)
            if problems:
                more = len(problems) - SHOWN
                text = "; ".join(problems[:SHOWN]) + (f" and {more} more" if more > 0 else "")
                with cache.try_key_lock(cache_dir, env.name) as held:
                    if held:
                        cache.mark_broken(cache_dir, env.name, manifest.key, text)
                checked.append(dataclasses.replace(env, problem=text))
                continue
        checked.append(env)
    return checked


def _current_link(workspace: Workspace, cache_dir: Path, args: argparse.Namespace) -> Path:
    """Build or reuse MEMBER's env and point ``<cache>/current/<name>`` at it."""
    lock = Lock.for_workspace(workspace)
    if lock is not None:
        workspace = lock.fill_dynamic(workspace)
    manager = EnvManager(workspace, lock, cache_dir=cache_dir, log=_stderr)
    member = workspace.member(args.path)
    interpreter = manager.interpreter(args.python)
    target = Target(packages=(member.name,), extras=tuple(args.extra))
    spec = manager.spec_for(target, interpreter)
    for line in spec.layers:
        print(f"wsenv: {line}", file=sys.stderr)
    ready = manager.ensure(spec)
    link = cache.link_current(cache_dir, spec.short_name, ready.path)
    return link / ready.python.relative_to(ready.path)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _run_envs(args: argparse.Namespace) -> int:
    workspace, cache_dir = _locate(args)
    if args.path is not None:
        print(_current_link(workspace, cache_dir, args))
        return 0
    if args.extra or args.python:
        raise SelectionError("--extra and --python go with --path MEMBER")
    envs = cache.list_envs(cache_dir)
    if args.verify:
        envs = _verified(cache_dir, envs)
    current = current_keys(workspace, cache_dir, envs)
    records = [_record(env, current) for env in envs]
    if args.as_json:
        document = {"schema": SCHEMA_VERSION, "cache_dir": str(cache_dir), "envs": records}
        print(json.dumps(document, indent=2))
    elif not records:
        print(f"no environments in {cache_dir}")
    else:
        for line in _text(records):
            print(line)
    if args.verify and any(r["problem"] for r in records):
        return 1
    return 0


def _run_prune(args: argparse.Namespace) -> int:
    workspace, cache_dir = _locate(args)
    keep: set[str] = set()
    if not args.remove_all:
        keep = current_keys(workspace, cache_dir, cache.list_envs(cache_dir))
    removed = cache.prune(cache_dir, keep, all=args.remove_all, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for path in removed:
        print(f"{verb} {path}")
    if not removed:
        print("nothing to remove", file=sys.stderr)
    return 0
