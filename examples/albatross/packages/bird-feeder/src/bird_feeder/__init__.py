"""Bird feeders."""

from bird_feeder.foo import Feeder, schedule

__all__ = ["Feeder", "schedule"]
