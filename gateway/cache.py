"""The optional node-local fetch cache: identity-scoped, TTL- and size-bounded, with singleflight.

Off by default (``--cache-ttl 0``). When an operator turns it on for a backend, answers are
kept for ``ttl`` seconds under a key holding everything the answer may depend on:

- the backend and location,
- **who asks**: the pod's namespace and service account, a digest of every SecretProviderClass
  parameter except ``objects`` (role names, auth roles, inline fake secrets…) and a digest of the
  nodePublishSecretRef secrets,
- **what proves it**: the backend's :meth:`~gateway.backend.Backend.cache_evidence` for the
  request (a digest of the pod token a Vault login uses, the pod uid of Pod Identity…),
  computed without I/O and failing exactly as a miss would,
- **what is asked**: the object name, version, label and backend options.

So a pod only ever receives a value that a pod with its own identity, parameters and proof fetched.
Identical concurrent requests share one backend call (singleflight). Failures are not cached.

The trade-off (see docs/caching.md): within one TTL a rotated secret or a revoked permission is
not yet seen; the cost is one backend call per identity and object per TTL instead of one per pod.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, replace

from gateway.backend import Backend, BackendRegistry
from gateway.callclock import call_timeout
from gateway.concurrency import ExpiringCache
from gateway.errors import DeadlineExceeded, Internal
from gateway.metrics import Metrics
from gateway.model import FetchBatch, Fetched, FetchFailure, FetchItem, FetchOutcome, MountRequest, ObjectSpec
from gateway.request import POD_NAME, POD_UID, TOKENS

#: request attributes that vary per pod but not per identity: never part of the key
PER_POD_ATTRIBUTES = frozenset({"objects", POD_NAME, POD_UID, TOKENS, "csi.storage.k8s.io/ephemeral"})


@dataclass(frozen=True)
class CacheSettings:
    ttl: float = 0.0  # seconds; 0 disables the cache
    backends: frozenset[str] | None = None  # which backends; None = every backend
    max_entries: int = 10_000

    def covers(self, backend: str) -> bool:
        return self.ttl > 0 and (self.backends is None or backend in self.backends)


def identity_digest(request: MountRequest, evidence: str = "") -> str:
    """Everything about the caller that may change an answer (and the backend's proof of it), as one digest."""
    parameters = {k: v for k, v in request.attributes.items() if k not in PER_POD_ATTRIBUTES}
    secrets = {k: v for k, v in request.secrets.items() if k != TOKENS}
    blob = json.dumps([request.identity.namespace, request.identity.service_account, parameters, secrets, evidence], sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


class CachingBackend(Backend):
    """Wraps a backend with the cache; to the core it looks like the backend itself."""

    def __init__(
        self,
        inner: Backend,
        settings: CacheSettings,
        metrics: Metrics,
        call_timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.ttl = settings.ttl
        self.call_timeout = call_timeout
        self.clock = clock
        self._events = metrics.cache_events.labels
        self._label = f"fetch:{inner.name}"
        self._entries: ExpiringCache[Hashable, Fetched] = ExpiringCache(
            settings.max_entries, clock, lambda event: self._events(cache=self._label, event=event).inc()
        )
        self._in_flight: dict[Hashable, asyncio.Future[FetchOutcome]] = {}
        self._resolving: set[asyncio.Task[None]] = set()  # the loop keeps only weak references to tasks
        for attribute in ("name", "description", "object_options", "structured_options", "location_parameter",
                          "failover_parameter", "default_location", "location_noun", "all_locations_failed", "claimed_names"):
            setattr(self, attribute, getattr(inner, attribute))

    def claims(self, object_name: str) -> bool:
        return self.inner.claims(object_name)

    def claims_need_code(self) -> bool:
        return self.inner.claims_need_code()

    def check_object(self, obj: ObjectSpec) -> list[str]:
        return self.inner.check_object(obj)

    def check_object_locations(self, obj: ObjectSpec, locations: tuple[str, ...]) -> list[str]:
        return self.inner.check_object_locations(obj, locations)

    def static_locations(self, parameters: Mapping[str, str]) -> tuple[str, ...] | None:
        return self.inner.static_locations(parameters)

    async def locations(self, request: MountRequest) -> tuple[str, ...]:
        return await self.inner.locations(request)

    def check_request(self, request: MountRequest) -> None:
        self.inner.check_request(request)

    def unknown_parameters(self, parameters: Mapping[str, str]) -> list[str]:
        return self.inner.unknown_parameters(parameters)

    async def aclose(self) -> None:
        self._entries.clear()
        await self.inner.aclose()

    def cache_evidence(self, batch: FetchBatch) -> str:
        return self.inner.cache_evidence(batch)

    def key(self, batch: FetchBatch, identity: str, item: FetchItem) -> Hashable:
        options = tuple(sorted(item.options.items()))
        return (batch.location, identity, item.ref.name, item.ref.version, item.ref.version_label, options)

    async def fetch_many(self, batch: FetchBatch) -> Sequence[FetchOutcome]:
        # The proof a miss needs comes first: a request that could not fetch is never served a hit.
        identity = identity_digest(batch.request, self.inner.cache_evidence(batch))
        loop = asyncio.get_running_loop()
        outcomes: dict[int, FetchOutcome] = {}
        waiting: dict[int, asyncio.Future[FetchOutcome]] = {}
        misses: dict[Hashable, FetchItem] = {}
        for item in batch.items:
            key = self.key(batch, identity, item)
            cached = self._entries.get(key)
            if cached is not None:
                outcomes[item.key] = _rekey(cached, item.key)
                continue
            if key in self._in_flight and key not in misses:
                self._events(cache=self._label, event="coalesced").inc()
            else:
                misses.setdefault(key, item)
                self._in_flight.setdefault(key, loop.create_future())
            waiting[item.key] = self._in_flight[key]
        if misses:
            # A task of its own settles the shared futures, even if this mount is cancelled meanwhile.
            task = asyncio.ensure_future(self._resolve(batch, misses))
            self._resolving.add(task)
            task.add_done_callback(self._resolving.discard)
        for item_key, future in waiting.items():
            outcomes[item_key] = _rekey(await asyncio.shield(future), item_key)
        return [outcomes[item.key] for item in batch.items]

    async def _resolve(self, batch: FetchBatch, misses: dict[Hashable, FetchItem]) -> None:
        """One inner call for the misses; cache the successes; hand every outcome to its waiters."""
        futures = {key: self._in_flight[key] for key in misses}
        try:
            async with call_timeout(self.call_timeout):
                raw = await self.inner.fetch_many(replace(batch, items=tuple(misses.values())))
        except BaseException as exc:
            failure = DeadlineExceeded(f"no answer from {self.name} within {self.call_timeout:g}s") if isinstance(exc, TimeoutError) else exc
            for key, future in futures.items():
                self._in_flight.pop(key, None)
                future.set_exception(failure if isinstance(failure, Exception) else asyncio.CancelledError())
                future.exception()  # mark retrieved: nobody may be waiting any more
            return
        by_key = {o.key: o for o in raw if isinstance(o, (Fetched, FetchFailure))} if isinstance(raw, (list, tuple)) else {}
        expires = self.clock() + self.ttl
        for key, item in misses.items():
            self._in_flight.pop(key, None)
            outcome = by_key.get(item.key) or FetchFailure(item.key, Internal(f"backend {self.name} returned no valid result"))
            if isinstance(outcome, Fetched) and outcome.cacheable and isinstance(outcome.value, bytes):
                self._entries.put(key, outcome, expires)
            futures[key].set_result(outcome)


def _rekey(outcome: FetchOutcome, key: int) -> FetchOutcome:
    """The same outcome for another mount's item key."""
    if isinstance(outcome, Fetched):
        return Fetched(key, outcome.value, outcome.version)
    return FetchFailure(key, outcome.error)


def wrap_backends(registry: BackendRegistry, settings: CacheSettings, metrics: Metrics, call_timeout: float) -> None:
    """Put the cache in front of every backend the settings cover (used by the composition root)."""
    for entry in registry.entries():
        if settings.covers(entry.backend.name):
            registry.replace(CachingBackend(entry.backend, settings, metrics, call_timeout))
