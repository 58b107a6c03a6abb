import pytest
from bird_feeder import Feeder, schedule


def test_portions_are_capped_by_capacity() -> None:
    assert Feeder("garden", capacity=3).portions(5) == 3


def test_feeders_are_frozen() -> None:
    feeder = Feeder("garden", capacity=3)
    with pytest.raises(AttributeError):
        feeder.capacity = 4


def test_schedule_is_in_time_order() -> None:
    # THE LEAK: sortedcontainers is declared by the sibling member `seeds`, not by
    # bird-feeder. In the shared workspace .venv this import works; in an environment
    # holding only bird-feeder's own dependencies it fails.
    from sortedcontainers import SortedList

    times = [12, 7, 9]
    assert schedule(times) == list(SortedList(times))
