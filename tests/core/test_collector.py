"""The collector settings long-running processes start with (``tune_collector``)."""

import gc
from collections.abc import Iterator

import pytest

from app.core.heap import OLDER_THRESHOLDS, YOUNG_THRESHOLD, tune_collector


@pytest.fixture
def collector_restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("collector_restored")
def test_the_startup_heap_is_frozen_and_young_collections_are_rarer() -> None:
    loaded_at_startup = [object() for _ in range(10)]
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)

    tune_collector()

    assert gc.get_threshold() == (YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
    assert gc.get_freeze_count() >= len(loaded_at_startup)
    before = gc.get_stats()[0]["collections"]
    short_lived = [[index] for index in range(YOUNG_THRESHOLD // 2)]  # at 700 this allocation collected 35 times
    assert gc.get_stats()[0]["collections"] == before
    assert len(short_lived) == YOUNG_THRESHOLD // 2
