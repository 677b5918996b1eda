"""Mount admission: a fixed number of slots shared fairly between namespaces.

At most ``capacity`` mounts run at once and one namespace holds at most ``per_namespace`` of
them, so a burst in one namespace always leaves slots for the others. A freed slot goes to
the waiting namespace that runs the fewest mounts (oldest waiter first among equals). At most
``max_queued`` mounts wait; past that the namespace with the longest queue loses its newest
waiter (or the newcomer itself is refused when its namespace has the longest queue): an
explicit ``Unavailable`` that the driver retries, never a silent drop.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.errors import Unavailable


class Overloaded(Unavailable):
    """The admission queue is full: retry later (the driver retries UNAVAILABLE)."""


@dataclass(frozen=True)
class AdmissionLimits:
    capacity: int = 64
    per_namespace: int = 32
    max_queued: int = 1024


@dataclass
class _Waiter:
    namespace: str
    order: int
    granted: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class FairAdmission:
    """Grants mount slots per namespace; ``on_reject(namespace)`` hears every overload refusal."""

    def __init__(self, limits: AdmissionLimits, on_reject: Callable[[str], None] = lambda namespace: None) -> None:
        self.limits = limits
        self.per_namespace = max(1, min(limits.per_namespace, limits.capacity))
        self.on_reject = on_reject
        self.running: Counter[str] = Counter()
        self._queues: dict[str, deque[_Waiter]] = {}
        self._order = itertools.count()

    @property
    def queued(self) -> int:
        return sum(len(queue) for queue in self._queues.values())

    @property
    def in_use(self) -> int:
        return sum(self.running.values())

    def try_acquire(self, namespace: str) -> bool:
        """Take one slot for ``namespace`` if that needs no wait (a free slot, nobody of the namespace queued before)."""
        if namespace not in self._queues and self._may_run(namespace):
            self.running[namespace] += 1
            return True
        return False

    async def acquire(self, namespace: str) -> None:
        """Take one slot for ``namespace``: at once, after waiting (cancel to give up), or :class:`Overloaded`."""
        if self.try_acquire(namespace):
            return
        if self.queued >= self.limits.max_queued:
            self._shed(namespace)
        waiter = _Waiter(namespace, next(self._order))
        self._queues.setdefault(namespace, deque()).append(waiter)
        try:
            await waiter.granted
        except BaseException:
            if waiter.granted.done() and not waiter.granted.cancelled() and waiter.granted.exception() is None:
                self.release(namespace)  # granted just as the caller gave up: hand the slot on
            else:
                self._remove(waiter)
            raise

    def release(self, namespace: str) -> None:
        self.running[namespace] -= 1
        if self.running[namespace] <= 0:
            del self.running[namespace]
        if self._queues:
            self._dispatch()

    def _may_run(self, namespace: str) -> bool:
        return self.in_use < self.limits.capacity and self.running[namespace] < self.per_namespace

    def _shed(self, namespace: str) -> None:
        """Make room in a full queue at the expense of the namespace queueing the most."""
        longest = max(self._queues, key=lambda name: len(self._queues[name]))
        if len(self._queues[longest]) <= len(self._queues.get(namespace, ())) + 1:
            self.on_reject(namespace)
            raise self._overloaded(namespace)
        victim = self._queues[longest].pop()
        self._drop_empty(longest)
        self.on_reject(longest)
        victim.granted.set_exception(self._overloaded(longest))

    def _overloaded(self, namespace: str) -> Overloaded:
        return Overloaded(
            f"secrets-gateway is overloaded: {self.in_use} mounts running and {self.queued} waiting "
            f"(limit {self.limits.max_queued}); namespace {namespace} has the most waiting — the driver retries"
        )

    def _dispatch(self) -> None:
        while self.in_use < self.limits.capacity:
            eligible = [name for name in self._queues if self.running[name] < self.per_namespace]
            if not eligible:
                return
            namespace = min(eligible, key=lambda name: (self.running[name], self._queues[name][0].order))
            waiter = self._queues[namespace].popleft()
            self._drop_empty(namespace)
            self.running[namespace] += 1
            waiter.granted.set_result(None)

    def _remove(self, waiter: _Waiter) -> None:
        queue = self._queues.get(waiter.namespace)
        if queue is not None and waiter in queue:
            queue.remove(waiter)
            self._drop_empty(waiter.namespace)

    def _drop_empty(self, namespace: str) -> None:
        if not self._queues.get(namespace, True):
            del self._queues[namespace]
