"""``pytest-wsenv envs --verify``: is every installed file still what was installed?

Each distribution's ``RECORD`` lists its files with a hash and a size; every listed file
inside ``site-packages`` must exist with that hash (files outside it, such as console
scripts, are rewritten when an env is made relocatable and are not compared). Every
bytecode file under ``site-packages`` must be whole: for the running Python's own
bytecode format it must unmarshal, for another one its 16-byte header must be there.
This reads every installed file once; it is a check to run on demand, never on the
path of a test session.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib.util
import marshal
import os
import sys
from pathlib import Path

__all__ = ["verify_env"]

#: Problems reported per env before the rest is summed up.
SHOWN = 3
_HEADER = 16


def verify_env(site_packages: Path) -> list[str]:
    """What is wrong with the files of the env whose purelib is ``site_packages``
    (empty when nothing is); paths are relative to ``site_packages``."""
    problems: list[str] = []
    try:
        entries = sorted(os.listdir(site_packages))
    except OSError as exc:
        return [f"site-packages is unreadable ({exc.strerror or exc})"]
    for entry in entries:
        if entry.endswith(".dist-info"):
            problems += _check_record(site_packages, entry)
    problems += _check_bytecode(site_packages)
    return problems


def _check_record(site: Path, dist_info: str) -> list[str]:
    record = site / dist_info / "RECORD"
    try:
        text = record.read_text(encoding="utf-8")
    except OSError:
        return [f"{dist_info}/RECORD is missing"]
    problems: list[str] = []
    root = os.path.realpath(site)
    for row in csv.reader(text.splitlines()):
        if len(row) < 2 or not row[1] or "=" not in row[1]:
            continue  # RECORD itself, and bytecode listed without a hash
        path = os.path.realpath(os.path.join(site, row[0]))
        if not path.startswith(root + os.sep):
            continue  # scripts and data outside site-packages: see the module docstring
        algorithm, _, expected = row[1].partition("=")
        try:
            got = _digest(path, algorithm)
        except FileNotFoundError:
            problems.append(f"{row[0]} is missing")
            continue
        except (OSError, ValueError) as exc:
            problems.append(f"{row[0]} cannot be checked ({exc})")
            continue
        if got != expected.rstrip("="):
            problems.append(f"{row[0]} does not match its RECORD hash")
    return problems


def _digest(path: str, algorithm: str) -> str:
    """The RECORD spelling of ``path``'s hash: urlsafe base64 without padding."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()


def _check_bytecode(site: Path) -> list[str]:
    problems: list[str] = []
    own_tag = f".{sys.implementation.cache_tag}."
    magic = importlib.util.MAGIC_NUMBER
    for folder, _dirs, files in os.walk(site):
        if os.path.basename(folder) != "__pycache__":
            continue
        for name in files:
            if not name.endswith(".pyc"):
                continue
            path = os.path.join(folder, name)
            try:
                with open(path, "rb") as handle:
                    data = handle.read()
            except OSError as exc:
                problems.append(f"{os.path.relpath(path, site)} is unreadable ({exc.strerror})")
                continue
            whole = len(data) >= _HEADER
            if whole and own_tag in name and data[:4] == magic:
                try:
                    marshal.loads(data[_HEADER:])
                except (EOFError, ValueError, TypeError):
                    whole = False
            if not whole:
                problems.append(f"{os.path.relpath(path, site)} is truncated")
    return problems
