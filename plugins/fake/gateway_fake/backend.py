"""The ``fake`` backend: serves the fake store, one simulated service call per object.

The objects a batch asks for without a fault are answered from memory in one pass (counted one
call each, timed together); an object with a fault is a call of its own that waits for it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import attrgetter
from pathlib import Path

from gateway.plugin import (
    Backend,
    FetchBatch,
    FetchFailure,
    FetchItem,
    FetchOutcome,
    GatewayError,
    InvalidArgument,
    Metrics,
    MountRequest,
    NotFound,
    Unavailable,
    keyed_outcomes,
)
from gateway_fake.faults import Fault, fault_for
from gateway_fake.store import Secret, Store, Version, parse_store

INLINE_PARAMETER = "fakeSecrets"
_NAME = attrgetter("ref.name")
log = logging.getLogger("gateway_fake")


@dataclass
class _FileState:
    mtime_ns: int = -1
    store: Store | None = None  # the file's latest valid content over the static store
    error: str = ""


class FakeBackend(Backend):
    name = "fake"
    description = "local store with versions, locations and fault injection (demos and tests)"
    # fake regions, so demos and tests of failover read like the classes users write for cloud backends
    location_parameter = "region"
    failover_parameter = "failoverRegion"
    location_noun = "region"
    default_location = "local"

    def __init__(self, store_path: Path | None = None, metrics: Metrics | None = None, store: Store | None = None) -> None:
        self.store_path = store_path
        self.metrics = metrics
        self._static = store or Store()
        self._file = _FileState()
        self._reloading = asyncio.Lock()
        #: simulated service calls per (location, secret name) — tests assert on these
        self.calls: Counter[tuple[str, str]] = Counter()

    async def base_store(self) -> Store:
        """The store file's latest valid content over the static store: re-read, off the event loop,
        when the file's mtime changes (one stat per batch otherwise)."""
        if self.store_path is None:
            return self._static
        mtime = self._mtime()
        if mtime != self._file.mtime_ns:
            async with self._reloading:
                if mtime != self._file.mtime_ns:
                    await asyncio.to_thread(self._reload, mtime)
        if self._file.store is None:
            raise Unavailable(f"fake store file is invalid: {self._file.error}")
        return self._file.store

    def _mtime(self) -> int:
        assert self.store_path is not None
        try:
            return os.stat(self.store_path).st_mtime_ns
        except OSError as exc:
            raise Unavailable(f"fake store file {self.store_path} cannot be read: {exc.strerror}") from None

    def _reload(self, mtime: int) -> None:
        assert self.store_path is not None
        try:
            parsed = parse_store(self.store_path.read_text(encoding="utf-8"), str(self.store_path))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            self._file.error = str(exc)
            log.error("fake store %s is invalid, keeping the previous content: %s", self.store_path, exc)
        else:
            self._file.store, self._file.error = self._static.overlay(parsed), ""
        self._file.mtime_ns = mtime

    async def store_for(self, request: MountRequest) -> Store:
        store = await self.base_store()
        inline = request.param(INLINE_PARAMETER)
        if not inline:
            return store
        try:
            return store.overlay(parse_store(inline, f"parameter {INLINE_PARAMETER}"))
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None

    async def fetch_many(self, batch: FetchBatch) -> Sequence[FetchOutcome]:
        return keyed_outcomes(batch, await self.fetch_in_order(batch))

    async def fetch_in_order(self, batch: FetchBatch) -> Sequence[tuple[bytes, str] | FetchFailure]:
        """One simulated call per object: from memory at once, or after the faults that apply to it."""
        store = await self.store_for(batch.request)
        location = batch.location
        self.calls.update(zip(repeat(location), map(_NAME, batch.items)))
        outcomes: list[tuple[bytes, str] | FetchFailure | None] = []
        refused: list[GatewayError] = []  # by the in-memory answers
        delayed = []
        store_fault = fault_for(store.faults, location)
        anywhere = store_fault is None and store.locations is None  # the store answers here without a fault
        secrets = store.secrets
        started = time.perf_counter()
        for item in batch.items:
            ref = item.ref
            secret = secrets.get(ref.name)
            if anywhere and secret is not None and secret.everywhere and not ref.version and not ref.version_label:
                outcomes.append(secret.current_answer)  # the common case, what _select would choose
                continue
            secret_fault = fault_for(secret.faults, location) if secret is not None and secret.faults else None
            if store_fault is None and secret_fault is None:
                outcomes.append(_answer(store, secret, location, item, refused))
            else:
                faults = [fault for fault in (store_fault, secret_fault) if fault is not None]
                delayed.append((len(outcomes), faults, secret, item))
                outcomes.append(None)
        answered = len(outcomes) - len(delayed)
        if self.metrics is not None and answered:
            self.metrics.record_backend_lookups(self.name, "Get", answered, refused, time.perf_counter() - started)
        if delayed:
            calls: list[tuple[GatewayError | None, float]] = []
            try:
                found = await asyncio.gather(*(self._fetch_after(faults, store, secret, location, item, calls) for _, faults, secret, item in delayed))
            finally:
                if self.metrics is not None:
                    self.metrics.record_backend_calls(self.name, "Get", calls)
            for (position, *_), outcome in zip(delayed, found, strict=True):
                outcomes[position] = outcome
        return outcomes  # type: ignore[return-value]  # every position is filled by now

    async def _fetch_after(
        self, faults: list[Fault], store: Store, secret: Secret | None, location: str, item: FetchItem,
        calls: list[tuple[GatewayError | None, float]],
    ) -> tuple[bytes, str] | FetchFailure:
        started = time.perf_counter()
        try:
            for fault in faults:
                await fault.apply()
        except GatewayError as exc:
            calls.append((exc, time.perf_counter() - started))
            return FetchFailure(item.key, exc)
        except BaseException:
            calls.append((None, time.perf_counter() - started))  # cancelled while waiting: the call still happened
            raise
        refused: list[GatewayError] = []
        outcome = _answer(store, secret, location, item, refused)
        calls.append((refused[0] if refused else None, time.perf_counter() - started))
        return outcome


def _answer(store: Store, secret: Secret | None, location: str, item: FetchItem, refused: list[GatewayError]) -> tuple[bytes, str] | FetchFailure:
    """The simulated call's answer; a refusal is also added to ``refused``."""
    try:
        version = _select(store, secret, location, item)
    except GatewayError as exc:
        refused.append(exc)
        return FetchFailure(item.key, exc)
    return version.value, version.id


def _select(store: Store, secret: Secret | None, location: str, item: FetchItem) -> Version:
    ref = item.ref
    if store.locations is not None and location not in store.locations:
        raise Unavailable(f'the fake store does not serve location "{location}" (it serves {", ".join(store.locations)})')
    if secret is None or (secret.locations is not None and location not in secret.locations):
        raise NotFound(f'no fake secret named "{ref.name}" in location "{location}"', reason="NoSuchSecret")
    if ref.version:
        version = secret.by_id(ref.version)
        if version is None:
            raise NotFound(f'fake secret "{ref.name}" has no version "{ref.version}"', reason="NoSuchVersion")
        if ref.version_label and ref.version_label not in version.labels:
            raise NotFound(
                f'fake secret "{ref.name}" version "{ref.version}" is not labelled "{ref.version_label}"',
                reason="NoSuchVersion",
            )
        return version
    if ref.version_label:
        version = secret.by_label(ref.version_label)
        if version is None:
            raise NotFound(f'fake secret "{ref.name}" has no version labelled "{ref.version_label}"', reason="NoSuchVersion")
        return version
    return secret.current
