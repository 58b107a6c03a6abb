from albatross import feed_all
from bird_feeder import Feeder


def test_feed_all_adds_up_portions() -> None:
    assert feed_all([Feeder("garden", capacity=3), Feeder("porch", capacity=1)], birds=2) == 3
