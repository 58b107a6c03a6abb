"""A PEP 517/660 build backend small enough to live inside a test workspace member.

``make_workspace`` copies this file to ``<member>/_build/tiny_backend.py`` next to a
generated ``_build/METADATA`` for every member whose pyproject.toml uses
``BUILD_SYSTEM``; it needs nothing but the standard library, so pip and uv can build
and install members offline on any supported Python.
"""

import base64
import hashlib
import os
import re
import tarfile
import zipfile

_HERE = os.path.dirname(os.path.abspath(__file__))
_PROJECT = os.path.dirname(_HERE)


def _metadata():
    with open(os.path.join(_HERE, "METADATA"), encoding="utf-8") as f:
        text = f.read()
    fields = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
    stem = re.sub(r"[-_.]+", "_", fields["Name"]).lower()
    return text, stem, fields["Version"]


def _source_root():
    src = os.path.join(_PROJECT, "src")
    return src if os.path.isdir(src) else _PROJECT


def _wheel(directory, files):
    text, stem, version = _metadata()
    dist_info = f"{stem}-{version}.dist-info"
    files = dict(files)
    files[f"{dist_info}/METADATA"] = text.encode()
    files[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: tiny_backend\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
        record.append(f"{name},sha256={digest.decode()},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    filename = f"{stem}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(directory, filename), "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return filename


def _prepare(metadata_directory):
    text, stem, version = _metadata()
    dist_info = f"{stem}-{version}.dist-info"
    os.makedirs(os.path.join(metadata_directory, dist_info), exist_ok=True)
    with open(os.path.join(metadata_directory, dist_info, "METADATA"), "w") as f:
        f.write(text)
    return dist_info


def get_requires_for_build_wheel(config_settings=None):
    return []


get_requires_for_build_editable = get_requires_for_build_sdist = get_requires_for_build_wheel


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    return _prepare(metadata_directory)


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    root = _source_root()
    files = {}
    for entry in sorted(os.listdir(root)):
        package = os.path.join(root, entry)
        if not os.path.isfile(os.path.join(package, "__init__.py")) or entry == "tests":
            continue
        for dirpath, dirnames, filenames in os.walk(package):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for filename in filenames:
                if filename.endswith(".py"):
                    path = os.path.join(dirpath, filename)
                    with open(path, "rb") as f:
                        files[os.path.relpath(path, root).replace(os.sep, "/")] = f.read()
    return _wheel(wheel_directory, files)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    _, stem, _ = _metadata()
    return _wheel(wheel_directory, {f"_{stem}_editable.pth": (_source_root() + "\n").encode()})


def build_sdist(sdist_directory, config_settings=None):
    _text, stem, version = _metadata()
    base = f"{stem}-{version}"
    filename = f"{base}.tar.gz"
    with tarfile.open(os.path.join(sdist_directory, filename), "w:gz") as tf:
        for entry in os.listdir(_PROJECT):
            if entry.startswith(".") or entry in {"__pycache__"}:
                continue
            tf.add(os.path.join(_PROJECT, entry), arcname=f"{base}/{entry}")
        pkg_info = os.path.join(_HERE, "METADATA")
        tf.add(pkg_info, arcname=f"{base}/PKG-INFO")
    return filename
