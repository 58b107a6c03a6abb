"""A bag of seed kinds kept in sorted order, and sowing them."""

from __future__ import annotations

from collections.abc import Iterable

from sortedcontainers import SortedList

__all__ = ["SeedBag", "sow"]


class SeedBag:
    def __init__(self, kinds: Iterable[str] = ()) -> None:
        self._kinds = SortedList(kinds)

    def add(self, kind: str) -> None:
        self._kinds.add(kind)

    def kinds(self) -> list[str]:
        return list(self._kinds)


def sow(kinds: Iterable[str], *, progress: bool = False) -> list[str]:
    """Sow ``kinds`` in order; ``progress=True`` needs the ``progress`` extra (tqdm)."""
    if progress:
        from tqdm import tqdm

        kinds = tqdm(kinds, desc="sowing")
    return list(kinds)
