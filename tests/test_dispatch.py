"""Dispatch: batching per (backend, location), concurrency, deadlines, failover, contract checks."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from gateway.backend import Backend
from gateway.cache import CacheSettings, CachingBackend
from gateway.dispatch import Dispatcher, DispatchLimits, Fetches
from gateway.errors import DeadlineExceeded, Internal, InvalidArgument, NotFound, PermissionDenied, ResourceExhausted, Unavailable
from gateway.metrics import Metrics
from gateway.model import FetchBatch, Fetched, FetchFailure, FetchOutcome, MountPlan
from gateway.plugin import outside_call_timeout
from tests.support import ScriptedBackend, plan_for, registry_of

TWO_REGIONS = ("us-east-1", "us-west-2")


def objects(count: int, backend: str = "a", prefix: str = "o") -> str:
    return "".join(f"- {{objectName: {prefix}{i}, objectType: {backend}}}\n" for i in range(count))


async def fetch_in_time(dispatcher: Dispatcher, plan: MountPlan, timeout: float | None) -> Fetches:
    """The dispatcher's entry point as the mount drives it: within a deadline of ``timeout`` seconds."""
    async with asyncio.timeout(timeout) as deadline:
        return await dispatcher.fetch_within(plan, deadline, timeout)


async def fetch(registry, text: str, timeout: float | None = 5.0, limits: DispatchLimits = DispatchLimits(), **kw):  # type: ignore[no-untyped-def]
    metrics = Metrics()
    result = await fetch_in_time(Dispatcher(registry, metrics, limits), plan_for(text, registry, **kw), timeout)
    return result, metrics


async def test_one_batch_per_backend_and_location() -> None:
    a = ScriptedBackend(name="a", values={f"o{i}": (b"x", "1") for i in range(10)})
    b = ScriptedBackend(name="b", values={f"p{i}": (b"y", "2") for i in range(5)})
    resolved, _ = await fetch(registry_of(a, b), objects(10, "a") + objects(5, "b", prefix="p"))
    assert len(a.batches) == 1 and len(a.batches[0].items) == 10
    assert len(b.batches) == 1
    assert resolved.answers == [(b"x", "1")] * 10 + [(b"y", "2")] * 5


async def test_all_or_nothing_with_every_failure_named() -> None:
    a = ScriptedBackend(name="a", values={"o0": (b"x", "1")}, errors={"o2": PermissionDenied("AccessDenied")})
    with pytest.raises(PermissionDenied) as caught:
        await fetch(registry_of(a), objects(3))
    message = caught.value.message
    assert message.startswith("2 of 3 objects failed: ")
    assert 'objects[1] "o1" (a @ here): no object "o1"' in message and 'objects[2] "o2" (a @ here): AccessDenied' in message


@pytest.mark.parametrize(
    ("failing", "detailed", "tail"),
    [
        pytest.param(2, 2, "", id="two-all-detailed"),
        pytest.param(3, 3, "", id="three-all-detailed"),
        pytest.param(10, 3, '; and 7 more: objects[4] "o4", objects[5] "o5", objects[6] "o6", objects[7] "o7", '
                     'objects[8] "o8", objects[9] "o9", objects[10] "o10"', id="ten-every-name-listed"),
    ],
)
async def test_combined_error_names_every_failing_object(failing: int, detailed: int, tail: str) -> None:
    a = ScriptedBackend(name="a", values={"o0": (b"x", "1")})
    with pytest.raises(NotFound) as caught:
        await fetch(registry_of(a), objects(failing + 1))
    message = caught.value.message
    assert message.startswith(f"{failing} of {failing + 1} objects failed: ")
    assert message.count("[NotFound]") == detailed
    assert message.endswith(tail)


@pytest.mark.parametrize(
    ("errors", "expected"),
    [
        pytest.param([Unavailable("u"), NotFound("n")], NotFound, id="not-found-beats-unavailable"),
        pytest.param([NotFound("n"), InvalidArgument("i")], InvalidArgument, id="invalid-beats-all"),
        pytest.param([Unavailable("u"), DeadlineExceeded("d")], DeadlineExceeded, id="deadline-beats-unavailable"),
    ],
)
async def test_code_precedence(errors, expected) -> None:  # type: ignore[no-untyped-def]
    a = ScriptedBackend(name="a", errors={f"o{i}": e for i, e in enumerate(errors)})
    with pytest.raises(expected):
        await fetch(registry_of(a), objects(len(errors)))


class BarrierBackend(Backend):
    """Every batch waits until ``parties`` batches are in flight: proves concurrency without clocks."""

    def __init__(self, name: str, barrier: asyncio.Barrier, counter: dict[str, int]) -> None:
        self.name = name
        self.barrier = barrier
        self.counter = counter

    async def fetch_many(self, batch: FetchBatch) -> Sequence[FetchOutcome]:
        self.counter["now"] += 1
        self.counter["max"] = max(self.counter["max"], self.counter["now"])
        try:
            await self.barrier.wait()
        finally:
            self.counter["now"] -= 1
        return [Fetched(item.key, b"v", "1") for item in batch.items]


async def test_backends_are_fetched_concurrently() -> None:
    counter = {"now": 0, "max": 0}
    barrier = asyncio.Barrier(4)
    registry = registry_of(*(BarrierBackend(f"b{i}", barrier, counter) for i in range(4)))
    text = "".join(f"- {{objectName: x{i}, objectType: b{i}}}\n" for i in range(4))
    resolved, _ = await fetch(registry, text, timeout=10)
    assert len(resolved.answers) == 4 and counter["max"] == 4


async def test_concurrency_is_bounded() -> None:
    counter = {"now": 0, "max": 0}
    barrier = asyncio.Barrier(2)
    registry = registry_of(*(BarrierBackend(f"b{i}", barrier, counter) for i in range(6)))
    text = "".join(f"- {{objectName: x{i}, objectType: b{i}}}\n" for i in range(6))
    resolved, _ = await fetch(registry, text, timeout=10, limits=DispatchLimits(max_parallel_calls=2))
    assert len(resolved.answers) == 6 and counter["max"] == 2


async def test_failover_after_retryable_error_only() -> None:
    a = ScriptedBackend(
        name="a",
        values={("us-west-2", "o0"): (b"west", "w1"), ("us-west-2", "o1"): (b"west", "w1"), ("us-east-1", "o1"): (b"east", "e1")},
        errors={("us-east-1", "o0"): Unavailable("503")},
    )
    resolved, metrics = await fetch(registry_of(a), objects(2), locations={"a": TWO_REGIONS})
    assert [(value, resolved.location(i)) for i, (value, _) in enumerate(resolved.answers)] == [(b"west", "us-west-2"), (b"east", "us-east-1")]
    assert a.calls("us-east-1") == 1 and a.calls("us-west-2") == 1
    assert [item.key for item in a.batches[1].items] == [0]  # only the failed object goes to the failover region
    assert metrics.failovers.labels(backend="a")._value.get() == 1


async def test_healthy_primary_never_touches_the_failover_region() -> None:
    a = ScriptedBackend(name="a", values={f"o{i}": (b"x", "1") for i in range(5)})
    await fetch(registry_of(a), objects(5), locations={"a": TWO_REGIONS})
    assert a.calls("us-west-2") == 0


async def test_all_mode_queries_every_region_like_ascp() -> None:
    a = ScriptedBackend(name="a", values={"o0": (b"x", "1")})
    resolved, _ = await fetch(registry_of(a), objects(1), locations={"a": TWO_REGIONS}, failoverMode="all")
    assert a.calls("us-east-1") == 1 and a.calls("us-west-2") == 1 and resolved.location(0) == "us-east-1"


async def test_mount_deadline_names_pending_objects() -> None:
    slow = ScriptedBackend(name="slow", delay=30, values={"o0": (b"x", "1")})
    fast = ScriptedBackend(name="fast", values={"f0": (b"x", "1")})
    text = objects(2, "slow") + "- {objectName: f0, objectType: fast}\n"
    with pytest.raises(DeadlineExceeded) as caught:
        await fetch(registry_of(slow, fast), text, timeout=0.2)
    assert caught.value.message == (
        'mount deadline of 0.2s exceeded; still pending: objects[0] "o0" (slow @ here), objects[1] "o1" (slow @ here)'
    )
    assert slow.in_flight == 0  # the outstanding call was cancelled


async def test_a_lone_slow_batch_is_cut_by_the_mount_deadline() -> None:
    slow = ScriptedBackend(name="slow", delay=30, values={"o0": (b"x", "1")})
    with pytest.raises(DeadlineExceeded) as caught:
        await fetch(registry_of(slow), objects(1, "slow"), timeout=0.2)
    assert caught.value.message == 'mount deadline of 0.2s exceeded; still pending: objects[0] "o0" (slow @ here)'
    assert slow.in_flight == 0


@dataclass
class TaskRecordingBackend(ScriptedBackend):
    tasks: list[asyncio.Task[object] | None] = field(default_factory=list)

    async def fetch_many(self, batch: FetchBatch) -> Sequence[FetchOutcome]:
        self.tasks.append(asyncio.current_task())
        return await super().fetch_many(batch)


async def test_one_batch_at_a_time_runs_in_the_callers_task_and_leaves_no_cycle() -> None:
    """The common mount (one backend) and a failover to one location schedule no task; a healthy one
    leaves nothing for the cyclic collector (its request and plan are freed at once)."""
    a = TaskRecordingBackend(name="a", values={("us-west-2", "o0"): (b"west", "w1")}, errors={("us-east-1", "o0"): Unavailable("503")})
    resolved, _ = await fetch(registry_of(a), objects(1), locations={"a": TWO_REGIONS})
    assert resolved.location(0) == "us-west-2" and a.tasks == [asyncio.current_task()] * 2
    healthy = TaskRecordingBackend(name="a", values={"o0": (b"x", "1")})
    registry = registry_of(healthy)
    plan = plan_for(objects(1), registry)
    dispatcher = Dispatcher(registry, Metrics())
    await fetch_in_time(dispatcher, plan, 5.0)
    gc.collect()
    gc.disable()
    try:
        await fetch_in_time(dispatcher, plan, 5.0)
        assert gc.collect() == 0
    finally:
        gc.enable()


async def test_per_call_timeout_is_retryable_and_fails_over() -> None:
    a = ScriptedBackend(name="a", values={"o0": (b"x", "1")})

    class SlowPrimary(ScriptedBackend):
        async def fetch_many(self, batch: FetchBatch) -> Sequence[FetchOutcome]:
            if batch.location == "us-east-1":
                await asyncio.sleep(30)
            return await super().fetch_many(batch)

    slow = SlowPrimary(name="a", values=a.values)
    resolved, _ = await fetch(registry_of(slow), objects(1), locations={"a": TWO_REGIONS}, limits=DispatchLimits(call_timeout=0.1))
    assert resolved.location(0) == "us-west-2"


@dataclass
class WaitsElsewhere(ScriptedBackend):
    """Waits ``elsewhere`` seconds for another service (a Kubernetes read) before its own work."""

    elsewhere: float = 0.0
    outside: bool = True

    async def fetch_many(self, batch: FetchBatch) -> Sequence[FetchOutcome]:
        if self.outside:
            async with outside_call_timeout():
                await asyncio.sleep(self.elsewhere)
        else:
            await asyncio.sleep(self.elsewhere)
        return await super().fetch_many(batch)


@pytest.mark.parametrize("cached", [pytest.param(False, id="direct"), pytest.param(True, id="through-the-fetch-cache")])
@pytest.mark.parametrize(
    ("outside", "expected"),
    [
        pytest.param(True, "ok", id="a-wait-outside-the-call-timeout-is-not-charged"),
        pytest.param(False, 'objects[0] "o0" (a @ here): no answer from a within 0.05s', id="the-same-wait-inside-it-is"),
    ],
)
async def test_outside_call_timeout_stops_the_backend_timeout(cached: bool, outside: bool, expected: str) -> None:
    backend: Backend = WaitsElsewhere(name="a", values={"o0": (b"x", "1")}, elsewhere=0.3, outside=outside)
    if cached:
        backend = CachingBackend(backend, CacheSettings(ttl=30), Metrics(), call_timeout=0.05)
    try:
        resolved, _ = await fetch(registry_of(backend), objects(1), limits=DispatchLimits(call_timeout=0.05))
        outcome = "ok" if resolved.answers[0][0] == b"x" else "wrong value"
    except DeadlineExceeded as exc:
        outcome = exc.message
    assert outcome == expected


async def test_a_mount_deadline_during_a_wait_elsewhere_names_it() -> None:
    @dataclass
    class WaitsForKubernetes(ScriptedBackend):
        async def fetch_many(self, batch: FetchBatch) -> Sequence[FetchOutcome]:
            async with outside_call_timeout("the Kubernetes API"):
                await asyncio.sleep(30)
            return await super().fetch_many(batch)

    with pytest.raises(DeadlineExceeded) as caught:
        await fetch(registry_of(WaitsForKubernetes(name="a")), objects(1), timeout=0.2)
    assert caught.value.message == 'mount deadline of 0.2s exceeded; still pending: objects[0] "o0" (a @ here, waiting for the Kubernetes API)'


async def test_outside_call_timeout_without_a_call_is_a_no_op() -> None:
    async with outside_call_timeout():
        await asyncio.sleep(0)


@pytest.mark.parametrize(
    ("backend", "error", "message"),
    [
        pytest.param(ScriptedBackend(name="a", raises=RuntimeError("secret-in-crash")), Internal,
                     "backend a failed unexpectedly (see provider log)", id="crash"),
        pytest.param(ScriptedBackend(name="a", raises=PermissionDenied("login refused")), PermissionDenied, "login refused", id="batch-error"),
        pytest.param(ScriptedBackend(name="a", values={"o0": (b"x" * 11, "1")}), ResourceExhausted,
                     "value is 11 bytes, above the limit of 10 bytes per value", id="value-too-large"),
        pytest.param(ScriptedBackend(name="a", values={"o0": ("text", "1")}), Internal, "not bytes", id="value-not-bytes"),
    ],
)
async def test_backend_failures_become_typed_errors(backend, error, message, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.ERROR)
    with pytest.raises(error) as caught:
        await fetch(registry_of(backend), objects(1), limits=DispatchLimits(max_value_bytes=10))
    assert message in caught.value.message
    assert "secret-in-crash" not in caught.value.message


async def test_missing_outcome_is_a_plugin_bug() -> None:
    class Forgetful(ScriptedBackend):
        async def fetch_many(self, batch: FetchBatch) -> Sequence[FetchOutcome]:
            return [Fetched(999, b"x", "1")]

    with pytest.raises(Internal, match="returned no valid result"):
        await fetch(registry_of(Forgetful(name="a")), objects(1))


@dataclass
class InOrder(ScriptedBackend):
    """Answers through ``fetch_in_order``: the script's outcomes by position, or ``raw`` as it is."""

    raw: object = None

    async def fetch_many(self, batch: FetchBatch) -> Sequence[FetchOutcome]:
        raise AssertionError("the dispatcher calls fetch_in_order when a backend implements it")

    async def fetch_in_order(self, batch: FetchBatch) -> Sequence[tuple[bytes, str] | FetchFailure]:
        self.batches.append(batch)
        if self.raw is not None:
            return self.raw  # type: ignore[return-value]
        outcomes = [self._one(batch.location, item.key, item.ref.name, item.ref.version) for item in batch.items]
        return [(o.value, o.version) if isinstance(o, Fetched) else o for o in outcomes]


@pytest.mark.parametrize(
    ("raw", "error", "message"),
    [
        pytest.param([], Internal, "returned no valid result for this object (plugin bug)", id="fewer-outcomes-than-items"),
        pytest.param([(b"x", "1"), (b"y", "1")], Internal, "returned no valid result", id="more-outcomes-than-items"),
        pytest.param(((b"x", "1") for _ in range(1)), Internal, "returned no valid result", id="not-a-sequence"),
        pytest.param([("text", "1")], Internal, "a value that is not bytes or a version that is not a string", id="value-not-bytes"),
        pytest.param([(b"x", 1)], Internal, "a value that is not bytes or a version that is not a string", id="version-not-text"),
        pytest.param([(b"x" * 11, "1")], ResourceExhausted, "value is 11 bytes, above the limit of 10 bytes per value", id="value-too-large"),
        pytest.param([(b"x", "1", "extra")], Internal, "returned no valid result", id="triple"),
        pytest.param([FetchFailure(0, NotFound("no such secret"))], NotFound, "no such secret", id="typed-failure"),
        pytest.param([FetchFailure(0, KeyError("x"))], Internal, "returned no valid result", id="untyped-failure"),  # type: ignore[arg-type]
        pytest.param([Fetched(0, b"x", "1")], Internal, "returned no valid result", id="fetched-is-fetch-many-s-type"),
    ],
)
async def test_in_order_outcomes_are_held_to_the_contract(raw: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as caught:
        await fetch(registry_of(InOrder(name="a", raw=raw)), objects(1), limits=DispatchLimits(max_value_bytes=10))
    assert message in caught.value.message and caught.value.message.startswith('objects[0] "o0" (a @ here): ')  # type: ignore[attr-defined]


async def test_in_order_answers_fail_over_per_object_and_count_one_batch_per_call() -> None:
    a = InOrder(
        name="a",
        values={"o0": (b"east", "e"), "o2": (b"east", "e"), ("us-west-2", "o1"): (b"west", "w")},
        errors={("us-east-1", "o1"): Unavailable("503")},
    )
    resolved, metrics = await fetch(registry_of(a), objects(3), locations={"a": TWO_REGIONS})
    assert resolved.answers == [(b"east", "e"), (b"west", "w"), (b"east", "e")]
    assert [resolved.location(i) for i in range(3)] == ["us-east-1", "us-west-2", "us-east-1"]
    assert [(b.location, [item.key for item in b.items]) for b in a.batches] == [("us-east-1", [0, 1, 2]), ("us-west-2", [1])]
    assert resolved.value_bytes == 12
    batches = {labels: metrics.registry.get_sample_value("secrets_gateway_backend_batches_total", {"backend": "a", "outcome": labels})
               for labels in ("OK", "Partial")}
    assert batches == {"OK": 1.0, "Partial": 1.0} and metrics.failovers.labels(backend="a")._value.get() == 1


async def test_objects_of_several_backends_keep_plan_order() -> None:
    a, b = InOrder(name="a", default=(b"a", "1")), ScriptedBackend(name="b", default=(b"b", "2"))
    text = "".join(f"- {{objectName: o{i}, objectType: {'ab'[i % 2]}}}\n" for i in range(6))
    resolved, _ = await fetch(registry_of(a, b), text)
    assert resolved.answers == [(b"a", "1"), (b"b", "2")] * 3
