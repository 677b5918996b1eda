"""The ``fake`` backend: serves the fake store, one simulated service call per object."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gateway.plugin import (
    Backend,
    FetchBatch,
    Fetched,
    FetchFailure,
    FetchItem,
    FetchOutcome,
    GatewayError,
    InvalidArgument,
    Metrics,
    MountRequest,
    NotFound,
    Unavailable,
)
from gateway_fake.faults import Fault, fault_for
from gateway_fake.store import Secret, Store, Version, parse_store

INLINE_PARAMETER = "fakeSecrets"
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
        """One simulated call per object: at once, or after the faults that apply to it."""
        store = await self.store_for(batch.request)
        location = batch.location
        calls: list[tuple[GatewayError | None, float]] = []
        outcomes: list[FetchOutcome | None] = []
        delayed = []
        store_fault = fault_for(store.faults, location)
        try:
            for item in batch.items:
                self.calls[(location, item.ref.name)] += 1
                secret = store.secrets.get(item.ref.name)
                secret_fault = fault_for(secret.faults, location) if secret is not None and secret.faults else None
                if store_fault is None and secret_fault is None:
                    outcomes.append(_answer(store, secret, location, item, calls, time.perf_counter()))
                else:
                    faults = [fault for fault in (store_fault, secret_fault) if fault is not None]
                    delayed.append((len(outcomes), self._fetch_after(faults, store, secret, location, item, calls)))
                    outcomes.append(None)
            if delayed:
                for (position, _), outcome in zip(delayed, await asyncio.gather(*(call for _, call in delayed)), strict=True):
                    outcomes[position] = outcome
        finally:
            if self.metrics is not None:
                self.metrics.record_backend_calls(self.name, "Get", calls)
        return outcomes  # type: ignore[return-value]  # every position is filled by now

    async def _fetch_after(
        self, faults: list[Fault], store: Store, secret: Secret | None, location: str, item: FetchItem,
        calls: list[tuple[GatewayError | None, float]],
    ) -> FetchOutcome:
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
        return _answer(store, secret, location, item, calls, started)


def _answer(
    store: Store, secret: Secret | None, location: str, item: FetchItem, calls: list[tuple[GatewayError | None, float]], started: float
) -> FetchOutcome:
    """The simulated call's answer, recorded in ``calls`` with its duration."""
    try:
        version = _select(store, secret, location, item)
    except GatewayError as exc:
        calls.append((exc, time.perf_counter() - started))
        return FetchFailure(item.key, exc)
    calls.append((None, time.perf_counter() - started))
    return Fetched(item.key, version.value, version.id)


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
