"""The lock stage: read ``uv.lock`` and compute a target's exact install set, without uv.

:meth:`Lock.load` parses the file (:mod:`.lockfile`) and indexes it (:mod:`.index`);
:meth:`Lock.closure` plans a target (:mod:`.plan`), walks the locked dependency graph
under uv's markers (:mod:`.walk`, :mod:`.markers`) and returns a :class:`Closure` of
:class:`Pin` records (:mod:`.pins`), equal to ``uv export --frozen``;
:meth:`Lock.check_fresh` gives the verdict of ``uv lock --check`` (:mod:`.freshness`).
"""

from __future__ import annotations

from .pins import Artifact, Closure, Pin, SourceKind
from .uvlock import Lock

__all__ = ["Artifact", "Closure", "Lock", "Pin", "SourceKind"]
