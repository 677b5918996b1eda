"""Long-lived objects leave the collector's generations: after start-up, and as the parse cache admits them."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from gateway import gcpolicy
from gateway.parsecache import ParseCache


@pytest.fixture(autouse=True)
def unfrozen(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(gcpolicy, "_admitted", 0)
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_start_up_objects_are_frozen() -> None:
    kept = [[index] for index in range(1000)]
    gcpolicy.settle_after_startup()
    assert gc.get_freeze_count() >= len(kept)


@pytest.mark.parametrize(
    ("kept_bytes", "frozen"),
    [
        pytest.param(1000, False, id="small-class-waits-for-more"),
        pytest.param(gcpolicy.FREEZE_EVERY_BYTES, True, id="large-class-frozen-at-once"),
    ],
)
def test_the_parse_cache_freezes_what_it_keeps_once_enough_accumulated(kept_bytes: int, frozen: bool) -> None:
    cache: ParseCache[list[list[int]]] = ParseCache()
    parsed = [[index] for index in range(1000)]
    cache.put(b"key", parsed, kept_bytes)
    assert (gc.get_freeze_count() >= len(parsed)) is frozen
    assert cache.get(b"key") is parsed


def test_a_frozen_entry_is_still_freed_when_evicted() -> None:
    cache: ParseCache[list[list[int]]] = ParseCache(max_bytes=gcpolicy.FREEZE_EVERY_BYTES * 2)
    cache.put(b"old", [[index] for index in range(1000)], gcpolicy.FREEZE_EVERY_BYTES)
    frozen = gc.get_freeze_count()
    cache.put(b"new", [], gcpolicy.FREEZE_EVERY_BYTES + 1)  # evicts "old"
    assert cache.get(b"old") is None
    assert gc.get_freeze_count() <= frozen - 1000


@pytest.mark.parametrize(
    ("enabled_before", "enabled_after"),
    [pytest.param(True, True, id="on-stays-on"), pytest.param(False, False, id="off-stays-off")],
)
def test_a_pause_turns_the_collector_off_for_its_block_and_restores_it(enabled_before: bool, enabled_after: bool) -> None:
    gc.enable() if enabled_before else gc.disable()
    try:
        with pytest.raises(KeyError), gcpolicy.paused():
            assert not gc.isenabled()
            raise KeyError("even when the block raises")
        assert gc.isenabled() is enabled_after
    finally:
        gc.enable()


def test_overlapping_pauses_end_with_the_first_that_found_the_collector_on() -> None:
    outer = gcpolicy.paused()
    outer.__enter__()
    with gcpolicy.paused():  # another thread's parse, started while the first one runs
        outer.__exit__(None, None, None)
        assert gc.isenabled()  # the first pause ended: the second does not hold the collector off
    assert gc.isenabled()
