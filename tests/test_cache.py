"""The node-local fetch cache: identity-scoped, TTL-bound, size-bound, with singleflight."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from gateway.backend import Backend
from gateway.cache import CacheSettings, CachingBackend
from gateway.errors import PermissionDenied, Unavailable
from gateway.metrics import Metrics
from gateway.model import FetchBatch, Fetched, FetchFailure, FetchOutcome
from gateway.settings import Settings
from gateway.testing import PodContext, mount_request, start_gateway

OBJECTS = [{"objectName": "db", "objectType": "acl"}]


@dataclass
class AclBackend(Backend):
    """Answers ``<value>`` to allowed service accounts, PermissionDenied to the others; counts calls."""

    name: str = "acl"
    value: bytes = b"v1"
    allowed: set[str] = field(default_factory=lambda: {"app"})
    delay: float = 0.0
    calls: int = 0
    in_flight: int = 0
    default_location: str = "here"

    async def fetch_many(self, batch: FetchBatch) -> Sequence[FetchOutcome]:
        self.calls += 1
        if self.delay:
            self.in_flight += 1
            try:
                await asyncio.sleep(self.delay)
            finally:
                self.in_flight -= 1
        if batch.identity.service_account not in self.allowed:
            return [FetchFailure(i.key, PermissionDenied(f"{batch.identity.subject} may not read {i.ref.name}")) for i in batch.items]
        return [Fetched(i.key, self.value + b":" + i.ref.name.encode(), "1") for i in batch.items]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def gateway_for(backend: AclBackend, ttl: float = 30, **settings: object):  # type: ignore[no-untyped-def]
    return start_gateway(backends=[backend], settings=Settings(cache_ttl=ttl, **settings))  # type: ignore[arg-type]


def pod(service_account: str, name: str = "p") -> PodContext:
    return PodContext(name=name, namespace="apps", service_account=service_account, tokens={"aud": f"token-of-{name}"})


async def mount(gateway, service_account: str, name: str = "p", **parameters: str):  # type: ignore[no-untyped-def]
    return await gateway.service.mount(mount_request(OBJECTS, parameters, pod=pod(service_account, name)))


async def test_cache_is_off_by_default() -> None:
    backend = AclBackend()
    gateway = gateway_for(backend, ttl=0)
    assert gateway.backends.get("acl") is backend
    await mount(gateway, "app")
    await mount(gateway, "app")
    assert backend.calls == 2


async def test_pods_of_one_identity_share_entries_but_never_across_identities() -> None:
    backend = AclBackend()
    gateway = gateway_for(backend)
    for replica in range(5):
        assert (await mount(gateway, "app", name=f"web-{replica}")).files[0].contents == b"v1:db"
    assert backend.calls == 1  # five pods, different tokens, same identity
    with pytest.raises(PermissionDenied):
        await mount(gateway, "intruder")  # the cached value is not served to another identity
    assert backend.calls == 2


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param({"assumeRoleArn": "arn:aws:iam::1:role/a"}, {"assumeRoleArn": "arn:aws:iam::1:role/b"}, id="identity-parameter"),
        pytest.param({"fakeSecrets": "x"}, {"fakeSecrets": "y"}, id="any-other-parameter"),
    ],
)
async def test_different_parameters_never_share_entries(first: dict[str, str], second: dict[str, str]) -> None:
    backend = AclBackend()
    gateway = gateway_for(backend)
    await mount(gateway, "app", **first)
    await mount(gateway, "app", **second)
    assert backend.calls == 2


async def test_node_publish_secrets_are_part_of_the_identity() -> None:
    backend = AclBackend()
    gateway = gateway_for(backend)
    for secrets in ('{"clientSecret": "a"}', '{"clientSecret": "b"}', '{"clientSecret": "a"}'):
        await gateway.service.mount(mount_request(OBJECTS, pod=pod("app"), secrets=secrets))
    assert backend.calls == 2


async def test_revocation_and_rotation_are_seen_within_one_ttl() -> None:
    backend = AclBackend()
    clock = Clock()
    cached = CachingBackend(backend, CacheSettings(ttl=30), Metrics(), clock=clock)
    gateway = start_gateway(backends=[cached])
    await mount(gateway, "app")
    backend.allowed.clear()  # permission revoked
    backend.value = b"v2"  # and the secret rotated
    clock.now += 29
    assert (await mount(gateway, "app")).files[0].contents == b"v1:db"  # the documented trade-off
    clock.now += 2
    with pytest.raises(PermissionDenied):
        await mount(gateway, "app")
    backend.allowed.add("app")
    assert (await mount(gateway, "app")).files[0].contents == b"v2:db"


async def test_identical_concurrent_fetches_are_coalesced() -> None:
    backend = AclBackend(delay=0.05)
    gateway = gateway_for(backend, max_mounts_per_namespace=64)  # all 50 in flight at once
    results = await asyncio.gather(*(mount(gateway, "app", name=f"web-{i}") for i in range(50)))
    assert backend.calls == 1 and all(r.files[0].contents == b"v1:db" for r in results)
    coalesced = gateway.metrics.registry.get_sample_value("secrets_gateway_cache_events_total", {"cache": "fetch:acl", "event": "coalesced"})
    assert coalesced == 49


async def test_failures_are_not_cached_and_reach_every_waiter() -> None:
    class Flaky(AclBackend):
        async def fetch_many(self, batch: FetchBatch) -> Sequence[FetchOutcome]:
            if self.calls == 0:
                self.calls += 1
                await asyncio.sleep(0.02)
                raise Unavailable("503 from the service")
            return await super().fetch_many(batch)

    backend = Flaky()
    gateway = gateway_for(backend)
    results = await asyncio.gather(*(mount(gateway, "app", name=f"w{i}") for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, Unavailable) for r in results)
    assert (await mount(gateway, "app")).files[0].contents == b"v1:db"
    assert backend.calls == 2


async def test_a_hung_backend_call_does_not_block_the_key_forever() -> None:
    backend = AclBackend(delay=30)
    gateway = gateway_for(backend, backend_timeout=0.1)
    with pytest.raises(Exception) as first:
        await mount(gateway, "app")
    backend.delay = 0
    assert "no answer from acl within 0.1s" in str(first.value)
    while backend.in_flight:  # the cache gives the hung call up on its own timeout, at about the mount's
        await asyncio.sleep(0.01)
    assert (await mount(gateway, "app")).files[0].contents == b"v1:db"


async def test_size_bound_evicts_least_recently_used() -> None:
    backend = AclBackend()
    gateway = gateway_for(backend, cache_max_entries=2)
    for name in ("a", "b", "c", "a"):
        await gateway.service.mount(mount_request([{"objectName": name, "objectType": "acl"}], pod=pod("app")))
    assert backend.calls == 4  # "a" was evicted by "c"
    evicted = gateway.metrics.registry.get_sample_value("secrets_gateway_cache_events_total", {"cache": "fetch:acl", "event": "evicted"})
    assert evicted == 2


async def test_only_opted_in_backends_are_cached() -> None:
    cached, direct = AclBackend(name="acl"), AclBackend(name="other")
    gateway = start_gateway(backends=[cached, direct], settings=Settings(cache_ttl=30, cache_backends=frozenset({"acl"})))
    assert isinstance(gateway.backends.get("acl"), CachingBackend) and gateway.backends.get("other") is direct


async def test_answers_marked_not_cacheable_are_fetched_every_time() -> None:
    class Issuer(AclBackend):
        async def fetch_many(self, batch: FetchBatch) -> Sequence[FetchOutcome]:
            self.calls += 1
            return [Fetched(i.key, f"cert-{self.calls}".encode(), "1", cacheable=False) for i in batch.items]

    backend = Issuer()
    gateway = gateway_for(backend)
    first, second = await mount(gateway, "app"), await mount(gateway, "app")
    assert (first.files[0].contents, second.files[0].contents, backend.calls) == (b"cert-1", b"cert-2", 2)


@dataclass
class ProvingBackend(AclBackend):
    """Needs the pod's token for audience "aud" (no token: PermissionDenied); its evidence is that token."""

    def cache_evidence(self, batch: FetchBatch) -> str:
        token = batch.identity.token_for("aud")
        if token is None:
            raise PermissionDenied("no token for aud")
        return token.token

    async def fetch_many(self, batch: FetchBatch) -> Sequence[FetchOutcome]:
        self.cache_evidence(batch)
        return await super().fetch_many(batch)


@pytest.mark.parametrize(
    ("second", "calls", "refused"),
    [
        pytest.param({"aud": "token-of-p"}, 1, False, id="same-proof-hits"),
        pytest.param({"aud": "token-of-q"}, 2, False, id="other-proof-misses"),
        pytest.param({}, 1, True, id="no-proof-fails-as-a-miss-would"),
    ],
)
async def test_a_hit_needs_the_backends_evidence(second: dict[str, str], calls: int, refused: bool) -> None:
    backend = ProvingBackend()
    gateway = gateway_for(backend)
    await mount(gateway, "app")
    request = mount_request(OBJECTS, pod=PodContext(name="q", namespace="apps", service_account="app", tokens=second))
    if refused:
        with pytest.raises(PermissionDenied, match="no token for aud"):
            await gateway.service.mount(request)
    else:
        assert (await gateway.service.mount(request)).files[0].contents == b"v1:db"
    assert backend.calls == calls
