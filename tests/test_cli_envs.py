"""``pytest-wsenv envs`` and ``pytest-wsenv prune`` against a real cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_wsenv.cli import main
from pytest_wsenv.envs import cache

from .conftest import MakeWorkspace
from .support.workspaces import uv_lock
from .test_env_manager import FILES, Engine


def _envs(capsys: pytest.CaptureFixture[str], engine: Engine) -> dict[str, dict[str, object]]:
    code = main(["-C", str(engine.root), "envs", "--json", "--cache-dir", str(engine.cache_dir)])
    assert code == 0
    document = json.loads(capsys.readouterr().out)
    assert document["schema"] == 1
    assert document["cache_dir"] == str(engine.cache_dir)
    return {env["name"]: env for env in document["envs"]}


def test_envs_without_a_cache(
    make_workspace: MakeWorkspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_workspace(FILES, lock=False)
    assert main(["-C", str(root), "envs", "--cache-dir", str(tmp_path / "none")]) == 0
    assert capsys.readouterr().out == f"no environments in {tmp_path / 'none'}\n"
    assert main(["-C", str(root), "prune", "--cache-dir", str(tmp_path / "none")]) == 0
    assert "nothing to remove" in capsys.readouterr().err


@pytest.mark.slow
def test_envs_lists_current_and_stale_and_prune_removes_stale(
    make_workspace: MakeWorkspace,
    uv_bin: str,
    wheelhouse: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    engine = Engine(make_workspace(FILES), tmp_path / "cache", wheelhouse)
    old = engine.ensure()
    listed = _envs(capsys, engine)
    assert list(listed) == [old.name]
    record = listed[old.name]
    assert record["current"] is True
    assert record["kind"] == "target"
    assert record["label"] == "bird-feeder"
    assert record["packages"] == ["bird-feeder"]
    assert record["groups"] == []  # pytest is the root's tooling, not a group of the target
    assert record["tooling"][1].startswith("tooling from the workspace root's group 'dev'")
    assert isinstance(record["size"], int) and record["size"] > 10_000
    assert record["problem"] is None and record["key"] == old.key

    # a pin of its closure moves: the old env is stale, the new one current
    pyproject = engine.root / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text() + '\n[tool.uv]\nconstraint-dependencies = ["tinyleft<2"]\n'
    )
    uv_lock(engine.root, wheelhouse)
    new = engine.ensure()
    broken = engine.cache_dir / "broken-py3.11-0000000000"
    broken.mkdir()
    leftover = engine.cache_dir / f".{new.name}.tmp-abcdef"
    leftover.mkdir()
    listed = _envs(capsys, engine)
    assert set(listed) == {old.name, new.name, broken.name}
    assert (listed[old.name]["current"], listed[new.name]["current"]) == (False, True)
    assert listed[broken.name]["current"] is False
    assert "no manifest" in str(listed[broken.name]["problem"])

    args = ["-C", str(engine.root), "envs", "--cache-dir", str(engine.cache_dir)]
    assert main(args) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0].split() == ["NAME", "TARGET", "PYTHON", "SIZE", "LAST-USED", "STATUS"]
    by_name = {line.split()[0]: line for line in text[1:]}
    assert by_name[new.name].endswith("current")
    assert by_name[old.name].endswith("stale")
    assert "broken: it has no manifest" in by_name[broken.name]
    assert "bird-feeder +root tooling" in by_name[new.name]

    prune = ["-C", str(engine.root), "prune", "--cache-dir", str(engine.cache_dir)]
    assert main([*prune, "--dry-run"]) == 0
    would = capsys.readouterr().out.splitlines()
    assert sorted(would) == sorted(f"would remove {p}" for p in (old.path, broken, leftover))
    assert old.path.exists() and leftover.exists()
    assert main(prune) == 0
    assert not old.path.exists() and not broken.exists() and not leftover.exists()
    assert new.path.exists()
    capsys.readouterr()
    assert list(_envs(capsys, engine)) == [new.name]
    assert engine.ensure().built is False  # the current env survived intact

    assert main([*prune, "--all"]) == 0
    assert capsys.readouterr().out == f"removed {new.path}\n"
    assert cache.list_envs(engine.cache_dir) == []


def test_cache_dir_from_environment(
    make_workspace: MakeWorkspace,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = make_workspace(FILES, lock=False)
    where = tmp_path / "elsewhere"
    (where / "x-py3.11-0000000000").mkdir(parents=True)
    monkeypatch.setenv("PYTEST_WSENV_CACHE_DIR", str(where))
    assert main(["-C", str(root), "envs", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["cache_dir"] == str(where)
    assert [e["name"] for e in document["envs"]] == ["x-py3.11-0000000000"]
