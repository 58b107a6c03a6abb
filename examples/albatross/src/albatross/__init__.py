"""The albatross application: feeds the birds at every feeder."""

from albatross.main import feed_all

__all__ = ["feed_all"]
