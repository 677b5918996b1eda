"""Shared async building blocks for backends: singleflight, an expiring cache, retry with jittered backoff."""

from __future__ import annotations

import asyncio
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    """Coalesce concurrent calls with the same key into one.

    Callers with an identical key while a call is in flight await the same result (or
    exception). A caller that is cancelled does not cancel the shared call for the others.
    The key must capture everything the result depends on — in particular the caller's
    identity — so that no caller receives what its own call could not have produced.
    """

    def __init__(self) -> None:
        self._calls: dict[K, asyncio.Future[V]] = {}

    def __len__(self) -> int:
        return len(self._calls)

    async def do(self, key: K, call: Callable[[], Awaitable[V]]) -> V:
        future = self._calls.get(key)
        if future is None:
            future = asyncio.ensure_future(call())
            self._calls[key] = future
            future.add_done_callback(lambda done: self._settle(key, done))
        return await asyncio.shield(future)

    def _settle(self, key: K, done: asyncio.Future[V]) -> None:
        """Forget the finished call and mark its exception retrieved: every caller may have left
        (timed out) before it failed, and asyncio would then log "Task exception was never retrieved"."""
        if self._calls.get(key) is done:
            del self._calls[key]
        if not done.cancelled():
            done.exception()


class ExpiringCache(Generic[K, V]):
    """A bounded LRU map whose entries expire at their own time (monotonic seconds).

    ``on_event`` receives "hit", "miss", "expired" and "evicted" for metrics.
    """

    def __init__(
        self, max_entries: int = 1024, clock: Callable[[], float] = time.monotonic, on_event: Callable[[str], None] | None = None
    ) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self.on_event = on_event or (lambda event: None)
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            self.on_event("miss")
            return None
        expires_at, value = entry
        if expires_at <= self.clock():
            del self._entries[key]
            self.on_event("expired")
            self.on_event("miss")
            return None
        self._entries.move_to_end(key)
        self.on_event("hit")
        return value

    def put(self, key: K, value: V, expires_at: float) -> None:
        self._entries[key] = (expires_at, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
            self.on_event("evicted")

    def discard(self, key: K) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter: attempt n sleeps uniform(0, min(cap, base * 2**n))."""

    attempts: int = 3
    base: float = 0.1
    cap: float = 2.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        return (rng or random).uniform(0, min(self.cap, self.base * (2**attempt)))


async def retry(
    call: Callable[[], Awaitable[V]],
    *,
    backoff: Backoff,
    retryable: Callable[[BaseException], bool],
    on_retry: Callable[[int, BaseException], None] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> V:
    """Run ``call``; on a retryable exception wait and try again, up to ``backoff.attempts`` times in all."""
    attempt = 0
    while True:
        try:
            return await call()
        except Exception as exc:
            attempt += 1
            if attempt >= backoff.attempts or not retryable(exc):
                raise
            if on_retry is not None:
                on_retry(attempt, exc)
            await sleep(backoff.delay(attempt - 1))
