"""Install plans from lock closures: requirement lines, editables, hashes, index settings."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from pytest_wsenv.envs.backends import IndexSettings, UvBackend
from pytest_wsenv.envs.interpreters import find_interpreter
from pytest_wsenv.envs.plan import index_settings, plan_for
from pytest_wsenv.errors import ConfigError
from pytest_wsenv.lock import Artifact, Closure, Lock, Pin
from pytest_wsenv.target import MarkerEnv, Target
from pytest_wsenv.workspace import Workspace

from .conftest import MakeWorkspace
from .support.workspaces import BUILD_SYSTEM, write_workspace

PYPI = "https://pypi.org/simple"
TORCH = "https://download.pytorch.org/whl/cpu"


def workspace(tmp_path: Path, uv_table: str = "") -> Workspace:
    write_workspace(
        tmp_path / "ws",
        {
            "pyproject.toml": f"""
                [tool.uv.workspace]
                members = ["packages/*"]
                {uv_table}
            """,
            "packages/alpha/pyproject.toml": """
                [project]
                name = "alpha"
                version = "0.1.0"
                {BUILD_SYSTEM}
            """.replace("{BUILD_SYSTEM}", BUILD_SYSTEM),
        },
    )
    return Workspace.discover(tmp_path / "ws")


def pin(
    name: str,
    version: str | None,
    kind: str,
    source: str,
    *,
    hashes: tuple[str, ...] = (),
    editable: bool = False,
    member: bool = False,
) -> Pin:
    wheels = tuple(
        Artifact(
            url=f"https://files.example/{name}-{version}-{i}-py3-none-any.whl",
            path=None,
            hash=h,
            filename=f"{name}-{version}-{i}-py3-none-any.whl",
        )
        for i, h in enumerate(hashes)
    )
    return Pin(
        name=name,
        version=version,
        source_kind=kind,  # type: ignore[arg-type]
        source=source,
        wheels=wheels,
        sdist=None,
        editable=editable,
        member=member,
    )


ALPHA = pin("alpha", "0.1.0", "editable", "packages/alpha", editable=True, member=True)
REQUESTS = pin("requests", "2.32.3", "registry", PYPI, hashes=("sha256:bb", "sha256:aa"))
TORCH_PIN = pin("torch", "2.3.0+cpu", "registry", TORCH, hashes=("sha256:cc",))


def test_registry_pins_carry_every_hash_and_members_are_editable(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    closure = Closure((ALPHA, REQUESTS, TORCH_PIN))
    plan = plan_for(closure, ws, offline=False, no_install=frozenset())
    assert plan.requirements == (
        "requests==2.32.3 --hash=sha256:aa --hash=sha256:bb",
        "torch==2.3.0+cpu --hash=sha256:cc",
    )
    assert plan.editables == (ws.root / "packages" / "alpha",)
    assert plan.require_hashes
    assert plan.origin == "uv.lock"
    # PyPI is the default index; another registry the lock used becomes an extra index
    assert plan.index == IndexSettings(extra_index_urls=(TORCH,))


def test_one_unhashed_pin_turns_hash_checking_off(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    git = pin("httpx", "0.28.1", "git", "https://github.com/encode/httpx?rev=master#abc123")
    plan = plan_for(Closure((REQUESTS, git)), ws, offline=True, no_install=frozenset())
    assert plan.requirements[1] == "httpx @ git+https://github.com/encode/httpx@abc123"
    assert not plan.require_hashes
    assert plan.index.offline
    only_members = plan_for(Closure((ALPHA,)), ws, offline=False, no_install=frozenset())
    assert not only_members.require_hashes
    assert only_members.requirements == ()


def test_local_registry_becomes_find_links_and_paths_are_absolute(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    local = Pin(
        name="tinyleft",
        version="1.0",
        source_kind="registry",
        source="wheels",
        wheels=(Artifact(None, "wheels/tinyleft-1.0-py3-none-any.whl", None, "x.whl"),),
        sdist=None,
        editable=False,
        member=False,
    )
    directory = pin("vendored", "1.0", "directory", "vendor/vendored")
    plan = plan_for(Closure((local, directory)), ws, offline=False, no_install=frozenset())
    assert plan.requirements == (
        "tinyleft==1.0",
        f"vendored @ {(ws.root / 'vendor' / 'vendored').as_uri()}",
    )
    assert plan.index.find_links == (str(ws.root / "wheels"),)
    assert not plan.require_hashes


def test_no_install_and_virtual_members_are_skipped(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    virtual = pin("root", None, "virtual", ".", member=True)
    closure = Closure((ALPHA, REQUESTS, virtual, TORCH_PIN))
    plan = plan_for(closure, ws, offline=False, no_install=frozenset({"Torch", "alpha"}))
    assert plan.requirements == ("requests==2.32.3 --hash=sha256:aa --hash=sha256:bb",)
    assert plan.editables == ()
    assert plan.index.extra_index_urls == ()  # torch's registry is not needed any more


def test_index_settings_from_tool_uv(tmp_path: Path) -> None:
    ws = workspace(
        tmp_path,
        """
        [tool.uv]
        extra-index-url = ["https://extra.example/simple"]
        find-links = ["wheels", "https://links.example/"]
        no-index = false

        [[tool.uv.index]]
        name = "mirror"
        url = "https://mirror.example/simple"
        default = true

        [[tool.uv.index]]
        name = "pytorch"
        url = "https://download.pytorch.org/whl/cpu/"
        explicit = true

        [[tool.uv.index]]
        name = "internal"
        url = "https://internal.example/simple"

        [[tool.uv.index]]
        name = "flat"
        url = "./flat-wheels"
        format = "flat"
        """,
    )
    assert index_settings(ws) == IndexSettings(
        index_url="https://mirror.example/simple",
        extra_index_urls=("https://extra.example/simple", "https://internal.example/simple"),
        find_links=(
            str(ws.root / "wheels"),
            "https://links.example/",
            str(ws.root / "flat-wheels"),
        ),
    )
    # the explicit index, and PyPI (not the default any more), only once the lock uses them
    used = index_settings(ws, (TORCH_PIN, REQUESTS), offline=True)
    assert used.extra_index_urls == (
        "https://extra.example/simple",
        "https://internal.example/simple",
        TORCH,
        PYPI,
    )
    assert used.offline


def test_legacy_index_url_and_no_index(tmp_path: Path) -> None:
    ws = workspace(
        tmp_path, '[tool.uv]\nindex-url = "https://legacy.example/simple"\nno-index = true'
    )
    settings = index_settings(ws)
    assert settings.index_url == "https://legacy.example/simple"
    assert settings.no_index


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("[tool.uv]\nfind-links = 3", "tool.uv.find-links must be a list of strings"),
        ("[tool.uv]\nno-index = 'yes'", "tool.uv.no-index must be true or false"),
        ("[[tool.uv.index]]\nname = 'x'", r"tool.uv.index\[0\].url is required"),
        ("[[tool.uv.index]]\nurl = 'https://x/simple'\ndefault = 1", r"index\[0\].default must"),
    ],
)
def test_bad_index_settings_name_the_key(tmp_path: Path, table: str, message: str) -> None:
    ws = workspace(tmp_path, table)
    with pytest.raises(ConfigError, match=message) as info:
        index_settings(ws)
    assert info.value.path == ws.root_pyproject


FILES = {
    "pyproject.toml": """
        [tool.uv.workspace]
        members = ["packages/*"]
    """,
    "packages/bird-feeder/pyproject.toml": """
        [project]
        name = "bird-feeder"
        version = "0.1.0"
        requires-python = ">=3.11"
        dependencies = ["tinyright", "tiny-yaml-dist", "pytest"]
        {BUILD_SYSTEM}
    """,
    "packages/bird-feeder/src/bird_feeder/__init__.py": "",
    "packages/seed/pyproject.toml": """
        [project]
        name = "seed"
        version = "0.2.0"
        requires-python = ">=3.11"
        dependencies = ["bird-feeder", "tinyleft<2"]
        [tool.uv.sources]
        bird-feeder = { workspace = true }
        {BUILD_SYSTEM}
    """,
    "packages/seed/src/seed/__init__.py": "",
}


EXPORT = ("--no-emit-workspace", "--package")


def _export(uv: str, root: Path, package: str) -> set[str]:
    out = subprocess.run(
        [uv, "export", "--frozen", "--no-hashes", "--no-header", "--no-annotate", *EXPORT, package],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    env = MarkerEnv.current().as_dict()
    lines = set()
    for line in out.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate(env):
            lines.add(f"{req.name}{req.specifier}")
    return lines


def test_plan_of_a_real_closure_matches_uv_export(
    make_workspace: MakeWorkspace, uv_bin: str, wheelhouse: Path
) -> None:
    root = make_workspace(FILES)
    ws = Workspace.discover(root)
    closure = Lock.load(ws.lock_path).closure(ws, Target(packages=("seed",)), MarkerEnv.current())
    plan = plan_for(closure, ws, offline=True, no_install=frozenset())
    assert set(plan.requirements) == _export(uv_bin, root, "seed")
    assert plan.editables == (root / "packages" / "bird-feeder", root / "packages" / "seed")
    assert plan.index.find_links == (str(wheelhouse),)
    assert not plan.require_hashes  # a find-links lock records no hashes

    skipped = plan_for(closure, ws, offline=True, no_install=frozenset({"tiny_yaml_dist"}))
    assert set(plan.requirements) - set(skipped.requirements) == {"tiny-yaml-dist==1.0"}


def _distributions(python: Path) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json; "
        "print(json.dumps({d.metadata['Name'].lower(): d.version for d in m.distributions()}))"
    )
    out = subprocess.run(
        [str(python), "-c", code], check=True, capture_output=True, text=True, cwd=python.parent
    ).stdout
    found: dict[str, str] = json.loads(out)
    return found


@pytest.mark.slow
def test_uv_backend_installs_what_uv_sync_installs(
    make_workspace: MakeWorkspace, uv_bin: str, tmp_path: Path
) -> None:
    root = make_workspace(FILES)
    ws = Workspace.discover(root)
    interpreter = find_interpreter(None)
    closure = Lock.load(ws.lock_path).closure(
        ws, Target(packages=("seed",)), interpreter.marker_env
    )
    plan = plan_for(closure, ws, offline=True, no_install=frozenset())
    backend = UvBackend(uv_bin)
    python = backend.create(interpreter, tmp_path / "ours", lambda line: None)
    backend.install(python, plan, lambda line: None)

    synced = tmp_path / "synced"
    python_arg = str(interpreter.executable)
    subprocess.run(
        [uv_bin, "sync", "--frozen", "--exact", "--package", "seed", "--python", python_arg],
        cwd=root,
        env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(synced)},
        check=True,
        capture_output=True,
    )
    ours = _distributions(python)
    assert ours == _distributions(synced / "bin" / "python")
    assert ours["tinyleft"] == "1.0"
    assert {"seed", "bird-feeder", "pytest"} <= ours.keys()
