"""Keep pytest's rootdir and ini file when a ``--ws-*`` option's value is an existing path.

pytest chooses the rootdir and ini file from its first parse of the command line, before
plugins installed through entry points (this one) have added their options. At that time
``--ws-cache-dir DIR`` is an unknown option followed by a positional ``DIR``; once ``DIR``
exists, pytest takes it for a test path, the rootdir moves there and the workspace's ini
file (with its ``wsenv_*`` keys and ``addopts``) is dropped. The same holds for every
``--ws-*`` option that takes a value (``--ws-package NAME`` run next to a directory
``NAME``, ``--ws-python /path/to/python``).

:func:`recover_setup` runs first in ``pytest_load_initial_conftests``, once the options are
known: it decides the setup again from the real collection arguments and, when pytest's
choice differs, puts the right rootdir, ini file and ini values in place, and adds the
right ini file's ``addopts`` (those of a wrongly chosen ini file, which has rarely any,
stay). It uses pytest's own ``determine_setup`` and touches the few
private attributes that hold its result; pytest 8.0 to 9 are supported.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

import pytest

__all__ = ["recover_setup"]


def recover_setup(config: pytest.Config, parser: pytest.Parser, args: list[str]) -> bool:
    """Put the setup that ``args`` really select in place; True when it was wrong."""
    if not any(a.startswith("--ws-") and "=" not in a for a in args):
        return False
    try:
        from _pytest.config.findpaths import determine_setup
    except ImportError:  # pragma: no cover - a pytest that moved it
        return False
    namespace = parser.parse_known_args(args, namespace=copy.copy(config.option))
    kwargs: dict[str, Any] = {
        "inifile": namespace.inifilename,
        "args": [str(a) for a in namespace.file_or_dir],
        "rootdir_cmd_arg": namespace.rootdir or None,
        "invocation_dir": config.invocation_params.dir,
    }
    if "override_ini" in inspect.signature(determine_setup).parameters:
        kwargs["override_ini"] = namespace.override_ini
    rootpath, inipath, inicfg = determine_setup(**kwargs)[:3]
    if (rootpath, inipath) == (config.rootpath, config.inipath):
        return False
    held: Any = config  # the private attributes that hold pytest's choice
    held._rootpath = rootpath
    held._inipath = inipath
    if hasattr(held, "_inicfg"):
        held._inicfg = inicfg
    else:  # pragma: no cover - pytest < 8.4 keeps a plain attribute
        held.inicfg = inicfg
    held._inicache.clear()
    parser.extra_info["rootdir"] = str(rootpath)
    parser.extra_info["inifile"] = str(inipath)
    addopts = config.getini("addopts")
    if addopts:
        args[:0] = [str(a) for a in addopts]
    fresh = parser.parse_known_args(args, namespace=copy.copy(config.option))
    if fresh.confcutdir is None:
        fresh.confcutdir = str(inipath.parent if inipath is not None else rootpath)
    config.known_args_namespace = fresh
    return True
