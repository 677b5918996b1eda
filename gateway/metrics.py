"""Prometheus metrics, built on a registry injected by the composition root.

Labels never carry pod, namespace or object names: cardinality stays bounded on a busy node.
Label names are snake_case; every ``outcome`` value is a gRPC status in Go's spelling (``OK``,
``NotFound``, ``Unavailable``… as in ``grpc_code`` and the driver's messages), with the
backend's own cause, when there is one, in ``reason`` (``AccessDeniedException``, ``timeout``).
"""

from __future__ import annotations

import platform
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from gateway import __version__
from gateway.errors import GatewayError
from gateway.grpcmetrics import GrpcServerMetrics
from gateway.metriclabels import Children

MOUNT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
OK = "OK"


def outcome_of(error: GatewayError | None) -> str:
    """The ``outcome`` label value: ``OK`` or the status name of ``error``."""
    return OK if error is None else error.status_name


class Metrics:
    """All gateway metrics, registered on ``registry`` (a fresh one per test)."""

    def __init__(self, registry: CollectorRegistry | None = None, provider: str = "secrets-gateway") -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.provider = provider
        r = self.registry
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        Info("secrets_gateway_build", "The running build.", registry=r).info(
            {"version": __version__, "python_version": platform.python_version(), "provider": provider}
        )
        self.mount_seconds = Histogram(
            "secrets_gateway_mount_duration_seconds", "Duration of Mount requests.", ["provider", "outcome"],
            registry=r, buckets=MOUNT_BUCKETS,
        )
        self.mounts = Counter("secrets_gateway_mounts", "Mount requests by outcome (gRPC status name).", ["provider", "outcome"], registry=r)
        self.mounts_in_flight = Gauge("secrets_gateway_mounts_in_flight", "Mount requests being served.", ["provider"], registry=r)
        self.mounts_queued = Gauge("secrets_gateway_mounts_queued", "Mount requests waiting for a free slot.", ["provider"], registry=r)
        self.mounts_rejected = Counter(
            "secrets_gateway_mounts_rejected",
            "Mounts refused by admission: overloaded (queue full, Unavailable) or queue_deadline (DeadlineExceeded).",
            ["provider", "reason"], registry=r,
        )
        self.backend_batches = Counter(
            "secrets_gateway_backend_batches", "fetch_many calls by backend and outcome.", ["backend", "outcome"], registry=r
        )
        self.backend_batch_seconds = Histogram(
            "secrets_gateway_backend_batch_duration_seconds", "Duration of fetch_many calls.", ["backend"],
            registry=r, buckets=MOUNT_BUCKETS,
        )
        self.backend_calls = Counter(
            "secrets_gateway_backend_calls",
            "Calls a backend made to its service, by operation, outcome (status) and the service's reason.",
            ["backend", "operation", "outcome", "reason"],
            registry=r,
        )
        self.backend_call_seconds = Histogram(
            "secrets_gateway_backend_call_duration_seconds", "Duration of one call to a backend's service, by operation.",
            ["backend", "operation"], registry=r, buckets=MOUNT_BUCKETS,
        )
        self.failovers = Counter("secrets_gateway_failovers", "Fetch attempts at a failover location.", ["backend"], registry=r)
        self.retries = Counter("secrets_gateway_retries", "Backend call retries.", ["backend", "operation"], registry=r)
        self.cache_events = Counter(
            "secrets_gateway_cache_events", "Cache hits, misses and evictions.", ["cache", "event"], registry=r
        )
        self.credential_refreshes = Counter(
            "secrets_gateway_credential_refreshes", "Credentials obtained for a pod identity.", ["backend", "outcome"], registry=r
        )
        self.plugin_load_failures = Counter(
            "secrets_gateway_plugin_load_failures", "Plugins that failed to load.", ["plugin"], registry=r
        )
        self.grpc_server = GrpcServerMetrics(r)
        # the label sets of the mount path, remembered
        self.mounts_by = Children(self.mounts)
        self.mount_seconds_by = Children(self.mount_seconds)
        self.backend_batches_by = Children(self.backend_batches)
        self.backend_batch_seconds_by = Children(self.backend_batch_seconds)
        self.backend_calls_by = Children(self.backend_calls)
        self.backend_call_seconds_by = Children(self.backend_call_seconds)
        self.cache_events_by = Children(self.cache_events)
        self.credential_refreshes_by = Children(self.credential_refreshes)

    def record_backend_call(self, backend: str, operation: str, error: GatewayError | None, seconds: float | None = None) -> None:
        """Count one call to a backend's service (and its duration, when measured)."""
        reason = "" if error is None else error.reason
        self.backend_calls_by(backend, operation, outcome_of(error), reason).inc()
        if seconds is not None:
            self.backend_call_seconds_by(backend, operation).observe(seconds)

    def record_backend_calls(self, backend: str, operation: str, calls: Sequence[tuple[GatewayError | None, float]]) -> None:
        """Count many calls of one operation, each ``(error or None, seconds)``: one label lookup per outcome."""
        if not calls:
            return
        errors = [error for error, _ in calls if error is not None]
        self._count_backend_calls(backend, operation, len(calls) - len(errors), errors)
        seconds = self.backend_call_seconds_by(backend, operation)
        for _, duration in calls:
            seconds.observe(duration)

    def record_backend_lookups(self, backend: str, operation: str, count: int, refused: Sequence[GatewayError], seconds: float) -> None:
        """Count ``count`` calls of one operation answered together and timed as one (``seconds``), ``refused``
        the errors among them (a backend answering from memory: one duration, not one per call)."""
        self._count_backend_calls(backend, operation, count - len(refused), refused)
        self.backend_call_seconds_by(backend, operation).observe(seconds)

    def _count_backend_calls(self, backend: str, operation: str, succeeded: int, errors: Sequence[GatewayError]) -> None:
        outcomes: dict[tuple[str, str], int] = {(OK, ""): succeeded} if succeeded else {}
        for error in errors:
            key = (error.status_name, error.reason)
            outcomes[key] = outcomes.get(key, 0) + 1
        for (outcome, reason), count in outcomes.items():
            self.backend_calls_by(backend, operation, outcome, reason).inc(count)

    def record_credential_refresh(self, backend: str, error: GatewayError | None) -> None:
        self.credential_refreshes_by(backend, outcome_of(error)).inc()
