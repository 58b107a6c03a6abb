"""Layers outside the lock: requirement reading, attaching, and what a member env then sees."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pytest_wsenv.envs.backends import Backend, IndexSettings, InstallPlan, select_backend
from pytest_wsenv.envs.backends._process import installer_env
from pytest_wsenv.envs.interpreters import Interpreter, find_interpreter
from pytest_wsenv.envs.layers import (
    LAYERS_PTH,
    attach_layers,
    attached_layers,
    layer_plan,
    parent_pytest_version,
    runner_requirements,
    site_packages,
    with_requirements,
)
from pytest_wsenv.errors import ConfigError

from .support.workspaces import BUILD_SYSTEM, write_workspace


def test_runner_requirements_pin_the_parent_pytest() -> None:
    assert runner_requirements("9.2.0") == ("pytest==9.2.0",)
    assert runner_requirements() == (f"pytest=={pytest.__version__}",)
    assert parent_pytest_version() == pytest.__version__


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_with_requirements_reads_files_like_pip(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    member = root / "packages" / "bird"
    write(
        member / "test-requirements.txt",
        "# test tools\n"
        "tinyleft==1.0  # pinned\n"
        "\n"
        "tiny-extra \\\n"
        "    >=1.0\n"
        "-r ../../common.txt\n"
        "-e packages/other\n"
        "--editable=packages/bird\n"
        "./wheels/tinyright-1.0-py3-none-any.whl\n"
        "colorama; sys_platform == 'win32'\n"
        "./lib/proto ; platform_python_implementation != 'PyPy'\n"
        "./lib/http[urllib3] ; platform_python_implementation != 'PyPy'\n",
    )
    write(root / "common.txt", "pytest-timeout>=2\n--requirement nested/more.txt\n")
    write(root / "nested" / "more.txt", "tinyleft==1.0\n")
    found = with_requirements(
        ["tiny-yaml-dist"],
        ["{member_dir}/test-requirements.txt"],
        member,
        base_dir=root,
        skip_dirs=[member],
    )
    assert found == (
        "tiny-yaml-dist",
        "tinyleft==1.0",
        "tiny-extra>=1.0",
        "pytest-timeout>=2",
        f"-e {root / 'packages' / 'other'}",
        str(root / "wheels" / "tinyright-1.0-py3-none-any.whl"),
        'colorama; sys_platform == "win32"',
        f'{root / "lib" / "proto"} ; platform_python_implementation != "PyPy"',
        f'{root / "lib" / "http"}[urllib3] ; platform_python_implementation != "PyPy"',
    )


def test_with_requirements_paths_default_to_the_files_directory(tmp_path: Path) -> None:
    member = tmp_path / "m"
    write(member / "reqs" / "test.txt", "-e ../lib\n")
    assert with_requirements((), ["reqs/test.txt"], member) == (f"-e {tmp_path / 'm' / 'lib'}",)
    assert with_requirements(("tinyleft",), (), member) == ("tinyleft",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tinyleft==\n", r"reqs\.txt:1: invalid requirement 'tinyleft=='"),
        ("ok\n--index-url https://x/simple\n", r"reqs\.txt:2: option --index-url is not supported"),
        ("-c constraints.txt\n", "option -c is not supported"),
        ("tinyleft==1.0 --hash=sha256:00\n", "per-requirement option --hash is not supported"),
        ("-r reqs.txt\n", "requirements files include each other"),
        ("-r missing.txt\n", "requirements file not found"),
        ("./lib ; python_version >>> '3'\n", r"reqs\.txt:1: invalid marker"),
    ],
)
def test_bad_requirement_files_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    write(tmp_path / "reqs.txt", text)
    with pytest.raises(ConfigError, match=message):
        with_requirements((), [tmp_path / "reqs.txt"], tmp_path)


def test_bad_with_requirement_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--ws-with: invalid requirement 'not a req'"):
        with_requirements(("not a req",), (), tmp_path)


def test_layer_plan_splits_editables() -> None:
    index = IndexSettings(no_index=True)
    plan = layer_plan(["-e /src/tool", "pytest==9.2.0", "pluggy==1.7.0"], index)
    assert plan == InstallPlan(
        requirements=("pytest==9.2.0", "pluggy==1.7.0"),
        editables=(Path("/src/tool"),),
        index=index,
        origin="--ws-with",
    )


# --- real environments -------------------------------------------------------------


@pytest.fixture(scope="module")
def backend() -> Backend:
    return select_backend("auto")  # uv when installed (fast), else pip


@pytest.fixture(scope="module")
def interpreter() -> Interpreter:
    return find_interpreter(None)


def offline(wheelhouse: Path) -> IndexSettings:
    return IndexSettings(find_links=(str(wheelhouse),), no_index=True, offline=True)


def project(root: Path, name: str, body: str) -> Path:
    module = name.replace("-", "_")
    write_workspace(
        root,
        {
            "pyproject.toml": f'[project]\nname = "{name}"\nversion = "0.1.0"\n{BUILD_SYSTEM}',
            f"src/{module}/__init__.py": body,
        },
    )
    return root


def build(backend: Backend, interpreter: Interpreter, dest: Path, plan: InstallPlan) -> Path:
    python = backend.create(interpreter, dest, lambda line: None)
    backend.install(python, plan, lambda line: None)
    return python


def run(python: Path, code: str) -> str:
    proc = subprocess.run(
        [str(python), "-c", code],
        check=False,
        capture_output=True,
        text=True,
        env=installer_env(),
        cwd=python.parent,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


PROBE = """
import importlib.metadata as md, json, sys, sysconfig
import tinyleft, tinyextra, layered, bird
print(json.dumps({
    "tinyleft": tinyleft.VERSION,
    "tinyleft_meta": md.version("tinyleft"),
    "tinyextra": tinyextra.__file__,
    "layered": layered.__file__,
    "path": sys.path,
    "purelib": sysconfig.get_paths()["purelib"],
}))
"""


@pytest.mark.slow
def test_layer_is_importable_but_member_pins_win(
    backend: Backend, interpreter: Interpreter, wheelhouse: Path, tmp_path: Path
) -> None:
    bird = project(tmp_path / "bird", "bird", "")
    layered = project(tmp_path / "layered", "layered", "")
    member = build(
        backend,
        interpreter,
        tmp_path / "member",
        InstallPlan(("tinyleft==1.0",), (bird,), offline(wheelhouse)),
    )
    layer = build(
        backend,
        interpreter,
        tmp_path / "layer",
        InstallPlan(("tinyleft==2.0", "tinyextra==1.0"), (layered,), offline(wheelhouse)),
    )
    member_sp, layer_sp = site_packages(member), site_packages(layer)
    pth = attach_layers(member, [layer_sp])
    assert pth == member_sp / LAYERS_PTH
    assert sorted(p.name for p in member_sp.glob("*.pth"))[-1] == LAYERS_PTH
    assert attached_layers(member_sp) == [layer_sp.absolute()]  # read back, for forking

    seen = json.loads(run(member, PROBE))
    assert Path(seen["purelib"]) == member_sp  # site_packages() without starting python
    assert (seen["tinyleft"], seen["tinyleft_meta"]) == ("1.0", "1.0")  # the member's pin wins
    assert Path(seen["tinyextra"]).is_relative_to(layer_sp)
    # the layer's own .pth files are processed: its editable project is importable
    assert Path(seen["layered"]) == layered / "src" / "layered" / "__init__.py"
    path = [Path(p) for p in seen["path"]]
    assert path.index(member_sp) < path.index(bird / "src") < path.index(layer_sp)
    assert path.index(layer_sp) < path.index(layered / "src")

    attach_layers(member, [])  # detaching removes the layer again
    assert not pth.exists()
    assert attached_layers(member_sp) == []
    run(member, "import tinyleft\ntry:\n import tinyextra\nexcept ImportError: pass\nelse: 1/0")


@pytest.mark.slow
def test_runner_layer_runs_pytest_in_a_member_env_without_it(
    backend: Backend, interpreter: Interpreter, wheelhouse: Path, tmp_path: Path
) -> None:
    version = next(wheelhouse.glob("pytest-*.whl")).name.split("-")[1]
    index = offline(wheelhouse)
    pins = backend.resolve(interpreter, runner_requirements(version), index)
    assert f"pytest=={version}" in pins
    assert {"pluggy", "iniconfig", "packaging"} <= {p.split("==")[0] for p in pins}
    runner = build(backend, interpreter, tmp_path / "runner", layer_plan(pins, index))
    member = build(
        backend, interpreter, tmp_path / "member", InstallPlan(("tinyleft==1.0",), index=index)
    )
    attach_layers(member, [site_packages(runner)])
    write(tmp_path / "tests" / "test_it.py", "import tinyleft\n\ndef test_it():\n    pass\n")
    proc = subprocess.run(
        [str(member), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "tests")],
        check=False,
        capture_output=True,
        text=True,
        env=installer_env(),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout


def test_layer_plan_reads_editables_written_as_file_urls() -> None:
    """uv writes editables found through [tool.uv.sources] as file: URLs."""
    index = IndexSettings()
    plan = layer_plan(
        [
            "-e /src/tool",
            "-e file:///src/with%20space/member",
            "-e git+https://example.invalid/repo@abc#egg=repo",
            "pytest==9.2.0",
        ],
        index,
    )
    assert plan.editables == (Path("/src/tool"), Path("/src/with space/member"))
    assert plan.requirements == (
        "-e git+https://example.invalid/repo@abc#egg=repo",
        "pytest==9.2.0",
    )
    assert all(path.is_absolute() for path in plan.editables)
