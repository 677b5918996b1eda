"""The composition root: settings + plugins → registries, planner, dispatcher, mount service.

No module keeps mutable globals; everything a server (or a test) needs is built here and
passed down.

:func:`build_gateway` runs what the start must check (the plugins' registration hooks: their backends, dialects and
middleware); the mount pipeline over those registries (the built-in value stages, the planner, the dispatcher, the
mount service, and the modules behind them: jmespath, the parse cache, the layouts) is built the first time a mount
needs it (:meth:`Gateway.mount_service`, or :attr:`Gateway.service` and :attr:`Gateway.planner`). An idle ``serve``
never holds it (~1.7 MiB); ``serve --warm-up`` builds it at once.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gateway.backend import BackendRegistry
from gateway.budget import DEFAULT_BUDGETS, Budgets
from gateway.cache import CacheSettings, wrap_backends
from gateway.dialect import DialectRegistry
from gateway.metrics import Metrics
from gateway.middleware.base import MiddlewareRegistry, Stage
from gateway.plugins import PluginSet
from gateway.settings import Settings

if TYPE_CHECKING:
    from gateway.mount import MountService
    from gateway.planner import Planner
    from gateway.workers import WorkerPool

#: the names of the stages :func:`builtin_stages` makes, kept from the plugins' middleware before those are built
BUILTIN_STAGE_NAMES = ("decode", "jmespath", "expand-keys")


def builtin_stages(budgets: Budgets = DEFAULT_BUDGETS, workers: WorkerPool | None = None) -> list[Stage]:
    from gateway.middleware.decode import DecodeStage
    from gateway.middleware.expand import ExpandStage
    from gateway.middleware.extract import ExtractStage

    return [DecodeStage(), ExtractStage(budgets, workers), ExpandStage(budgets.max_value_bytes)]


@dataclass(frozen=True)
class Pipeline:
    planner: Planner
    service: MountService


@dataclass
class Gateway:
    settings: Settings
    metrics: Metrics
    plugins: PluginSet
    backends: BackendRegistry
    dialects: DialectRegistry
    middleware: MiddlewareRegistry
    _pipeline: Pipeline | None = field(default=None, init=False, repr=False)
    built: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)  # set by mount_service
    _building: asyncio.Future[Pipeline] | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def planner(self) -> Planner:
        return self.pipeline().planner

    @property
    def service(self) -> MountService:
        return self.pipeline().service

    def pipeline(self) -> Pipeline:
        """The mount pipeline, built (its modules imported) on the first call from any thread."""
        if self._pipeline is not None:
            return self._pipeline
        with self._lock:
            if self._pipeline is None:
                self._pipeline = _build_pipeline(self)
            return self._pipeline

    async def mount_service(self) -> MountService:
        """The mount service; the first call builds the pipeline on a thread, and the calls that come meanwhile wait for
        that build (the event loop goes on serving). Sets :attr:`built`."""
        if self._pipeline is None:
            if self._building is None or self._building.done():  # done here: that build failed, so try again
                self._building = asyncio.ensure_future(asyncio.to_thread(self.pipeline))
            await asyncio.shield(self._building)
            self.built.set()
        return self.pipeline().service

    async def aclose(self) -> None:
        if self._pipeline is not None:
            self._pipeline.planner.close()
        await self.backends.aclose()


def build_gateway(settings: Settings, plugins: PluginSet, metrics: Metrics | None = None) -> Gateway:
    """Register the plugins' backends, dialects and middleware; the mount pipeline follows on first use."""
    metrics = metrics or Metrics(provider=settings.provider_name)
    backends = BackendRegistry()
    dialects = DialectRegistry()
    middleware = MiddlewareRegistry(reserved=BUILTIN_STAGE_NAMES)
    plugins.register(backends, middleware, settings, metrics, dialects)
    cache = CacheSettings(settings.cache_ttl, settings.cache_backends, settings.cache_max_entries)
    wrap_backends(backends, cache, metrics, settings.backend_timeout)
    for failure in plugins.failures:
        metrics.plugin_load_failures.labels(plugin=failure.plugin.name).inc()
    return Gateway(settings, metrics, plugins, backends, dialects, middleware)


def _build_pipeline(gateway: Gateway) -> Pipeline:
    from gateway.dispatch import Dispatcher, DispatchLimits
    from gateway.mount import MountLimits, MountService
    from gateway.planner import PARSE_WORKERS, Planner
    from gateway.workers import WorkerPool

    settings = gateway.settings
    workers = WorkerPool(PARSE_WORKERS)  # parsing large classes and heavy jmesPath evaluations, each stoppable
    for stage in builtin_stages(settings.budgets, workers):
        gateway.middleware.add_builtin(stage)
    planner = Planner(
        gateway.backends,
        strict=settings.strict_objects,
        max_objects=settings.max_objects,
        load_failures=gateway.plugins.failures,
        default_type=settings.default_object_type,
        dialects=gateway.dialects,
        provider_name=settings.provider_name,
        budgets=settings.budgets,
        workers=workers,
    )
    dispatcher = Dispatcher(
        gateway.backends,
        gateway.metrics,
        DispatchLimits(
            max_parallel_calls=settings.max_parallel_calls,
            call_timeout=settings.backend_timeout,
            max_value_bytes=settings.max_value_bytes,
        ),
    )
    service = MountService(
        planner,
        dispatcher,
        gateway.middleware,
        gateway.metrics,
        MountLimits(
            mount_timeout=settings.mount_timeout,
            max_concurrent_mounts=settings.max_concurrent_mounts,
            max_mounts_per_namespace=settings.max_mounts_per_namespace,
            max_queued_mounts=settings.max_queued_mounts,
            max_response_bytes=settings.max_response_bytes,
        ),
    )
    return Pipeline(planner, service)
