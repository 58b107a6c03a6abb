"""Env keys: exactly the inputs that decide an env's contents, and readable diffs."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from pytest_wsenv.envs.interpreters import Interpreter, find_interpreter
from pytest_wsenv.envs.manager import EnvManager
from pytest_wsenv.envs.spec import EnvSpec, diff, env_name, member_fingerprint
from pytest_wsenv.lock import Artifact, Closure, Lock, Pin
from pytest_wsenv.target import Target
from pytest_wsenv.workspace import Workspace

from .conftest import MakeWorkspace
from .support.workspaces import uv_lock
from .test_env_manager import BIRD, FILES


def pin(name: str, version: str, *, hash_: str = "") -> Pin:
    digest = hash_ or f"sha256:{name}{version}".ljust(71, "0")
    wheel = Artifact(url=None, path=None, hash=digest, filename=f"{name}-{version}.whl")
    return Pin(name, version, "registry", "https://pypi.org/simple", (wheel,), None, False, False)


def member_pin(name: str) -> Pin:
    return Pin(name, None, "editable", f"packages/{name}", (), None, True, True)


@pytest.fixture(scope="module")
def interp() -> Interpreter:
    return find_interpreter(None)


def spec(interp: Interpreter, pins: list[Pin], **changes: Any) -> EnvSpec:
    base = EnvSpec(
        label="bird-feeder+torch",
        target=Target(packages=("bird-feeder",), extras=("torch",)),
        interpreter=interp,
        closure=Closure(tuple(sorted(pins, key=lambda p: p.name))),
        members=(("bird-feeder", "a" * 64),),
        backend="uv",
        backend_version="uv 0.13.8",
        workspace_root="/ws",
    )
    return dataclasses.replace(base, **changes) if changes else base


def test_key_is_stable_and_the_name_is_readable(interp: Interpreter) -> None:
    pins = [pin("tqdm", "4.66.1"), member_pin("bird-feeder")]
    one, two = spec(interp, pins), spec(interp, list(reversed(pins)))
    assert one.key == two.key
    assert re.fullmatch(r"[0-9a-f]{64}", one.key)
    assert one.name == f"bird-feeder+torch-py{interp.short_version}-{one.key[:10]}"
    assert one.short_name == f"bird-feeder+torch-py{interp.short_version}"
    assert env_name("a/b c", "3.12", one.key).startswith("a_b_c-py3.12-")
    long = env_name("+".join(f"member-{i}" for i in range(100)), "3.12", one.key)
    assert len(long) < 120 and long.endswith(f"-py3.12-{one.key[:10]}")


def test_every_input_changes_the_key(interp: Interpreter) -> None:
    base = spec(interp, [pin("tqdm", "4.66.1")])
    newer_python = dataclasses.replace(interp, version="3.99.1")
    variants = [
        spec(interp, [pin("tqdm", "4.66.4")]),
        spec(interp, [pin("tqdm", "4.66.1", hash_="sha256:" + "f" * 64)]),
        spec(interp, [pin("tqdm", "4.66.1"), pin("colorama", "0.4.6")]),
        spec(interp, [pin("tqdm", "4.66.1")], members=(("bird-feeder", "b" * 64),)),
        spec(interp, [pin("tqdm", "4.66.1")], backend="pip", backend_version="pip 24.0"),
        spec(interp, [pin("tqdm", "4.66.1")], backend_version="uv 0.13.9"),
        spec(interp, [pin("tqdm", "4.66.1")], interpreter=newer_python),
        spec(interp, [pin("tqdm", "4.66.1")], runner_pytest="9.2.0"),
        spec(interp, [pin("tqdm", "4.66.1")], with_requirements=("rich",)),
        spec(interp, [pin("tqdm", "4.66.1")], no_install=("tqdm",)),
        spec(interp, [pin("tqdm", "4.66.1")], target=Target(packages=("bird-feeder",))),
        spec(interp, [pin("tqdm", "4.66.1")], format=999),
    ]
    keys = {v.key for v in variants}
    assert base.key not in keys
    assert len(keys) == len(variants)


def test_interpreter_path_is_not_part_of_the_key(interp: Interpreter) -> None:
    elsewhere = dataclasses.replace(interp, executable=Path("/elsewhere/python3"))
    pins = [pin("tqdm", "4.66.1")]
    assert spec(interp, pins).key == spec(interp, pins, interpreter=elsewhere).key


def test_workspace_root_counts_only_with_editables(interp: Interpreter) -> None:
    third_party = [pin("tqdm", "4.66.1")]
    assert spec(interp, third_party).key == spec(interp, third_party, workspace_root="/moved").key
    with_member = [*third_party, member_pin("bird-feeder")]
    assert spec(interp, with_member).key != spec(interp, with_member, workspace_root="/moved").key


def test_diff_reads_like_tox(interp: Interpreter) -> None:
    old = spec(interp, [pin("tqdm", "4.66.1"), pin("gone", "1.0")])
    new = spec(
        interp,
        [pin("tqdm", "4.66.4"), pin("fresh", "2.0")],
        members=(("bird-feeder", "a" * 64), ("seeds", "c" * 64)),
        interpreter=dataclasses.replace(interp, version="3.12.3"),
    )
    old_inputs = old.inputs()
    old_inputs["python"]["version"] = "3.12.1"
    reasons = diff(old_inputs, new.inputs())
    assert "tqdm 4.66.1 -> 4.66.4" in reasons
    assert "fresh 2.0 added" in reasons
    assert "gone 1.0 removed" in reasons
    assert "member 'seeds' added" in reasons
    assert "python 3.12.1 -> 3.12.3" in reasons
    assert diff(old.inputs(), old.inputs()) == ()


def test_diff_names_member_edits_hash_changes_and_tooling(interp: Interpreter) -> None:
    old = spec(interp, [pin("tqdm", "4.66.1")])
    new = spec(
        interp,
        [pin("tqdm", "4.66.1", hash_="sha256:" + "e" * 64)],
        members=(("bird-feeder", "d" * 64),),
        backend_version="uv 0.14.0",
        runner_pytest="9.2.0",
        with_requirements=("rich",),
    )
    reasons = diff(old.inputs(), new.inputs())
    assert "tqdm hashes changed" in reasons
    assert "member 'bird-feeder' pyproject.toml changed" in reasons
    assert "backend uv uv 0.13.8 -> uv uv 0.14.0" in reasons
    assert "runner pytest none -> 9.2.0" in reasons
    assert "with layer: rich added" in reasons


def test_diff_of_garbage_is_still_a_reason(interp: Interpreter) -> None:
    reasons = diff({"format": 1, "pins": "nonsense"}, spec(interp, []).inputs())
    assert reasons  # never a crash


def test_member_fingerprint_ignores_formatting_and_tool_config(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "seeds"\ndependencies = ["tinyleft"]\n')
    first = member_fingerprint(path)
    path.write_text(
        '# a comment\n[project]\nname   = "seeds"\ndependencies = [ "tinyleft" ]\n'
        "[tool.pytest.ini_options]\naddopts = '-q'\n[tool.ruff]\nline-length = 80\n"
    )
    assert member_fingerprint(path) == first
    path.write_text('[project]\nname = "seeds"\ndependencies = ["tinyleft>=2"]\n')
    assert member_fingerprint(path) != first
    path.write_text(
        '[project]\nname = "seeds"\ndependencies = ["tinyleft"]\n[tool.hatch.build]\nx = 1\n'
    )
    assert member_fingerprint(path) != first


@pytest.mark.uv
def test_key_ignores_what_the_target_does_not_install(
    make_workspace: MakeWorkspace, uv_bin: str, wheelhouse: Path, tmp_path: Path
) -> None:
    root = make_workspace(FILES)
    interp = find_interpreter(None)

    def spec_now() -> EnvSpec:
        workspace = Workspace.discover(root)
        manager = EnvManager(
            workspace,
            Lock.load(workspace.lock_path),
            cache_dir=tmp_path / "cache",
            backend="uv",
            log=lambda line: None,
        )
        return manager.spec_for(BIRD, interp)

    before = spec_now()
    lock_text = (root / "uv.lock").read_text()

    # an unrelated member gains a dependency: its pyproject and uv.lock change
    perch = root / "packages" / "perch" / "pyproject.toml"
    perch.write_text(
        perch.read_text().replace('["tiny-yaml-dist"]', '["tiny-yaml-dist", "tinyextra"]')
    )
    uv_lock(root, wheelhouse)
    assert (root / "uv.lock").read_text() != lock_text
    assert spec_now().key == before.key

    # reformatting a member the target installs, or editing its pytest settings: same key
    seeds = root / "packages" / "seeds" / "pyproject.toml"
    seeds.write_text(
        "# seeds\n" + seeds.read_text() + "\n[tool.pytest.ini_options]\naddopts = '-q'\n"
    )
    assert spec_now().key == before.key

    # its metadata changes: new key, and the diff says which member
    seeds.write_text(
        seeds.read_text().replace('version = "0.1.0"', 'version = "0.1.0"\ndescription = "x"')
    )
    edited = spec_now()
    assert edited.key != before.key
    assert diff(before.inputs(), edited.inputs()) == ("member 'seeds' pyproject.toml changed",)

    # a pin of the closure moves: new key, and the diff names the pin
    pyproject = root / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text() + '\n[tool.uv]\nconstraint-dependencies = ["tinyleft<2"]\n'
    )
    uv_lock(root, wheelhouse)
    bumped = spec_now()
    assert bumped.key != edited.key
    assert diff(edited.inputs(), bumped.inputs()) == ("tinyleft 2.0 -> 1.0",)
