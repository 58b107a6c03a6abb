"""Seed bags."""

from seeds.bar import SeedBag, sow

__all__ = ["SeedBag", "sow"]
