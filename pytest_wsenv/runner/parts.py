"""What the parts of :class:`~pytest_wsenv.runner.session.IsolatedRun` ask of each other.

The replaying plugin is one object assembled from mixins, one job each (``messages.py``:
child messages; ``exits.py``: child exits); :class:`SessionPart` declares the state and the
methods they share, which ``session.py`` and the mixins provide. Stubs live here, at the end of
the method resolution order, and never in a mixin: a mixin's stub would hide another mixin's
implementation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from pytest_wsenv.runner.members import Member, Unit
from pytest_wsenv.runner.process import Exited
from pytest_wsenv.runner.protocol import PathMapper

__all__ = ["SessionPart"]


class SessionPart:
    """Base of the mixins of :class:`~pytest_wsenv.runner.session.IsolatedRun`."""

    config: pytest.Config
    _stopping: str | None
    _interrupted: str | None

    def _hook(self) -> Any:
        raise NotImplementedError

    def _need_mapper(self, m: Member) -> PathMapper:
        raise NotImplementedError

    def _label(self, m: Member, report: pytest.TestReport) -> None:
        raise NotImplementedError

    def _release_run_slot(self, m: Member) -> None:
        raise NotImplementedError

    def _stop(self, reason: str) -> None:
        raise NotImplementedError

    def on_exit(self, m: Member, event: Exited) -> None:
        raise NotImplementedError

    def _stacks_file(self) -> str | None:
        raise NotImplementedError

    def _on_collected(self, m: Member, data: dict[str, Any]) -> None:
        raise NotImplementedError

    def _is_stopping(self) -> bool:
        raise NotImplementedError

    def _fail(self, m: Member, text: str) -> None:
        raise NotImplementedError

    def _start_child(self, m: Member) -> None:
        raise NotImplementedError

    def _send_exit(self, m: Member) -> None:
        raise NotImplementedError

    def _replay_unit(
        self,
        m: Member,
        child_id: str,
        location: tuple[str, int | None, str],
        reports: Sequence[pytest.TestReport],
        unit: Unit | None = None,
    ) -> None:
        raise NotImplementedError

    def _replay_failure(self, m: Member, child_id: str, when: str, text: str) -> None:
        raise NotImplementedError

    def _send_run(self, m: Member) -> None:
        raise NotImplementedError

    def _on_more(self, m: Member) -> None:
        raise NotImplementedError

    def _every_child(self) -> list[Member]:
        raise NotImplementedError

    def _check_stop(self) -> None:
        raise NotImplementedError

    def _schedule_runs(self) -> None:
        raise NotImplementedError

    def _recorded_durations(self) -> Mapping[str, float]:
        raise NotImplementedError

    def _count_placeholders(self, session: pytest.Session) -> None:
        raise NotImplementedError
