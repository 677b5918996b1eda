"""Dispatch: fetch every object of a mount, batched per (backend, location).

Each backend's objects are one batch at its primary location (the items are kept with the parse,
see :mod:`gateway.layout`), so a mount whose objects all answer costs one call per backend and no
object per object. Only an object whose primary attempt failed gets an attempt tracker (see
:mod:`gateway.failover`), which schedules follow-up batches at the failover locations; in failover
mode ``all`` every object of a backend with several locations is tracked and asked everywhere at once.
Batches run concurrently up to a per-mount bound. Each backend call has its own timeout; the whole
fetch has the mount's deadline, after which outstanding calls are cancelled and the error names the
objects still pending. The result is all-or-nothing: every object's answer, or one error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from gateway.backend import Backend, BackendRegistry
from gateway.callclock import CallClock, call_timeout
from gateway.errors import CODE_PRECEDENCE, ERROR_CLASSES, DeadlineExceeded, GatewayError, Internal, ResourceExhausted
from gateway.failover import ObjectAttempts
from gateway.layout import layout_of
from gateway.metrics import OK, Metrics, outcome_of
from gateway.model import FailoverMode, FetchBatch, Fetched, FetchFailure, FetchItem, MountPlan
from gateway.settings import BACKEND_TIMEOUT, MAX_PARALLEL_CALLS, MAX_VALUE_BYTES
from gateway.text import at

log = logging.getLogger("gateway.dispatch")

#: an object's value and its version
Answer = tuple[bytes, str]
#: a batch's outcomes, by position of its items
Outcomes = list[Any]  # Answer | GatewayError


class Called(NamedTuple):
    """What one backend call gave: an outcome per item, how many failed, the bytes of the values answered."""

    outcomes: Outcomes
    failed: int
    value_bytes: int


@dataclass(frozen=True)
class DispatchLimits:
    max_parallel_calls: int = MAX_PARALLEL_CALLS.default
    call_timeout: float = BACKEND_TIMEOUT.default
    max_value_bytes: int = MAX_VALUE_BYTES.default


class Fetches:
    """Every object's answer, in plan order, and where it came from."""

    __slots__ = ("_elsewhere", "_plan", "answers", "value_bytes")

    def __init__(self, plan: MountPlan, answers: list[Answer], elsewhere: dict[int, str], value_bytes: int) -> None:
        self._plan = plan
        self._elsewhere = elsewhere
        self.answers = answers
        self.value_bytes = value_bytes  # of all answers

    def location(self, position: int) -> str:
        """Where ``plan.objects[position]`` was fetched: its backend's primary location unless failover found it elsewhere."""
        found = self._elsewhere.get(position)
        return found if found is not None else self._plan.locations[self._plan.objects[position].backend][0]


@dataclass
class _Batch:
    """One backend call to make: ``items`` at ``location``.

    A first batch at the primary location names the plan ``positions`` of its objects (they have no
    tracker yet); any other batch the tracked attempt of each item (``attempts``)."""

    backend: str
    location: str
    positions: Sequence[int]
    items: tuple[FetchItem, ...]
    attempts: list[tuple[ObjectAttempts, int]] | None = None


class Dispatcher:
    def __init__(self, registry: BackendRegistry, metrics: Metrics, limits: DispatchLimits = DispatchLimits()) -> None:
        self.registry = registry
        self.metrics = metrics
        self.limits = limits

    async def fetch_within(self, plan: MountPlan, deadline: asyncio.Timeout, budget: float | None) -> Fetches:
        """Every object of ``plan`` answered (in plan order), or one :class:`GatewayError`.

        ``deadline`` is the caller's (the mount's: one timer for planning and fetching); when it expires
        the error names the objects still pending and ``budget``, the mount's whole deadline in seconds.
        """
        fetch = _MountFetch(self, plan)
        try:
            await fetch.run_all(fetch.first_batches())
        except asyncio.CancelledError:
            if not deadline.expired():
                raise
            raise DeadlineExceeded(fetch.pending_message(budget)) from None
        return fetch.result()

    def backends(self, plan: MountPlan) -> dict[str, Backend]:
        """The backend of each name the plan routes to."""
        backends = {}
        for name in plan.locations:
            backend = self.registry.get(name)
            if backend is None:  # the planner only routes to registered backends
                raise Internal(f"backend {name} is not registered")
            backends[name] = backend
        return backends

    async def call(self, backend: Backend, batch: FetchBatch, clocks: dict[tuple[str, str], CallClock]) -> Called:
        """One backend call with its timeout: an outcome per item (every failure a typed error), and how many failed."""
        timer = self.metrics.backend_batch_seconds_by(backend.name)
        in_order = backend.answers_in_order()
        try:
            with timer.time():
                async with call_timeout(self.limits.call_timeout) as clock:
                    clocks[(batch.backend, batch.location)] = clock
                    raw = await (backend.fetch_in_order(batch) if in_order else backend.fetch_many(batch))
        except TimeoutError:
            error: GatewayError = DeadlineExceeded(
                f"no answer from {backend.name} within {self.limits.call_timeout:g}s", reason="CallTimeout"
            )
            return self._all_failed(batch, error)
        except GatewayError as exc:
            return self._all_failed(batch, exc)
        except Exception:
            log.exception("backend %s raised an unexpected exception while fetching", backend.name)
            return self._all_failed(batch, Internal(f"backend {backend.name} failed unexpectedly (see provider log)"))
        called = self._in_order(backend, batch, raw) if in_order else self._by_key(backend, batch, raw)
        self.metrics.backend_batches_by(batch.backend, OK if not called.failed else "Partial").inc()
        return called

    def _all_failed(self, batch: FetchBatch, error: GatewayError) -> Called:
        self.metrics.backend_batches_by(batch.backend, outcome_of(error)).inc()
        return Called([error] * len(batch.items), len(batch.items), 0)

    def _in_order(self, backend: Backend, batch: FetchBatch, raw: object) -> Called:
        """``fetch_in_order``'s outcomes held to the contract: one per item, in order, values within limits."""
        count = len(batch.items)
        if not isinstance(raw, (list, tuple)) or len(raw) != count:
            log.error("backend %s returned %s outcomes for %d items", backend.name, len(raw) if isinstance(raw, (list, tuple)) else "no", count)
            return Called([_no_valid_result(backend)] * count, count, 0)
        outcomes: Outcomes = list(raw)
        limit = self.limits.max_value_bytes
        failed = total = 0
        for position, outcome in enumerate(outcomes):
            if isinstance(outcome, tuple) and len(outcome) == 2:
                value, version = outcome
                if isinstance(value, bytes) and isinstance(version, str) and (size := len(value)) <= limit:
                    total += size
                    continue
                outcomes[position] = self._checked(backend, value, version)
            elif isinstance(outcome, FetchFailure) and isinstance(outcome.error, GatewayError):
                outcomes[position] = outcome.error
            else:
                outcomes[position] = _no_valid_result(backend)
            failed += 1
        return Called(outcomes, failed, total)

    def _by_key(self, backend: Backend, batch: FetchBatch, raw: object) -> Called:
        """``fetch_many``'s outcomes held to the contract: one well-typed outcome per item key, values within limits."""
        positions = {item.key: position for position, item in enumerate(batch.items)}
        outcomes: Outcomes = [None] * len(positions)
        for outcome in raw if isinstance(raw, (list, tuple)) else ():
            if isinstance(outcome, Fetched) and outcome.key in positions:
                outcomes[positions[outcome.key]] = self._checked(backend, outcome.value, outcome.version)
            elif isinstance(outcome, FetchFailure) and outcome.key in positions and isinstance(outcome.error, GatewayError):
                outcomes[positions[outcome.key]] = outcome.error
        for key, position in positions.items():
            if outcomes[position] is None:
                log.error("backend %s returned no valid outcome for item %s", backend.name, key)
                outcomes[position] = _no_valid_result(backend)
        answered = [outcome[0] for outcome in outcomes if not isinstance(outcome, GatewayError)]
        return Called(outcomes, len(outcomes) - len(answered), sum(map(len, answered)))

    def _checked(self, backend: Backend, value: object, version: object) -> Answer | GatewayError:
        if not isinstance(value, bytes) or not isinstance(version, str):
            return Internal(f"backend {backend.name} returned a value that is not bytes or a version that is not a string")
        if len(value) > self.limits.max_value_bytes:
            return ResourceExhausted(
                f"value is {len(value)} bytes, above the limit of {self.limits.max_value_bytes} bytes per value"
            )
        return value, version


def _no_valid_result(backend: Backend) -> GatewayError:
    return Internal(f"backend {backend.name} returned no valid result for this object (plugin bug)")


class _MountFetch:
    """The fetch of one mount: its batches, its answers, the trackers of objects that needed more than their primary."""

    def __init__(self, dispatcher: Dispatcher, plan: MountPlan) -> None:
        self.dispatcher = dispatcher
        self.plan = plan
        self.backends = dispatcher.backends(plan)
        self.answers: list[Any] = [None] * len(plan.objects)
        self.trackers: dict[int, ObjectAttempts] = {}
        self.value_bytes = 0
        self.semaphore = asyncio.Semaphore(dispatcher.limits.max_parallel_calls)
        self.clocks: dict[tuple[str, str], CallClock] = {}  # (backend, location) -> its call's clock, to name a wait

    def first_batches(self) -> list[_Batch]:
        """Each backend's objects at its primary location; with failover mode ``all``, at every location."""
        batches, tracked = [], []
        for group in layout_of(self.plan).backends:
            locations = self.plan.locations[group.backend]
            if self.plan.failover_mode is FailoverMode.ALL and len(locations) > 1:
                tracked += [(tracker, attempt) for tracker in map(self._track, group.positions) for attempt in tracker.start()]
            else:
                batches.append(_Batch(group.backend, locations[0], group.positions, group.items))
        return batches + self._batches(tracked)

    async def run_all(self, batches: list[_Batch]) -> None:
        """Run ``batches`` and every follow-up they lead to.

        While there is one batch at a time (the common mount: one backend, no failover), it runs in this task:
        no task to schedule and wake, and no reference cycle (task group, task, ``launch``) left for the collector."""
        while len(batches) == 1:
            batches = await self._run(batches[0])
        if not batches:
            return
        async with asyncio.TaskGroup() as group:

            def launch(found: list[_Batch]) -> None:
                for batch in found:
                    group.create_task(self._run_then(batch, launch))

            launch(batches)

    async def _run_then(self, batch: _Batch, launch: Callable[[list[_Batch]], None]) -> None:
        follow_ups = await self._run(batch)
        if follow_ups:
            launch(follow_ups)

    async def _run(self, batch: _Batch) -> list[_Batch]:
        """One batch; returns the follow-up batches its failures call for."""
        request = self.plan.request
        call = FetchBatch(batch.backend, batch.location, request.identity, request, batch.items, self.plan.dialect)
        async with self.semaphore:
            outcomes, failed, value_bytes = await self.dispatcher.call(self.backends[batch.backend], call, self.clocks)
        if batch.attempts is not None:
            follow_ups = [(t, n) for (t, attempt), outcome in zip(batch.attempts, outcomes, strict=True) for n in t.record(attempt, outcome)]
            return self._batches(follow_ups)
        answers = self.answers
        self.value_bytes += value_bytes
        if not failed:
            for position, outcome in zip(batch.positions, outcomes, strict=True):
                answers[position] = outcome
            return []
        follow_ups = []
        for position, outcome in zip(batch.positions, outcomes, strict=True):
            if isinstance(outcome, GatewayError):
                tracker = self._track(position)
                tracker.launched.add(0)
                follow_ups += [(tracker, n) for n in tracker.record(0, outcome)]
            else:
                answers[position] = outcome
        return self._batches(follow_ups)

    def _track(self, position: int) -> ObjectAttempts:
        obj = self.plan.objects[position]
        backend = self.backends[obj.backend]
        tracker = ObjectAttempts(obj, self.plan.locations[obj.backend], self.plan.failover_mode, backend.location_noun, backend.all_locations_failed)
        self.trackers[position] = tracker
        return tracker

    def _batches(self, requests: list[tuple[ObjectAttempts, int]]) -> list[_Batch]:
        """Tracked attempts grouped per (backend, location), in order; failover attempts counted."""
        grouped: dict[tuple[str, str], list[tuple[ObjectAttempts, int]]] = {}
        for tracker, attempt in requests:
            grouped.setdefault((tracker.obj.backend, tracker.locations[attempt]), []).append((tracker, attempt))
            if attempt > 0:
                self.dispatcher.metrics.failovers.labels(backend=tracker.obj.backend).inc()
        return [
            _Batch(backend, location, (), tuple(t.obj.item_at(a) for t, a in members), members)
            for (backend, location), members in grouped.items()
        ]

    def result(self) -> Fetches:
        """Every answer, or one error naming every object that failed."""
        failures = [(t.obj.label, t.failure) for _, t in sorted(self.trackers.items()) if t.failure is not None]
        if failures:
            raise combine_failures(failures, len(self.answers))
        elsewhere = {}
        value_bytes = self.value_bytes  # of the answers at the primary, and then the trackers' answers
        for position, tracker in self.trackers.items():
            assert tracker.answer is not None
            self.answers[position], elsewhere[position] = tracker.answer
            value_bytes += len(tracker.answer[0][0])
        return Fetches(self.plan, self.answers, elsewhere, value_bytes)

    def pending_message(self, timeout: float | None) -> str:
        """Which objects were still pending, and where — with what a call was waiting for when it was not its backend."""

        def where(position: int) -> str:
            obj = self.plan.objects[position]
            tracker = self.trackers.get(position)
            in_flight = tracker.in_flight if tracker is not None else [self.plan.locations[obj.backend][0]]
            places = []
            for location in in_flight:
                clock = self.clocks.get((obj.backend, location))
                places.append(f"{location}, waiting for {clock.waiting_for}" if clock is not None and clock.waiting_for else location)
            return ", ".join(places) if places else "queued"

        pending = [
            position for position, answer in enumerate(self.answers)
            if answer is None and (position not in self.trackers or not self.trackers[position].decided)
        ]
        names = ", ".join(f"{self.plan.objects[p].label} ({at(self.plan.objects[p].backend, where(p))})" for p in pending[:5])
        more = f" and {len(pending) - 5} more" if len(pending) > 5 else ""
        return f"mount deadline of {timeout:.3g}s exceeded; still pending: {names}{more}"


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
