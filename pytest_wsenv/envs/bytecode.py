"""Bytecode caches in an environment are written whole or not at all.

CPython writes a ``.pyc`` to a temporary file and renames it into place, but it does
not check that the one ``write`` wrote everything: when the disk fills or a file-size
limit is hit part way, a truncated ``.pyc`` is renamed into ``__pycache__`` and every
later import of that module fails with "marshal data too short" (tests run in an env
write bytecode into its ``site-packages``). Every env therefore gets
:data:`HOOK_PTH`, a ``.pth`` file processed at interpreter start that replaces
importlib's writer with one that writes until everything is written and otherwise
removes the temporary file (importlib then just does without the cache), and that
clears the group and other write bits of a ``__pycache__`` directory a permissive
umask made. The hook is a few lines of stdlib code; it changes nothing else.
"""

from __future__ import annotations

from pathlib import Path

from .backends._private import write_file

__all__ = ["HOOK_MODULE", "HOOK_PTH", "install_bytecode_hook"]

#: Sorts before the ``.pth`` files of installed distributions, which site.py processes
#: in name order, so their modules' bytecode is written by the hook too.
HOOK_PTH = "00-wsenv-bytecode.pth"
HOOK_MODULE = "_wsenv_bytecode"

_SOURCE = '''\
"""Installed by pytest-wsenv: bytecode caches are written whole or not at all."""
import sys


def _install():
    external = sys.modules.get("_frozen_importlib_external")
    original = getattr(external, "_write_atomic", None)
    if original is None or getattr(original, "wsenv", False):
        return
    _os = external._os

    def _write_atomic(path, data, mode=0o666):
        path_tmp = "{}.{}".format(path, id(path))
        fd = _os.open(path_tmp, _os.O_EXCL | _os.O_CREAT | _os.O_WRONLY, mode & 0o666)
        try:
            try:
                view = memoryview(data)
                while view:
                    written = _os.write(fd, view)
                    if written <= 0:
                        raise OSError("short write of " + path_tmp)
                    view = view[written:]
            finally:
                _os.close(fd)
            _os.replace(path_tmp, path)
            _private(external._path_split(path)[0])
        except OSError:
            try:
                _os.unlink(path_tmp)
            except OSError:
                pass
            raise

    def _private(folder):
        # __pycache__ was made with the umask: never writable by the group or others
        info = _os.stat(folder)
        if info.st_mode & 0o022 and info.st_uid == getattr(_os, "getuid", lambda: -1)():
            _os.chmod(folder, info.st_mode & 0o7755)

    _write_atomic.wsenv = True
    external._write_atomic = _write_atomic


_install()
'''


def install_bytecode_hook(site_packages: Path) -> None:
    """Write the hook module and its ``.pth`` file into ``site_packages``."""
    for name, text in ((f"{HOOK_MODULE}.py", _SOURCE), (HOOK_PTH, f"import {HOOK_MODULE}\n")):
        write_file(site_packages / name, text)
