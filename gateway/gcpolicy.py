"""Garbage collection for a long-running server: short pauses however large the caches grow.

CPython's full collection walks every tracked object. Two kinds of objects live long by design:
what the server builds while starting (modules, plugins, registries, the gRPC and protobuf
machinery) and what the parse cache keeps (thousands of parsed objects per large class, up to its
memory bound). Walking them again on every full collection is what made pauses grow with the cache,
so both are moved out of the collector's generations (``gc.freeze``) — after start-up, and each time
the parse cache has admitted another :data:`FREEZE_EVERY_BYTES`. Frozen objects are still freed by
reference counting (an evicted cache entry is acyclic and goes at once); only cycles among them
would wait, which is why each freeze of cache entries follows a collection of everything not yet frozen.

While a parse builds a large acyclic structure (a document's node graph, a class's parsed objects) the
collector is :func:`paused`: otherwise every few hundred allocations it walks the growing structure again, which
was 40% of parsing a legal 1 MB class and 60% of composing it.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

FREEZE_EVERY_BYTES = 1024 * 1024

_lock = threading.Lock()
_admitted = 0


def settle_after_startup() -> None:
    """Keep what start-up built out of every later collection. No collection first: start-up leaves next to
    no cyclic garbage (none, measured with the fake backend), and walking its ~35,000 objects would be a pause
    just as the first mounts arrive."""
    gc.freeze()


def admitted_long_lived(size: int) -> None:
    """Note ``size`` bytes of new long-lived objects; freeze them once enough have accumulated."""
    global _admitted
    with _lock:
        _admitted += size
        if _admitted < FREEZE_EVERY_BYTES:
            return
        _admitted = 0
    gc.collect()  # walks only what is not frozen yet
    gc.freeze()


@contextmanager
def paused() -> Iterator[None]:
    """The cyclic collector off for the block, when it was on: what the block allocates is freed by reference
    counting, cycles it leaves wait for the next collection after it. Overlapping pauses (threads) end with the
    first one that found the collector on, so no pause outlasts one block."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
