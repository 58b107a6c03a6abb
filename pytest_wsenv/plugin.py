"""pytest entry point (``pytest11``): options and hook registration only.

With no ``--ws-*`` option and no ``wsenv_*`` ini setting in use this module does
nothing beyond adding its options.
"""

from __future__ import annotations

import pytest

__all__ = ["pytest_addoption"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("wsenv", "isolated uv workspace member environments (pytest-wsenv)")
