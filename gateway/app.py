"""The composition root: settings + plugins → registries, planner, dispatcher, mount service.

No module keeps mutable globals; everything a server (or a test) needs is built here and
passed down.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.backend import BackendRegistry
from gateway.budget import DEFAULT_BUDGETS, Budgets
from gateway.cache import CacheSettings, wrap_backends
from gateway.dialect import DialectRegistry
from gateway.dispatch import Dispatcher, DispatchLimits
from gateway.metrics import Metrics
from gateway.middleware.base import MiddlewareRegistry, Stage
from gateway.middleware.decode import DecodeStage
from gateway.middleware.expand import ExpandStage
from gateway.middleware.extract import ExtractStage
from gateway.mount import MountLimits, MountService
from gateway.planner import PARSE_WORKERS, Planner
from gateway.plugins import PluginSet
from gateway.settings import Settings
from gateway.workers import WorkerPool


def builtin_stages(budgets: Budgets = DEFAULT_BUDGETS, workers: WorkerPool | None = None) -> list[Stage]:
    return [DecodeStage(), ExtractStage(budgets, workers), ExpandStage(budgets.max_value_bytes)]


@dataclass
class Gateway:
    settings: Settings
    metrics: Metrics
    plugins: PluginSet
    backends: BackendRegistry
    dialects: DialectRegistry
    middleware: MiddlewareRegistry
    planner: Planner
    service: MountService

    async def aclose(self) -> None:
        self.planner.close()
        await self.backends.aclose()


def build_gateway(settings: Settings, plugins: PluginSet, metrics: Metrics | None = None) -> Gateway:
    """Register the plugins' backends and middleware and wire the mount pipeline."""
    metrics = metrics or Metrics(provider=settings.provider_name)
    backends = BackendRegistry()
    dialects = DialectRegistry()
    workers = WorkerPool(PARSE_WORKERS)  # parsing large classes and heavy jmesPath evaluations, each stoppable
    middleware = MiddlewareRegistry(builtin_stages(settings.budgets, workers))
    plugins.register(backends, middleware, settings, metrics, dialects)
    cache = CacheSettings(settings.cache_ttl, settings.cache_backends, settings.cache_max_entries)
    wrap_backends(backends, cache, metrics, settings.backend_timeout)
    for failure in plugins.failures:
        metrics.plugin_load_failures.labels(plugin=failure.plugin.name).inc()
    planner = Planner(
        backends,
        strict=settings.strict_objects,
        max_objects=settings.max_objects,
        load_failures=plugins.failures,
        default_type=settings.default_object_type,
        dialects=dialects,
        provider_name=settings.provider_name,
        budgets=settings.budgets,
        workers=workers,
    )
    dispatcher = Dispatcher(
        backends,
        metrics,
        DispatchLimits(
            max_parallel_calls=settings.max_parallel_calls,
            call_timeout=settings.backend_timeout,
            max_value_bytes=settings.max_value_bytes,
        ),
    )
    service = MountService(
        planner,
        dispatcher,
        middleware,
        metrics,
        MountLimits(
            mount_timeout=settings.mount_timeout,
            max_concurrent_mounts=settings.max_concurrent_mounts,
            max_mounts_per_namespace=settings.max_mounts_per_namespace,
            max_queued_mounts=settings.max_queued_mounts,
            max_response_bytes=settings.max_response_bytes,
        ),
    )
    return Gateway(settings, metrics, plugins, backends, dialects, middleware, planner, service)
