"""Dispatch: fetch every object of a mount, concurrently, batched per (backend, location).

Objects are grouped per backend and location and each group is one ``fetch_many`` call;
groups run concurrently up to a per-mount bound. Failover (see
:mod:`gateway.failover`) schedules follow-up groups as outcomes arrive. Each
backend call has its own timeout; the whole fetch has the mount's deadline, after which
outstanding calls are cancelled and the error names the objects still pending.
The result is all-or-nothing: every object resolved, or one error.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from gateway.backend import Backend, BackendRegistry
from gateway.callclock import CallClock, call_timeout
from gateway.errors import CODE_PRECEDENCE, ERROR_CLASSES, DeadlineExceeded, GatewayError, Internal, ResourceExhausted
from gateway.failover import ObjectAttempts
from gateway.metrics import OK, Metrics, outcome_of
from gateway.model import FetchBatch, Fetched, FetchFailure, MountPlan, ObjectSpec
from gateway.settings import BACKEND_TIMEOUT, MAX_PARALLEL_CALLS, MAX_VALUE_BYTES
from gateway.text import at

log = logging.getLogger("gateway.dispatch")


class Resolved(NamedTuple):
    """An object's value and the location that answered."""

    obj: ObjectSpec
    fetched: Fetched
    location: str


#: one backend call to make: backend, location, and the attempts it answers
Batch = tuple[str, str, list[tuple[ObjectAttempts, int]]]


@dataclass(frozen=True)
class DispatchLimits:
    max_parallel_calls: int = MAX_PARALLEL_CALLS.default
    call_timeout: float = BACKEND_TIMEOUT.default
    max_value_bytes: int = MAX_VALUE_BYTES.default


class Dispatcher:
    def __init__(self, registry: BackendRegistry, metrics: Metrics, limits: DispatchLimits = DispatchLimits()) -> None:
        self.registry = registry
        self.metrics = metrics
        self.limits = limits

    async def fetch_all(self, plan: MountPlan, timeout: float | None, budget: float | None = None) -> list[Resolved]:
        """Resolve every object of ``plan`` (in plan order) or raise one :class:`GatewayError`.

        ``timeout`` is what is left of the mount's deadline; ``budget`` the whole deadline, for the message.
        """
        backends = self._backends(plan)
        trackers = [
            ObjectAttempts(obj, plan.locations[obj.backend], plan.failover_mode, backend.location_noun, backend.all_locations_failed)
            for obj, backend in ((obj, backends[obj.backend]) for obj in plan.objects)
        ]
        semaphore = asyncio.Semaphore(self.limits.max_parallel_calls)
        clocks: dict[tuple[str, str], CallClock] = {}  # (backend, location) -> its call's clock, to name a wait
        try:
            async with asyncio.timeout(timeout):
                first = self._batches([(tracker, attempt) for tracker in trackers for attempt in tracker.start()])
                await self._run_batches(plan, first, semaphore, clocks)
        except TimeoutError:
            raise DeadlineExceeded(_pending_message(trackers, budget if budget is not None else timeout, clocks)) from None
        failures = [(tracker.obj.label, tracker.failure) for tracker in trackers if tracker.failure is not None]
        if failures:
            raise combine_failures(failures, len(trackers))
        return [Resolved(t.obj, t.answer[0], t.answer[1]) for t in trackers if t.answer is not None]

    def _batches(self, requests: list[tuple[ObjectAttempts, int]]) -> list[Batch]:
        """Attempts grouped per (backend, location), in order; failover attempts counted."""
        batches: dict[tuple[str, str], list[tuple[ObjectAttempts, int]]] = defaultdict(list)
        for tracker, attempt in requests:
            batches[(tracker.obj.backend, tracker.locations[attempt])].append((tracker, attempt))
            if attempt > 0:
                self.metrics.failovers.labels(backend=tracker.obj.backend).inc()
        return [(backend, location, members) for (backend, location), members in batches.items()]

    async def _run_batches(self, plan: MountPlan, batches: list[Batch], semaphore: asyncio.Semaphore, clocks: dict[tuple[str, str], CallClock]) -> None:
        """Run ``batches`` and every follow-up they lead to.

        While there is one batch at a time (the common mount: one backend, no failover), it runs in this task:
        no task to schedule and wake, and no reference cycle (task group, task, ``launch``) left for the collector."""
        while len(batches) == 1:
            follow_ups: list[tuple[ObjectAttempts, int]] = []
            await self._run_batch(plan, *batches[0], semaphore, follow_ups.extend, clocks)
            batches = self._batches(follow_ups)
        if not batches:
            return
        async with asyncio.TaskGroup() as group:

            def start(found: list[Batch]) -> None:
                for backend, location, members in found:
                    group.create_task(self._run_batch(plan, backend, location, members, semaphore, launch, clocks))

            def launch(requests: list[tuple[ObjectAttempts, int]]) -> None:
                start(self._batches(requests))

            start(batches)

    def _backends(self, plan: MountPlan) -> dict[str, Backend]:
        """The backend of each name the plan routes to."""
        backends = {}
        for obj in plan.objects:
            if obj.backend not in backends:
                backend = self.registry.get(obj.backend)
                if backend is None:  # the planner only routes to registered backends
                    raise Internal(f"{obj.label}: backend {obj.backend} is not registered")
                backends[obj.backend] = backend
        return backends

    async def _run_batch(
        self,
        plan: MountPlan,
        backend_name: str,
        location: str,
        members: list[tuple[ObjectAttempts, int]],
        semaphore: asyncio.Semaphore,
        launch: Callable[[list[tuple[ObjectAttempts, int]]], None],
        clocks: dict[tuple[str, str], CallClock],
    ) -> None:
        items = tuple(t.obj.item_at(a) for t, a in members)
        batch = FetchBatch(backend_name, location, plan.request.identity, plan.request, items, plan.dialect)
        async with semaphore:
            outcomes = await self._call(self.registry.get(backend_name), batch, clocks)  # type: ignore[arg-type]
        follow_ups = [(t, n) for t, a in members for n in t.record(a, outcomes[t.obj.index])]
        if follow_ups:
            launch(follow_ups)

    async def _call(
        self, backend: Backend, batch: FetchBatch, clocks: dict[tuple[str, str], CallClock]
    ) -> dict[int, Fetched | GatewayError]:
        """One ``fetch_many`` call, with its timeout; every failure becomes a typed per-item error."""
        timer = self.metrics.backend_batch_seconds_by(backend.name)
        try:
            with timer.time():
                async with call_timeout(self.limits.call_timeout) as clock:
                    clocks[(batch.backend, batch.location)] = clock
                    raw = await backend.fetch_many(batch)
        except TimeoutError:
            error: GatewayError = DeadlineExceeded(
                f"no answer from {backend.name} within {self.limits.call_timeout:g}s", reason="CallTimeout"
            )
            return self._all_failed(batch, error)
        except GatewayError as exc:
            return self._all_failed(batch, exc)
        except Exception:
            log.exception("backend %s raised an unexpected exception in fetch_many", backend.name)
            return self._all_failed(batch, Internal(f"backend {backend.name} failed unexpectedly (see provider log)"))
        return self._check_outcomes(backend, batch, raw)

    def _all_failed(self, batch: FetchBatch, error: GatewayError) -> dict[int, Fetched | GatewayError]:
        self.metrics.backend_batches_by(batch.backend, outcome_of(error)).inc()
        return {item.key: error for item in batch.items}

    def _check_outcomes(self, backend: Backend, batch: FetchBatch, raw: object) -> dict[int, Fetched | GatewayError]:
        """Hold the backend to its contract: one well-typed outcome per item, values within limits."""
        expected = {item.key for item in batch.items}
        outcomes: dict[int, Fetched | GatewayError] = {}
        for outcome in raw if isinstance(raw, (list, tuple)) else ():
            if isinstance(outcome, Fetched) and outcome.key in expected:
                outcomes[outcome.key] = self._check_value(backend, outcome)
            elif isinstance(outcome, FetchFailure) and outcome.key in expected and isinstance(outcome.error, GatewayError):
                outcomes[outcome.key] = outcome.error
        for key in expected - outcomes.keys():
            log.error("backend %s returned no valid outcome for item %s", backend.name, key)
            outcomes[key] = Internal(f"backend {backend.name} returned no valid result for this object (plugin bug)")
        failed = sum(isinstance(o, GatewayError) for o in outcomes.values())
        self.metrics.backend_batches_by(batch.backend, OK if not failed else "Partial").inc()
        return outcomes

    def _check_value(self, backend: Backend, fetched: Fetched) -> Fetched | GatewayError:
        if not isinstance(fetched.value, bytes) or not isinstance(fetched.version, str):
            return Internal(f"backend {backend.name} returned a value that is not bytes or a version that is not a string")
        if len(fetched.value) > self.limits.max_value_bytes:
            return ResourceExhausted(
                f"value is {len(fetched.value)} bytes, above the limit of {self.limits.max_value_bytes} bytes per value"
            )
        return fetched


def combine_failures(failures: list[tuple[str, GatewayError]], total: int, shown: int = 3) -> GatewayError:
    """One mount error from ``(label, error)`` per failed object: the most decisive code, the first
    ``shown`` in full detail, every other one named compactly — it ends up in a pod event, so it stays readable."""
    if len(failures) == 1:
        return failures[0][1]
    code = min((f.code for _, f in failures), key=lambda c: CODE_PRECEDENCE.index(c) if c in CODE_PRECEDENCE else 99)
    details = "; ".join(f"[{f.status_name}] {f.message}" for _, f in failures[:shown])
    rest = ", ".join(label for label, _ in failures[shown:])
    more = f"; and {len(failures) - shown} more: {rest}" if rest else ""
    message = f"{len(failures)} of {total} objects failed: {details}{more}"
    return ERROR_CLASSES.get(code, Internal)(message)


def _pending_message(trackers: list[ObjectAttempts], timeout: float | None, clocks: dict[tuple[str, str], CallClock]) -> str:
    """Which objects were still pending, and where — with what a call was waiting for when it was not its backend."""

    def where(tracker: ObjectAttempts) -> str:
        places = []
        for location in tracker.in_flight:
            clock = clocks.get((tracker.obj.backend, location))
            places.append(f"{location}, waiting for {clock.waiting_for}" if clock is not None and clock.waiting_for else location)
        return ", ".join(places) if places else "queued"

    pending = [t for t in trackers if not t.decided]
    names = ", ".join(f"{t.obj.label} ({at(t.obj.backend, where(t))})" for t in pending[:5])
    more = f" and {len(pending) - 5} more" if len(pending) > 5 else ""
    return f"mount deadline of {timeout:.3g}s exceeded; still pending: {names}{more}"
