"""Repository-wide test setup: keep every test run offline and self-contained.

Environment variables set here apply to the whole test session (and so to every pip,
uv, virtualenv and pytest process the tests start): no package index, no interpreter
downloads, caches inside the session's temporary directory.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

collect_ignore = ["examples", "bench"]

_OFFLINE = {
    "UV_OFFLINE": "1",
    "UV_NO_INDEX": "1",
    "UV_PYTHON_DOWNLOADS": "never",
    "UV_NO_CONFIG": "1",
    "PIP_NO_INDEX": "1",
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    "PIP_CONFIG_FILE": os.devnull,
    "VIRTUALENV_NO_DOWNLOAD": "1",
    "VIRTUALENV_NO_PERIODIC_UPDATE": "1",
}


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):  # an xdist worker inherits the controller's env
        return
    scratch = tempfile.mkdtemp(prefix="wsenv-tests-")
    config.add_cleanup(lambda: shutil.rmtree(scratch, ignore_errors=True))
    os.environ.update(_OFFLINE)
    os.environ.setdefault("UV_CACHE_DIR", os.path.join(scratch, "uv-cache"))
    os.environ.setdefault("PIP_CACHE_DIR", os.path.join(scratch, "pip-cache"))
    for name in (
        "PYTEST_ADDOPTS",
        "VIRTUAL_ENV",
        "PYTHONPATH",
        *tuple(k for k in os.environ if k.startswith("PYTEST_WSENV_")),
    ):
        os.environ.pop(name, None)
