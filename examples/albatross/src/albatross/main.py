"""Feed every feeder, optionally with a progress bar."""

from __future__ import annotations

from collections.abc import Iterable

from bird_feeder import Feeder
from tqdm import tqdm

__all__ = ["feed_all"]


def feed_all(feeders: Iterable[Feeder], birds: int, *, progress: bool = False) -> int:
    """Portions served when ``birds`` birds visit each feeder."""
    return sum(feeder.portions(birds) for feeder in tqdm(feeders, disable=not progress))
