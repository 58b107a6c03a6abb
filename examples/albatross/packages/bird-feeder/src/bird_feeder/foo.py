"""A feeder serves at most ``capacity`` portions per visit."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

__all__ = ["Feeder", "schedule"]


@attrs.frozen
class Feeder:
    name: str
    capacity: int

    def portions(self, birds: int) -> int:
        return min(birds, self.capacity)


def schedule(times: Iterable[int]) -> list[int]:
    """Refill times in the order the refills happen."""
    return sorted(times)
