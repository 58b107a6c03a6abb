"""The workspace the import-audit tests share, and a way to make its wheels importable.

``AVIARY`` is a virtual workspace of three members built from the test wheelhouse
(see ``tests/conftest.py``), with one import of each kind the audit must tell apart:

- alpha: declares tinyright and tiny-yaml-dist (imports as ``tinyyaml``), extra ``x`` =
  tinyextra. Its source imports ``tinyyaml`` (declared, name differs), ``tinyextra`` under
  ``TYPE_CHECKING`` and lazily inside a function (its own optional dependency); its test
  imports tinyright (declared), tinyleft (only through tinyright: transitive) and, inside a
  test, tinyextra (its extra ``x``, not requested: a leak unless ``x`` is requested).
- beta: declares nothing. Its test imports tinyright (declared by the sibling alpha),
  ``alpha`` (a sibling member it does not depend on) and tinyextra inside
  ``try/except ImportError`` (not a leak).
- gamma: declares nothing. Its test calls ``pytest.importorskip("tinyyaml")`` (skips in
  isolation) and imports tinyleft, which ``[tool.wsenv.check-imports]`` suppresses.

``NAMESPACED`` has the shape of opentelemetry-python: members sharing the namespace ``nsw``
(no ``__init__.py``), one of them (nsw-sdk) with only an ``__init__.pyi`` at ``nsw/sdk``,
one (nsw-http) with PEP 420 levels down to ``nsw/exporter/http/transport``, a test-utility
member providing ``nsw.test``, and nsw-exporter, which depends on nsw-api only and whose
tests import the others. nsw-collide has two local ``tests`` packages that collide.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from pathlib import Path

__all__ = ["AVIARY", "NAMESPACED", "install_wheels"]

_DEV = '[dependency-groups]\ndev = ["pytest"]\n'

AVIARY = {
    "pyproject.toml": """\
        [tool.uv.workspace]
        members = ["packages/*"]

        [tool.wsenv.check-imports]
        ignore = { gamma = [{ name = "tinyleft", reason = "fixture data only" }] }
        """,
    "packages/alpha/pyproject.toml": f"""\
[project]
name = "alpha"
version = "0.1"
dependencies = ["tinyright", "tiny-yaml-dist"]

[project.optional-dependencies]
x = ["tinyextra"]

{_DEV}
{{BUILD_SYSTEM}}""",
    "packages/alpha/src/alpha/__init__.py": """\
        from typing import TYPE_CHECKING

        import tinyyaml

        if TYPE_CHECKING:
            import tinyextra


        def fancy():
            import tinyextra

            return tinyextra, tinyyaml
        """,
    "packages/alpha/tests/test_alpha.py": """\
        import tinyright
        import tinyleft


        def test_extra():
            import tinyextra

            assert tinyextra and tinyright and tinyleft
        """,
    "packages/beta/pyproject.toml": f"""\
[project]
name = "beta"
version = "0.1"
dependencies = []

{_DEV}
{{BUILD_SYSTEM}}""",
    "packages/beta/src/beta/__init__.py": "X = 1\n",
    "packages/beta/tests/test_beta.py": """\
        import tinyright
        import alpha

        try:
            import tinyextra
        except ImportError:
            tinyextra = None


        def test_beta():
            assert tinyright and alpha
        """,
    "packages/gamma/pyproject.toml": f"""\
[project]
name = "gamma"
version = "0.1"
dependencies = []

{_DEV}
{{BUILD_SYSTEM}}""",
    "packages/gamma/src/gamma/__init__.py": "Y = 2\n",
    "packages/gamma/tests/test_gamma.py": """\
        import pytest

        tinyyaml = pytest.importorskip("tinyyaml")
        import tinyleft


        def test_gamma():
            assert tinyyaml.LOADED and tinyleft
        """,
}


def _member(name: str, deps: str = "", sources: str = "") -> str:
    uv = f"\n[tool.uv.sources]\n{sources}\n" if sources else ""
    return f"""\
[project]
name = "{name}"
version = "1.0"
dependencies = [{deps}]
{uv}
{_DEV}
{{BUILD_SYSTEM}}"""


NAMESPACED = {
    "pyproject.toml": """\
        [tool.uv.workspace]
        members = ["packages/*"]
        """,
    "packages/nsw-api/pyproject.toml": _member("nsw-api"),
    "packages/nsw-api/src/nsw/api/__init__.py": "VALUE = 1\n",
    "packages/nsw-api/tests/test_api.py": """\
        from nsw import api


        def test_api():
            assert api.VALUE == 1
        """,
    "packages/nsw-sdk/pyproject.toml": _member(
        "nsw-sdk", '"nsw-api"', "nsw-api = { workspace = true }"
    ),
    "packages/nsw-sdk/src/nsw/sdk/__init__.pyi": "",
    "packages/nsw-sdk/src/nsw/sdk/trace/__init__.py": "from nsw.api import VALUE\n",
    "packages/nsw-http/pyproject.toml": _member("nsw-http"),
    "packages/nsw-http/src/nsw/exporter/http/transport/__init__.py": "SENT = []\n",
    "packages/nsw-testutil/pyproject.toml": _member("nsw-testutil"),
    "packages/nsw-testutil/src/nsw/test/__init__.py": "HELPER = True\n",
    "packages/nsw-exporter/pyproject.toml": _member(
        "nsw-exporter", '"nsw-api"', "nsw-api = { workspace = true }"
    ),
    "packages/nsw-exporter/src/nsw/exporter/otlp/__init__.py": "from nsw import api\n",
    "packages/nsw-exporter/tests/test_exporter.py": """\
        import nsw.api


        def test_api():
            assert nsw.api.VALUE == 1


        def test_sdk():
            import nsw.sdk.trace


        def test_http():
            from nsw.exporter.http import transport


        def test_util():
            from nsw.test import HELPER
        """,
    "packages/nsw-collide/pyproject.toml": _member("nsw-collide"),
    "packages/nsw-collide/src/nsw/collide/__init__.py": "",
    "packages/nsw-collide/integration/tests/__init__.py": "",
    "packages/nsw-collide/integration/tests/test_two.py": "def test_two():\n    pass\n",
    "packages/nsw-collide/tests/__init__.py": "",
    "packages/nsw-collide/tests/test_one.py": "def test_one():\n    pass\n",
}


def install_wheels(wheelhouse: Path, dest: Path, names: Iterable[str]) -> Path:
    """Install pure-Python wheels of ``names`` into ``dest`` by unpacking them (what an
    installer does for a purelib wheel without scripts); returns ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    wanted = {n.replace("-", "_") for n in names}
    for wheel in sorted(wheelhouse.glob("*.whl")):
        name, version = wheel.name.split("-")[:2]
        if name in wanted and not (name == "tinyleft" and version != "1.0"):
            with zipfile.ZipFile(wheel) as archive:
                archive.extractall(dest)
    return dest
