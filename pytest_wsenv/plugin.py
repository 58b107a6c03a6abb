"""pytest entry point (``pytest11``): options, ini keys and hook registration only.

With no ``--ws-*`` selection option and no ``wsenv_isolated``/``wsenv_packages`` ini
setting, :func:`pytest_configure` returns at once: nothing is imported, discovered or
registered, and the session is an ordinary pytest session.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

__all__ = ["pytest_addoption", "pytest_configure", "pytest_load_initial_conftests"]

#: (option dest, ini name) pairs whose use turns isolation on.
_ACTIVATING = (
    ("ws_isolated", "wsenv_isolated"),
    ("ws_package", "wsenv_packages"),
    ("ws_extra", "wsenv_extras"),
    ("ws_all_extras", "wsenv_all_extras"),
    ("ws_group", "wsenv_groups"),
    ("ws_no_default_groups", "wsenv_no_default_groups"),
    ("ws_python", "wsenv_pythons"),
    ("ws_shard", None),
    ("ws_part", None),
    ("ws_changed_since", None),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wsenv", "isolated uv workspace member environments (pytest-wsenv)")

    def flag(name: str, ini: str, help: str) -> None:
        group.addoption(
            name, action="store_true", default=False, dest=ini.replace("wsenv_", "ws_"), help=help
        )
        parser.addini(ini, f"{help} (same as {name})", type="bool", default=False)

    def many(name: str, ini: str, metavar: str, help: str) -> None:
        group.addoption(
            name,
            action="append",
            default=[],
            metavar=metavar,
            dest="ws_" + name.removeprefix("--ws-").replace("-", "_"),
            help=help,
        )
        parser.addini(ini, f"{help} (same as {name}, one per line)", type="linelist")

    flag(
        "--ws-isolated",
        "wsenv_isolated",
        "Run the tests of every selected workspace member in its own isolated environment",
    )
    many(
        "--ws-package",
        "wsenv_packages",
        "NAME",
        "Run only this workspace member's tests (repeatable); implies --ws-isolated",
    )
    many(
        "--ws-extra",
        "wsenv_extras",
        "NAME",
        "Install this extra into each selected member that defines it (repeatable)",
    )
    flag("--ws-all-extras", "wsenv_all_extras", "Install every extra of each selected member")
    many(
        "--ws-group",
        "wsenv_groups",
        "NAME",
        "Install this dependency group into each member environment (repeatable)",
    )
    flag(
        "--ws-no-default-groups",
        "wsenv_no_default_groups",
        "Do not install the members' default dependency groups",
    )
    many(
        "--ws-python",
        "wsenv_pythons",
        "VERSION",
        "Run every selected member on this interpreter: X.Y or a path (repeatable)",
    )
    group.addoption(
        "--ws-backend",
        choices=("auto", "uv", "pip"),
        default=None,
        dest="ws_backend",
        help="Installer for member environments (default: auto = uv when found)",
    )
    parser.addini(
        "wsenv_backend", "Installer for member environments: auto, uv or pip", default="auto"
    )
    group.addoption(
        "--ws-cache-dir",
        default=None,
        metavar="DIR",
        dest="ws_cache_dir",
        help="Where environments are cached (default: <workspace root>/.wsenv; "
        "also PYTEST_WSENV_CACHE_DIR)",
    )
    parser.addini("wsenv_cache_dir", "Where environments are cached", type="paths")
    flag(
        "--ws-offline",
        "wsenv_offline",
        "Build environments only from local caches and find-links, never the network",
    )
    group.addoption(
        "--ws-rebuild",
        action="store_true",
        default=False,
        dest="ws_rebuild",
        help="Rebuild every environment this run uses, even when it is current",
    )
    many(
        "--ws-with",
        "wsenv_with",
        "REQ",
        "Add this requirement in a layer after the member's packages, like `uv run --with`",
    )
    parser.addini(
        "wsenv_with_requirements",
        "Requirements files for the --ws-with layer; {member_dir} is expanded",
        type="linelist",
    )
    flag(
        "--ws-strict-runner",
        "wsenv_strict_runner",
        "Fail instead of adding pytest from outside the lock when a member lacks it",
    )
    many(
        "--ws-no-install-package",
        "wsenv_no_install_packages",
        "NAME",
        "Leave this locked package out of every environment, like uv's --no-install-package",
    )
    group.addoption(
        "--ws-shard",
        default=None,
        metavar="K/N",
        dest="ws_shard",
        help="Run the K-th of N disjoint shards of the selected members, balanced by "
        "recorded durations; implies --ws-isolated",
    )
    group.addoption(
        "--ws-part",
        action="append",
        default=[],
        metavar="MEMBER:I/N",
        dest="ws_part",
        help="Run only part I of N of this member's tests, cut as --ws-shard cuts a member "
        "(repeatable; what matrix --shards plans); implies --ws-isolated",
    )
    group.addoption(
        "--ws-changed-since",
        default=None,
        metavar="REF",
        dest="ws_changed_since",
        help="Run only members changed since the git REF, their dependents, and members "
        "whose locked closure changed; implies --ws-isolated",
    )
    group.addoption(
        "--ws-check-imports",
        nargs="?",
        const="warn",
        default=None,
        choices=("warn", "error"),
        dest="ws_check_imports",
        help="In a normal (shared-environment) run, report imports of packages a member does "
        "not declare; =error also fails the session (write =warn/=error, or put it after paths)",
    )
    parser.addini(
        "wsenv_test_group",
        "The workspace root's dependency group whose test tooling every member gets",
        default="dev",
    )
    flag(
        "--ws-no-fork",
        "wsenv_no_fork",
        "Start every child as a new interpreter instead of forking it from a warm one "
        "that has imported pytest",
    )
    flag(
        "--ws-stream",
        "wsenv_stream",
        "Run each member's tests as soon as it has collected, while later members collect: "
        "first results sooner, at most as many children alive as run at once; the header "
        "counts only the tests collected by then",
    )
    parser.addini(
        "wsenv_max_restarts",
        "How often a member's crashed child is restarted before its remaining "
        "tests are reported as not run",
        default="3",
    )
    for name, ini, help in (
        (
            "--ws-timeout",
            "wsenv_timeout",
            "Fail a test that runs longer than SECONDS, with its stacks, and go on with the "
            "member's other tests in a new child (default: pytest-timeout's --timeout or "
            "timeout ini when pytest-timeout is installed here)",
        ),
        (
            "--ws-member-timeout",
            "wsenv_member_timeout",
            "Stop a member whose tests run longer than SECONDS in all; its remaining tests "
            "are reported as not run",
        ),
    ):
        group.addoption(
            name,
            default=None,
            metavar="SECONDS",
            dest=ini.replace("wsenv_", "ws_"),
            help=help,
        )
        parser.addini(ini, f"{help} (same as {name})", default="")
    parser.addini(
        "wsenv_max_idle",
        "How many collected member children may wait for their turn to run; members "
        "collected beyond that collect again when their turn comes",
        default="64",  # runner.session.DEFAULT_MAX_IDLE; not imported until the plugin is used
    )


def _active(config: pytest.Config) -> bool:
    if os.environ.get("PYTEST_WSENV_MEMBER"):  # a child never isolates again
        return False
    return any(config.getoption(dest) or (ini and config.getini(ini)) for dest, ini in _ACTIVATING)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> Generator[None, None, None]:
    """An isolated parent imports no conftest.py: they are member test code, loaded by
    each member's child in its own environment. So options that only plugins or
    conftests of the member environments define are taken out of ``args`` here (before
    pytest rejects them) and forwarded to the children (:func:`.config.take_foreign_options`).
    This runs before pytest's capture starts, so it also notes the terminal that the children
    may be given (:func:`.runner.output.note_terminal`)."""
    if not os.environ.get("PYTEST_WSENV_MEMBER"):
        _prepare_parent(early_config, parser, args)
    return (yield)


def _prepare_parent(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    if any(arg.startswith("--ws-") for arg in args):  # nothing is imported otherwise
        from .rootdir import recover_setup

        recover_setup(early_config, parser, args)
    namespace = early_config.known_args_namespace
    for dest, ini in _ACTIVATING:
        if getattr(namespace, dest, None) or (ini and early_config.getini(ini)):
            namespace.noconftest = True
            if _forks(early_config):  # first, so that it imports pytest while we plan
                from .runner.prestart import start_early

                start_early(early_config)
            from .config import FOREIGN_OPTIONS, take_foreign_options
            from .runner.output import note_terminal

            early_config.stash[FOREIGN_OPTIONS] = take_foreign_options(
                parser, args, early_config.invocation_params.dir
            )
            note_terminal(early_config)
            return


def _forks(early_config: pytest.Config) -> bool:
    """Whether this isolated session may fork its children (``--ws-no-fork``)."""
    namespace = early_config.known_args_namespace
    no_fork = getattr(namespace, "ws_no_fork", False) or early_config.getini("wsenv_no_fork")
    return hasattr(os, "fork") and not no_fork


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if not _active(config):
        mode = config.getoption("ws_check_imports", None)
        if mode and not os.environ.get("PYTEST_WSENV_MEMBER"):
            from .audit.runtime import ImportAuditPlugin

            config.pluginmanager.register(ImportAuditPlugin(config, mode), "wsenv-check-imports")
        return
    if hasattr(config, "workerinput"):
        return
    from .isolation import install

    install(config)
