"""The fork server side: a warm interpreter that forks one child pytest per request.

This file is executed by path (never imported as part of pytest_wsenv), with the *base*
interpreter of the member environments it serves and without ``site`` (``-S``), so
nothing but the standard library is importable at first::

    python -S -c <BOOTSTRAP> zygote.py '{"control_fd": N, "paths": [...], "records": [...]}'

It puts ``paths`` (the directories holding pytest and its requirements in one member
environment) on ``sys.path``, imports pytest and pytest's default plugins, checks that
every module it imported is either standard library or a file listed in one of the
``records`` (the ``RECORD`` files of those distributions), and then says ``ready`` on
its control socket (the inherited descriptor ``control_fd``). The parent only sends it
children whose environments hold byte-identical copies of those distributions (it compares the
``RECORD`` files), so the modules a child inherits are exactly those it would import.

Each request is an 8-byte big-endian length carrying, as ancillary data, the child's
stdout, stderr, message and command descriptors (and optionally its stdin), followed by that
many bytes of JSON:
``id``, ``argv`` (what ``sys.argv`` becomes: the child script and its arguments), ``cwd``,
``env`` (the complete environment), ``executable`` (the member environment's python).
The server forks, answers ``{"id": ..., "pid": ...}`` and, when a child ends,
``{"exited": pid, "code": ...}`` (``-N`` for signal N, as ``subprocess`` reports it). It
exits when the control socket closes.

In the forked child, before the child script runs as ``__main__``: a new session, the
descriptors in place (stdin from ``/dev/null``, message and command pipes as 3 and 4),
the working directory, the environment, ``sys.executable``, bytecode settings, and
``sys.path`` rebuilt by :func:`site.main` for the member environment, exactly as that
environment's own python would have built it (its ``.pth`` files included).
"""

from __future__ import annotations

import atexit
import contextlib
import csv
import gc
import importlib
import json
import os
import select
import signal
import socket
import sys
import threading
import traceback
from typing import Any, NoReturn

#: Descriptors the child script sees (``msg_fd``/``cmd_fd`` in its options).
MSG_FD, CMD_FD = 3, 4
_MAX_FDS = 5
_HIGH_FD = 100


def _send(sock: socket.socket, **fields: Any) -> None:
    sock.sendall(json.dumps(fields).encode() + b"\n")


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        data = sock.recv(min(size, 1 << 20))
        if not data:
            raise EOFError
        chunks.append(data)
        size -= len(data)
    return b"".join(chunks)


def _allowed_files(records: list[str]) -> set[str]:
    allowed = set()
    for record in records:
        base = os.path.dirname(os.path.dirname(record))
        with open(record, newline="", encoding="utf-8") as f:
            for row in csv.reader(f):
                if row:
                    allowed.add(os.path.normpath(os.path.join(base, row[0])))
    return allowed


def _foreign_modules(paths: list[str], records: list[str]) -> list[str]:
    """Modules loaded from ``paths`` that no RECORD lists (should be none)."""
    allowed = _allowed_files(records)
    roots = tuple(os.path.join(os.path.normpath(p), "") for p in paths)
    foreign = []
    for name, module in list(sys.modules.items()):
        if name == "__main__":  # this file
            continue
        filename = getattr(module, "__file__", None)
        if not isinstance(filename, str):
            continue
        filename = os.path.normpath(os.path.abspath(filename))
        if filename.startswith(roots):
            known = filename in allowed
        else:
            known = filename.startswith((sys.base_prefix, sys.base_exec_prefix))
        if not known:
            foreign.append(name)
    return sorted(foreign)


def _preload(paths: list[str]) -> str:
    sys.path.extend(paths)
    import pytest
    from _pytest.config import default_plugins

    for name in default_plugins:
        with contextlib.suppress(ImportError):
            importlib.import_module(f"_pytest.{name}")
    return str(pytest.__version__)


# --- in the forked child --------------------------------------------------------------------


def _child(request: dict[str, Any], fds: list[int], paths: list[str]) -> NoReturn:
    code = 1
    try:
        _become(request, fds, paths)
        code = _run(request["argv"])
    except BaseException:  # the child must end here, whatever happens
        with contextlib.suppress(BaseException):
            traceback.print_exc()
    os._exit(code)


def _become(request: dict[str, Any], fds: list[int], paths: list[str]) -> None:
    os.setsid()
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    high = [os.dup2(fd, _HIGH_FD + i, inheritable=False) for i, fd in enumerate(fds)]
    stdin = high[4] if len(high) > 4 else os.open(os.devnull, os.O_RDONLY)
    os.dup2(stdin, 0)
    for fd, target in zip(high[:4], (1, 2, MSG_FD, CMD_FD), strict=True):
        os.dup2(fd, target)
    os.closerange(CMD_FD + 1, _HIGH_FD + len(high))
    os.closerange(_HIGH_FD + len(high), 1 << 16)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.executable = request["executable"]
    sys.pycache_prefix = os.environ.get("PYTHONPYCACHEPREFIX") or None
    sys.dont_write_bytecode = bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))
    added = {os.path.normpath(p) for p in paths}
    sys.path[:] = [p for p in sys.path if os.path.normpath(p) not in added]
    for path in added:
        sys.path_importer_cache.pop(path, None)
    import site

    site.main()  # the member environment's site-packages and .pth files, as at startup
    importlib.invalidate_caches()


def _run(argv: list[str]) -> int:
    import runpy

    sys.argv = list(argv)
    try:
        runpy.run_path(argv[0], run_name="__main__")
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except KeyboardInterrupt:
        _finish()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        code = 130
    except BaseException:  # reported as the interpreter would
        traceback.print_exc()
        code = 1
    _finish()
    return code


def _exit_code(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    print(value, file=sys.stderr)
    return 1


def _finish() -> None:
    """What the interpreter does at exit: join threads, run atexit, flush."""
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is not None:
        with contextlib.suppress(BaseException):
            shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()


# --- the server loop ------------------------------------------------------------------------


def _reap(sock: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _send(sock, exited=pid, code=os.waitstatus_to_exitcode(status))


def serve(options: dict[str, Any]) -> int:
    sock = socket.socket(fileno=int(options["control_fd"]))
    paths: list[str] = list(options["paths"])
    try:
        version = _preload(paths)
        foreign = _foreign_modules(paths, list(options["records"]))
    except Exception as exc:  # reported to the parent, which then starts children itself
        _send(sock, ready=False, reason=f"{type(exc).__name__}: {exc}")
        return 1
    if foreign:
        _send(sock, ready=False, reason=f"imported from outside pytest: {', '.join(foreign)}")
        return 1
    gc.collect()
    gc.freeze()  # keep the shared pages shared: no collection touches them in the children
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    os.set_blocking(wake_r, False)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    signal.set_wakeup_fd(wake_w)
    _send(sock, ready=True, pytest=version, pid=os.getpid())
    while True:
        readable, _, _ = select.select([sock.fileno(), wake_r], [], [])
        if wake_r in readable:
            try:
                while os.read(wake_r, 512):
                    pass
            except BlockingIOError:
                pass
            _reap(sock)
        if sock.fileno() not in readable:
            continue
        try:
            header, fds, _, _ = socket.recv_fds(sock, 8, _MAX_FDS)
            if not header:
                return 0
            if len(header) < 8:
                header += _recv_exactly(sock, 8 - len(header))
            request = json.loads(_recv_exactly(sock, int.from_bytes(header, "big")))
        except EOFError:
            return 0
        pid = os.fork()
        if pid == 0:
            sock.detach()  # closed below by number; the object must never close it again
            os.close(wake_r)
            os.close(wake_w)
            _child(request, fds, paths)
        for fd in fds:
            os.close(fd)
        _send(sock, id=request["id"], pid=pid)
        _reap(sock)


if __name__ == "__main__":
    sys.exit(serve(json.loads(sys.argv[1])))
