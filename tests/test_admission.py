"""Mount admission under load, over the real unix socket: every RPC reaches the service or is
answered an explicit, counted, logged Unavailable; slots are shared fairly between namespaces.

Counts, not timers: a gated backend holds every mount until the test has seen the state it
wants (how many run, per namespace, and how many wait), then lets them all finish.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import grpc
import pytest

from gateway.admission import AdmissionLimits, FairAdmission, Overloaded
from gateway.client import MountFailure
from gateway.model import FetchBatch, FetchOutcome
from gateway.settings import Settings
from gateway.testing import PodContext, RunningGateway, mount_request, running_gateway
from tests.support import ScriptedBackend


@dataclass
class GatedBackend(ScriptedBackend):
    """Holds every batch until ``gate`` opens; counts running batches per namespace."""

    gate: asyncio.Event = field(default_factory=asyncio.Event)
    running: Counter[str] = field(default_factory=Counter)

    async def fetch_many(self, batch: FetchBatch) -> Sequence[FetchOutcome]:
        namespace = batch.identity.namespace
        self.running[namespace] += 1
        try:
            await self.gate.wait()
            return await super().fetch_many(batch)
        finally:
            self.running[namespace] -= 1


def gated() -> GatedBackend:
    return GatedBackend(name="fake", values={"c": (b"v", "1")})


def settings(capacity: int, per_namespace: int, queued: int) -> Settings:
    return Settings(max_concurrent_mounts=capacity, max_mounts_per_namespace=per_namespace, max_queued_mounts=queued,
                    mount_timeout=100)


async def outcome(gw: RunningGateway, namespace: str, index: int = 0) -> str:
    pod = PodContext(name=f"pod-{index}", namespace=namespace, service_account="app")
    try:
        await gw.mount(mount_request([{"objectName": "c", "objectType": "fake"}], pod=pod), timeout=100)
    except MountFailure as failure:
        return failure.code_name
    return "OK"


def sample(gw: RunningGateway, name: str, **labels: str) -> float:
    return gw.metrics.registry.get_sample_value(name, {"provider": "secrets-gateway", **labels}) or 0.0


async def until(condition: Callable[[], bool]) -> None:
    """Wait (bounded by the test timeout) until ``condition()`` holds."""
    while not condition():
        await asyncio.sleep(0.01)


def launch(gw: RunningGateway, namespace: str, count: int) -> list[asyncio.Task[str]]:
    return [asyncio.create_task(outcome(gw, namespace, i)) for i in range(count)]


async def test_fifteen_hundred_simultaneous_rpcs_on_one_connection_all_reach_the_service() -> None:
    backend = gated()
    async with running_gateway(backends=[backend], settings=settings(64, 64, 2000)) as gw:
        tasks = launch(gw, "apps", 1500)
        await until(lambda: sum(backend.running.values()) == 64 and sample(gw, "secrets_gateway_mounts_queued") == 1436)
        backend.gate.set()
        results = Counter(await asyncio.gather(*tasks))
        handled_ok = gw.metrics.registry.get_sample_value("grpc_server_handled_total", {
            "grpc_type": "unary", "grpc_service": "v1alpha1.CSIDriverProvider", "grpc_method": "Mount", "grpc_code": "OK"})
    assert results == {"OK": 1500}
    assert handled_ok == 1500


async def test_a_full_queue_is_answered_unavailable_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.mount")
    backend = gated()
    async with running_gateway(backends=[backend], settings=settings(4, 4, 10)) as gw:
        tasks = launch(gw, "apps", 30)
        await until(lambda: sample(gw, "secrets_gateway_mounts_rejected_total", reason="overloaded") == 16)
        assert sum(backend.running.values()) == 4 and sample(gw, "secrets_gateway_mounts_queued") == 10
        backend.gate.set()
        results = Counter(await asyncio.gather(*tasks))
        unavailable = sample(gw, "secrets_gateway_mounts_total", outcome="Unavailable")
    assert results == {"OK": 14, "Unavailable": 16}
    assert unavailable == 16
    overloaded = [r for r in caplog.records if "overloaded" in getattr(r, "mount_fields", {}).get("error", "")]
    assert len(overloaded) == 16 and all(r.mount_fields["namespace"] == "apps" for r in overloaded)  # type: ignore[attr-defined]


async def noisy_burst(gw: RunningGateway, backend: GatedBackend, count: int, running: int) -> list[asyncio.Task[str]]:
    """``count`` mounts from namespace "noisy"; returns once ``running`` run and the rest wait."""
    burst = launch(gw, "noisy", count)
    await until(lambda: backend.running["noisy"] == running and sample(gw, "secrets_gateway_mounts_queued") == count - running)
    return burst


async def test_one_namespaces_burst_leaves_slots_for_another() -> None:
    backend = gated()
    async with running_gateway(backends=[backend], settings=settings(4, 2, 100)) as gw:
        burst = await noisy_burst(gw, backend, 10, running=2)
        victim = launch(gw, "quiet", 2)
        await until(lambda: backend.running["quiet"] == 2)
        assert backend.running["noisy"] == 2 and sample(gw, "secrets_gateway_mounts_queued") == 8
        backend.gate.set()
        assert Counter(await asyncio.gather(*burst, *victim)) == {"OK": 12}


async def test_a_full_queue_sheds_the_namespace_queueing_the_most() -> None:
    backend = gated()
    async with running_gateway(backends=[backend], settings=settings(2, 2, 4)) as gw:
        burst = await noisy_burst(gw, backend, 6, running=2)
        victim = launch(gw, "quiet", 1)
        await until(lambda: sample(gw, "secrets_gateway_mounts_rejected_total", reason="overloaded") == 1)
        backend.gate.set()
        assert Counter(await asyncio.gather(*burst)) == {"OK": 5, "Unavailable": 1}
        assert await victim[0] == "OK"


# --------------------------------------------------------------------------- the admission itself


async def test_a_freed_slot_goes_to_the_namespace_running_the_fewest() -> None:
    admission = FairAdmission(AdmissionLimits(capacity=2, per_namespace=2, max_queued=10))
    await admission.acquire("a")
    await admission.acquire("a")
    a_waits = asyncio.create_task(admission.acquire("a"))
    await asyncio.sleep(0)
    b_waits = asyncio.create_task(admission.acquire("b"))
    await asyncio.sleep(0)
    admission.release("a")
    await b_waits
    assert not a_waits.done() and admission.running == {"a": 1, "b": 1}
    admission.release("b")
    await a_waits
    assert admission.running == {"a": 2} and admission.queued == 0


async def test_a_waiter_that_gives_up_leaves_no_trace() -> None:
    admission = FairAdmission(AdmissionLimits(capacity=1, per_namespace=1, max_queued=10))
    await admission.acquire("a")
    waiting = asyncio.create_task(admission.acquire("a"))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert admission.queued == 0
    admission.release("a")
    assert admission.in_use == 0


async def test_a_slot_granted_to_a_caller_that_just_gave_up_is_handed_on() -> None:
    admission = FairAdmission(AdmissionLimits(capacity=1, per_namespace=1, max_queued=10))
    await admission.acquire("a")
    first = asyncio.create_task(admission.acquire("a"))
    second = asyncio.create_task(admission.acquire("b"))
    await asyncio.sleep(0)
    admission.release("a")  # grants ``first``, which is cancelled before it runs
    first.cancel()
    await second
    assert admission.running == {"b": 1} and admission.queued == 0


def test_overloaded_is_retryable_unavailable() -> None:
    error = Overloaded("x")
    assert error.code == grpc.StatusCode.UNAVAILABLE and error.retryable


async def test_try_acquire_takes_a_free_slot_and_never_waits() -> None:
    admission = FairAdmission(AdmissionLimits(capacity=2, per_namespace=1, max_queued=10))
    assert admission.try_acquire("a") and admission.running == {"a": 1}
    assert not admission.try_acquire("a")  # the namespace's share is taken: the caller must queue
    waiting = asyncio.create_task(admission.acquire("a"))
    await asyncio.sleep(0)
    assert admission.try_acquire("b") and not admission.try_acquire("c")  # the last slot, then none
    assert admission.queued == 1 and admission.in_use == 2
    admission.release("a")
    await waiting
    assert admission.running == {"a": 1, "b": 1} and admission.queued == 0
