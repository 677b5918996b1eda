"""The parse cache is bounded by what parsed classes hold, however short their descriptors."""

from __future__ import annotations

import yaml

from gateway.parsecache import ENTRY_OVERHEAD_BYTES, ParseCache
from gateway.testing import start_gateway
from gateway_fake.backend import FakeBackend


def test_a_class_of_short_descriptors_weighs_what_its_objects_hold() -> None:
    text = yaml.safe_dump([{"objectName": f"s{index}", "objectType": "fake"} for index in range(1000)])
    parsed = start_gateway(backends=[FakeBackend()]).planner.parse({"objects": text})
    assert not parsed.problems
    assert parsed.kept_bytes(len(text)) >= 1000 * 780  # tracemalloc: ~780 bytes per parsed plain object


def test_entries_over_the_bound_evict_the_least_recently_used() -> None:
    cache: ParseCache[str] = ParseCache(max_bytes=3 * (1000 + ENTRY_OVERHEAD_BYTES))
    for key in (b"a", b"b", b"c"):
        cache.put(key, key.decode(), 1000)
    cache.get(b"a")
    cache.put(b"d", "d", 1000)
    assert [cache.get(key) for key in (b"a", b"b", b"c", b"d")] == ["a", None, "c", "d"]
    assert cache.bytes <= cache.max_bytes
