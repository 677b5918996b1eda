"""The Mount pipeline in one straight line: parse → plan → fetch → middleware → files.

Used by the gRPC server and, in process, by ``secrets-gateway mount``. Raises one
:class:`~gateway.errors.GatewayError` or returns the complete file set; never a partial one.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway import wire
from gateway.admission import AdmissionLimits, FairAdmission
from gateway.dispatch import Dispatcher, Fetches
from gateway.errors import DeadlineExceeded, GatewayError, Internal, ResourceExhausted
from gateway.layout import DirectFiles, direct_rows, layout_of
from gateway.log import MountLog
from gateway.metrics import Metrics
from gateway.middleware.base import MiddlewareRegistry, Piece
from gateway.middleware.files import build_files
from gateway.model import MountPlan, MountRequest, MountResult
from gateway.planner import Planner
from gateway.request import RawMountRequest, parse_request
from gateway.settings import MAX_CONCURRENT_MOUNTS, MAX_MOUNTS_PER_NAMESPACE, MAX_QUEUED_MOUNTS, MAX_RESPONSE_BYTES, MOUNT_TIMEOUT

if TYPE_CHECKING:
    from gateway.providerpb import service_pb2 as pb

log = logging.getLogger("gateway.mount")

#: values larger than this in all, or more files than this (or expanded keys), or jmesPath entries that are not
#: plain field paths (they may wait for a worker process), go through the value stages in a thread, so the event
#: loop keeps serving — except the many files of a direct class with small values: they are made on the loop,
#: :data:`DIRECT_FILES_PER_TURN` per turn, so a small mount waiting meanwhile runs between two turns (a thread would
#: hold the interpreter lock against it up to the switch interval every time the loop waits for I/O)
OFF_LOOP_VALUE_BYTES = 64 * 1024
OFF_LOOP_FILES = 200
#: ~0.2 ms of the loop per turn (a turn costs ~10 µs more): what another mount waits at most per step it takes
DIRECT_FILES_PER_TURN = 100


@dataclass(frozen=True)
class MountLimits:
    mount_timeout: float = MOUNT_TIMEOUT.default
    max_concurrent_mounts: int = MAX_CONCURRENT_MOUNTS.default
    max_response_bytes: int = MAX_RESPONSE_BYTES.default
    max_mounts_per_namespace: int = MAX_MOUNTS_PER_NAMESPACE.default
    max_queued_mounts: int = MAX_QUEUED_MOUNTS.default


class MountService:
    def __init__(
        self,
        planner: Planner,
        dispatcher: Dispatcher,
        middleware: MiddlewareRegistry,
        metrics: Metrics,
        limits: MountLimits = MountLimits(),
    ) -> None:
        self.planner = planner
        self.dispatcher = dispatcher
        self.middleware = middleware
        self.metrics = metrics
        self.limits = limits
        self._queued = metrics.mounts_queued.labels(provider=metrics.provider)
        self._in_flight = metrics.mounts_in_flight.labels(provider=metrics.provider)
        self._slots = FairAdmission(
            AdmissionLimits(limits.max_concurrent_mounts, limits.max_mounts_per_namespace, limits.max_queued_mounts),
            on_reject=lambda namespace: metrics.mounts_rejected.labels(provider=metrics.provider, reason="overloaded").inc(),
        )

    async def mount(self, raw: RawMountRequest, *, time_remaining: float | None = None) -> MountResult:
        """Serve one mount within ``min(time_remaining, mount_timeout)`` seconds."""
        timeout = self.limits.mount_timeout if time_remaining is None else min(time_remaining, self.limits.mount_timeout)
        started = time.monotonic()
        record = MountLog(started=started)
        provider = self.metrics.provider
        outcome = "Internal"
        try:
            result = await self._mount_in_slot(raw, started + timeout, record)
            outcome = "OK"
            record.files = result.file_count
            return result
        except GatewayError as exc:
            outcome = exc.status_name
            record.error = exc.message
            raise
        except asyncio.CancelledError:
            outcome, record.error = "Canceled", "the caller cancelled the mount (or its deadline passed)"
            raise
        except Exception:
            log.exception("mount %s failed with an unexpected exception", record.mount_id)
            record.error = "internal error"
            raise Internal(f"internal error in secrets-gateway (mount id {record.mount_id}; see the provider log)") from None
        finally:
            duration = time.monotonic() - started
            self.metrics.mount_seconds_by(provider, outcome).observe(duration)
            self.metrics.mounts_by(provider, outcome).inc()
            record.emit(log, outcome, duration)

    async def _mount_in_slot(self, raw: RawMountRequest, deadline: float, record: MountLog) -> MountResult:
        request = parse_request(raw)
        record.describe_request(request)
        namespace = request.identity.namespace
        if not self._slots.try_acquire(namespace):  # the common case takes a free slot: no queue, no timer
            await self._wait_for_slot(namespace, deadline, record)
        in_flight = self._in_flight
        in_flight.inc()
        try:
            return await self._mount(request, deadline, record)
        finally:
            in_flight.dec()
            self._slots.release(namespace)

    async def _wait_for_slot(self, namespace: str, deadline: float, record: MountLog) -> None:
        queued = self._queued
        queued.inc()
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                await self._slots.acquire(namespace)
        except TimeoutError:
            self.metrics.mounts_rejected.labels(provider=self.metrics.provider, reason="queue_deadline").inc()
            raise DeadlineExceeded(
                f"mount waited {deadline - record.started:.1f}s for a free slot (at most "
                f"{self.limits.max_concurrent_mounts} mounts run at once, {self._slots.per_namespace} per namespace)"
            ) from None
        finally:
            queued.dec()

    async def _mount(self, request: MountRequest, deadline: float, record: MountLog) -> MountResult:
        async with asyncio.timeout(max(0.0, deadline - time.monotonic())) as remaining:  # one timer: planning and fetching
            plan, warnings = await self._plan(request, remaining)
            record.describe_plan(plan)
            for warning in warnings:
                log.warning("mount %s: %s", record.mount_id, warning)
            fetched = await self.dispatcher.fetch_within(plan, remaining, budget=deadline - record.started)
        layout = layout_of(plan)
        direct = layout.direct if self.middleware.passes_direct_files else None
        heavy = fetched.value_bytes > OFF_LOOP_VALUE_BYTES or layout.evaluates
        if direct is not None and not heavy:
            result = await self._direct_on_the_loop(plan, direct, fetched)
            if result is not None:
                return result
            direct = None  # a value does not fit: the value stages name the problem
        work = functools.partial(self._files, plan, direct, fetched)
        if heavy or layout.files_expected > OFF_LOOP_FILES:
            return await asyncio.to_thread(work)
        return work()

    async def _direct_on_the_loop(self, plan: MountPlan, files: DirectFiles, fetched: Fetches) -> MountResult | None:
        """A direct class's file set, :data:`DIRECT_FILES_PER_TURN` files per turn of the loop; None when a value does not fit.

        Each turn's files are made in a message of their own, measured and moved into the response: the response's
        size is the sum of theirs (measuring 21,000 files at once held the loop ~4 ms)."""
        response = wire.response_of(())
        documents: dict[int, object] = {}
        size = 0
        for start in range(0, len(files), DIRECT_FILES_PER_TURN):
            if start:
                await asyncio.sleep(0)
            part = wire.response_of(())
            if not self._add_direct(part, plan, files.part(start, start + DIRECT_FILES_PER_TURN), fetched, documents):
                return None
            size += part.ByteSize()
            response.MergeFrom(part)
        return self._direct_result(response, files, size)

    def _files(self, plan: MountPlan, direct: DirectFiles | None, fetched: Fetches) -> MountResult:
        """The file set (pure CPU, within the budgets of :mod:`gateway.budget`): a direct class's straight from the
        answers when its values fit, any other's through the value stages."""
        if direct is not None:
            response = wire.response_of(())
            if self._add_direct(response, plan, direct, fetched, {}):
                return self._direct_result(response, direct)
        files = build_files(self.middleware.run(_pieces(plan, fetched), plan), plan)
        return self._checked(MountResult(files, wire.to_mount_response(MountResult(files))))

    def _add_direct(
        self, response: pb.MountResponse, plan: MountPlan, files: DirectFiles, fetched: Fetches, documents: dict[int, object]
    ) -> bool:
        """Add ``files`` of a direct class to ``response``; False when a value does not fit them."""
        rows = direct_rows(files, fetched.answers, plan.request.permission, self.dispatcher.limits.max_value_bytes, documents)
        if rows is None:
            return False
        wire.add_files(response, rows)
        return True

    def _direct_result(self, response: pb.MountResponse, files: DirectFiles, size: int | None = None) -> MountResult:
        return self._checked(MountResult(response=response, read_files=functools.partial(wire.files_of, response, files.positions)), size)

    async def _plan(self, request: MountRequest, deadline: asyncio.Timeout) -> tuple[MountPlan, list[str]]:
        try:
            return await self.planner.plan(request)
        except asyncio.CancelledError:
            if not deadline.expired():
                raise
            raise DeadlineExceeded("mount deadline exceeded while resolving backend locations") from None

    def _checked(self, result: MountResult, size: int | None = None) -> MountResult:
        """``result``, once its response (of ``size`` bytes, when known) is found within the size limit."""
        if size is None:
            size = result.response.ByteSize()  # type: ignore[attr-defined]
        if size > self.limits.max_response_bytes:
            largest = sorted(result.files, key=lambda f: len(f.contents), reverse=True)[:3]
            detail = ", ".join(f'"{f.path}" ({len(f.contents)} bytes)' for f in largest)
            raise ResourceExhausted(
                f"the mount response would be {size} bytes, above the limit of {self.limits.max_response_bytes} bytes "
                f"(the driver refuses responses over 4 MiB by default); largest files: {detail}"
            )
        return result


def _pieces(plan: MountPlan, fetched: Fetches) -> list[Piece]:
    """Each object's value as the value stages take it."""
    return [
        Piece(obj, obj.file_name, value, version, fetched.location(position), obj.file_permission)
        for position, (obj, (value, version)) in enumerate(zip(plan.objects, fetched.answers, strict=True))
    ]
