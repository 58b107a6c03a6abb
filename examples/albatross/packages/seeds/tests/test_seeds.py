import pytest
from seeds import SeedBag, sow


def test_bag_keeps_kinds_sorted() -> None:
    bag = SeedBag(["sunflower", "millet"])
    bag.add("nyjer")
    assert bag.kinds() == ["millet", "nyjer", "sunflower"]


def test_sow_with_progress_bar() -> None:
    # tqdm comes with the `progress` extra. The shared .venv has it anyway (the root
    # albatross depends on it), so there this test always runs; in seeds' own
    # environment it runs only when the extra is requested.
    pytest.importorskip("tqdm", reason="needs the 'progress' extra (--ws-extra progress)")
    assert sow(["millet", "nyjer"], progress=True) == ["millet", "nyjer"]
