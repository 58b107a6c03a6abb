"""Stand-in collection nodes for tests that a child collected.

The parent never imports member test code. It still puts one :class:`IsolatedItem` per test a
child collected into ``session.items``, with the parent-form node id and location, under
:class:`IsolatedCollector` nodes mirroring the child's collection tree. So everything that reads
the collection (``collected N items``, ``session.testscollected``, ``--collect-only`` in every
verbosity, progress, exit code 5) sees one session. The items are never run in the parent: the
runner replays the child's reports for them.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_wsenv.runner.protocol import PathMapper

__all__ = ["IsolatedCollector", "IsolatedItem", "StandInBuilder"]


class IsolatedCollector(pytest.Collector):
    """A collector of a child session, shown as the child showed it (``<Module test_x.py>``)."""

    def __init__(self, *, kind: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kind = kind

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        return []

    def __repr__(self) -> str:
        return f"<{self.kind} {self.name}>"


class IsolatedItem(pytest.Item):
    """A test collected and run by the child ``key``; ``child_nodeid`` is its id there."""

    def __init__(
        self,
        *,
        key: str,
        child_nodeid: str,
        location: tuple[str, int | None, str],
        kind: str = "Function",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.kind = kind
        self.key = key
        self.child_nodeid = child_nodeid
        self._location = location
        self.__dict__["location"] = location

    def runtest(self) -> None:  # pragma: no cover - never called, the child runs it
        raise RuntimeError(f"{self.nodeid} runs in the isolated child {self.key!r}")

    def __repr__(self) -> str:
        return f"<{self.kind} {self.name}>"

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, self._location[1], self._location[2]


class StandInBuilder:
    """Builds stand-in trees for one session; ancestor directories are shared by members."""

    def __init__(self, session: pytest.Session) -> None:
        self.session = session
        self._dirs: dict[str, IsolatedCollector] = {}

    def _ancestor(self, nodeid: str) -> pytest.Collector:
        """The stand-in ``<Dir>`` for a parent-form directory id ("" is the rootdir)."""
        node = self._dirs.get(nodeid)
        if node is not None:
            return node
        root = self.session.config.rootpath
        if nodeid:
            head, _, name = nodeid.rpartition("/")
            parent: pytest.Collector = self._ancestor(head)
        else:
            name, parent = root.name, self.session
        node = IsolatedCollector.from_parent(
            parent, name=name, nodeid=nodeid, path=root / nodeid, kind="Dir"
        )
        self._dirs[nodeid] = node
        return node

    def _member_parent(self, prefix: str) -> pytest.Collector:
        """The node under which a child's own root collector hangs."""
        if not prefix:
            return self.session
        if prefix == ".." or prefix.startswith("../"):
            return self.session
        head = posixpath.dirname(prefix)
        return self._ancestor(head)

    def build(
        self,
        *,
        key: str,
        mapper: PathMapper,
        rootdir: Path,
        items: Sequence[Sequence[Any]],
        collectors: Sequence[Sequence[Any]],
        deselected: Sequence[str],
    ) -> tuple[pytest.Collector, list[IsolatedItem], list[IsolatedItem]]:
        """Return (member node, selected items, deselected items) from a ``collected`` message."""
        top = self._member_parent(mapper.prefix)
        nodes: list[pytest.Collector] = []
        for nodeid, kind, name, path, parent_index in collectors:
            parent = nodes[parent_index] if 0 <= parent_index < len(nodes) else top
            nodes.append(
                IsolatedCollector.from_parent(
                    parent,
                    name=str(name),
                    nodeid=mapper.nodeid(str(nodeid)),
                    path=Path(path),
                    kind=str(kind),
                )
            )
        member = nodes[0] if nodes else self._member_root(key, mapper, rootdir, top)
        selected = []
        for nodeid, name, path, location, parent_index, kind, *_ in items:
            parent = nodes[parent_index] if 0 <= parent_index < len(nodes) else member
            selected.append(
                IsolatedItem.from_parent(
                    parent,
                    name=str(name),
                    nodeid=mapper.nodeid(str(nodeid)),
                    path=Path(path),
                    key=key,
                    child_nodeid=str(nodeid),
                    kind=str(kind),
                    location=(
                        mapper.location_path(str(location[0])),
                        location[1] if isinstance(location[1], int) else None,
                        str(location[2]),
                    ),
                )
            )
        unselected = []
        for nodeid in deselected:
            path_part = nodeid.partition("::")[0]
            unselected.append(
                IsolatedItem.from_parent(
                    member,
                    name=nodeid.rpartition("::")[2] or nodeid,
                    nodeid=mapper.nodeid(nodeid),
                    path=Path(mapper.absolute(path_part)) if path_part else rootdir,
                    key=key,
                    child_nodeid=nodeid,
                    location=(mapper.location_path(path_part), None, nodeid),
                )
            )
        return member, selected, unselected

    def _member_root(
        self, key: str, mapper: PathMapper, rootdir: Path, top: pytest.Collector
    ) -> pytest.Collector:
        return IsolatedCollector.from_parent(
            top,
            name=rootdir.name,
            nodeid=mapper.nodeid(""),
            path=rootdir,
            kind="Dir",
        )

    def member_node(self, key: str, mapper: PathMapper, rootdir: Path) -> pytest.Collector:
        """A node naming a whole member, for reports about the member itself."""
        return self._member_root(key, mapper, rootdir, self._member_parent(mapper.prefix))
