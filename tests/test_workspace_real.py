"""Workspace discovery on two real uv workspaces, checked against their own uv.lock."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from packaging.specifiers import SpecifierSet

from pytest_wsenv.workspace import Workspace

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

NAMES = ("mcp-python-sdk", "otel-python")


def _root(real_fixtures: Path, name: str) -> Path:
    return real_fixtures / name / "workspace"


def _lock(root: Path) -> dict[str, Any]:
    return tomllib.loads((root / "uv.lock").read_text(encoding="utf-8"))


def _locked_members(lock: dict[str, Any]) -> dict[str, dict[str, Any]]:
    members = set(lock["manifest"]["members"])
    return {p["name"]: p for p in lock["package"] if p["name"] in members}


def _is_local(entry: dict[str, Any]) -> bool:
    return "editable" in entry or "virtual" in entry


@pytest.mark.parametrize("name", NAMES)
def test_members_match_the_lock_manifest(real_fixtures: Path, name: str) -> None:
    root = _root(real_fixtures, name)
    ws = Workspace.discover(root)
    lock = _lock(root)
    assert ws.kind == "explicit"
    assert sorted(ws.members) == sorted(lock["manifest"]["members"])
    assert ws.requires_python == SpecifierSet(lock["requires-python"])


@pytest.mark.parametrize("name", NAMES)
def test_members_agree_with_locked_metadata(real_fixtures: Path, name: str) -> None:
    """Path, package flag, extras, groups and workspace deps, as uv recorded them."""
    root = _root(real_fixtures, name)
    ws = Workspace.discover(root)
    for member_name, locked in _locked_members(_lock(root)).items():
        member = ws.members[member_name]
        kind, where = next(iter(locked["source"].items()))
        assert kind == ("editable" if member.package else "virtual"), member_name
        assert Path(root, where).resolve() == member.path, member_name
        metadata = locked.get("metadata", {})
        assert sorted(member.extras) == sorted(metadata.get("provides-extras", [])), member_name
        assert sorted(member.groups) == sorted(metadata.get("requires-dev", {})), member_name
        requires = list(metadata.get("requires-dist", []))
        for group in metadata.get("requires-dev", {}).values():
            requires.extend(group)
        # uv 0.13 records members nested in another project's directory (mcp's
        # examples/servers/*) without the root's workspace source, yet resolves their
        # requirement to the member: every required member is a workspace dep
        required = {r["name"] for r in requires if r["name"] in ws.members} - {member_name}
        assert {r["name"] for r in requires if _is_local(r)} - {member_name} <= required
        if member.dynamic_dependencies:  # read from build metadata, which we cannot see
            assert member.workspace_deps <= required, member_name
        else:
            assert member.workspace_deps == required, member_name


def test_mcp_nested_members(real_fixtures: Path) -> None:
    root = _root(real_fixtures, "mcp-python-sdk")
    ws = Workspace.discover(root)
    stories = ws.members["mcp-example-stories"]
    assert stories.path == (root / "examples").resolve()
    chatbot = ws.members["mcp-simple-chatbot"]
    # examples/ is a member that holds other members: the deepest one owns a file
    assert ws.member_for(chatbot.path / "mcp_simple_chatbot" / "main.py") is chatbot
    assert ws.member_for(root / "examples" / "stories" / "test_story.py") is stories
    assert ws.member_for(root / "examples" / "clients" / "README.md") is stories
    assert ws.member_for(root / "tests" / "test_x.py") is ws.members["mcp"]
    # found from inside a member nested in another member
    assert Workspace.discover(chatbot.path).root == root.resolve()
    assert Workspace.discover(root / "examples" / "servers").root == root.resolve()
    assert "mcp" in ws.dependencies("mcp-simple-chatbot")
    assert "mcp-simple-chatbot" in ws.dependents("mcp")


def test_mcp_groups_sources_and_virtual_member(real_fixtures: Path) -> None:
    ws = Workspace.discover(_root(real_fixtures, "mcp-python-sdk"))
    mcp = ws.members["mcp"]
    assert mcp.is_root and mcp.package and mcp.dynamic_dependencies
    assert mcp.default_groups == ("dev", "docs")
    assert set(ws.root_groups) == {"dev", "docs", "translate", "codegen"}
    assert "mcp[cli]" in mcp.groups["dev"]
    assert ws.root_sources["strict-no-cover"] == {
        "git": "https://github.com/pydantic/strict-no-cover"
    }
    # members inherit the root's sources (they declare none of their own)
    chatbot = ws.members["mcp-simple-chatbot"]
    assert chatbot.sources["mcp"] == {"workspace": True}
    assert chatbot.workspace_deps == {"mcp"}
    assert chatbot.default_groups == ("dev",)
    assert ws.members["mcp-structured-output-lowlevel"].package is False  # no build system


def test_otel_exclude_list_is_honoured(real_fixtures: Path) -> None:
    root = _root(real_fixtures, "otel-python")
    ws = Workspace.discover(root)
    excluded = (
        "exporter/opentelemetry-exporter-opencensus",
        "exporter/opentelemetry-exporter-zipkin",
        "exporter/opentelemetry-exporter-zipkin-proto-http",
    )
    member_paths = {m.path for m in ws.members.values()}
    for rel in excluded:
        directory = (root / rel).resolve()
        assert (directory / "pyproject.toml").is_file()
        assert directory not in member_paths
        assert (
            ws.member_for(directory / "tests" / "test_x.py") is ws.members["opentelemetry-python"]
        )
        alone = Workspace.discover(directory)
        assert alone.kind == "single" and alone.root == directory
    assert "opentelemetry-exporter-zipkin-json" in ws.members  # matched by exporter/*
    # docs/examples projects are in no members glob
    assert ws.member_for(root / "docs" / "examples" / "error_handler" / "x.py") is not None
    assert Workspace.discover(root / "docs" / "examples" / "error_handler").root == root.resolve()


def test_otel_root_is_a_virtual_package(real_fixtures: Path) -> None:
    ws = Workspace.discover(_root(real_fixtures, "otel-python"))
    root = ws.members["opentelemetry-python"]
    assert root.is_root and not root.package
    assert ws.dependents("opentelemetry-api") >= {
        "opentelemetry-sdk",
        "opentelemetry-python",
        "opentelemetry-exporter-otlp",
    }
    assert "opentelemetry-api" in ws.dependencies("opentelemetry-exporter-otlp")
