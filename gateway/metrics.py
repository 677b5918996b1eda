"""Prometheus metrics, built on a registry injected by the composition root.

Labels never carry pod, namespace or object names: cardinality stays bounded on a busy node.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from gateway.grpcmetrics import GrpcServerMetrics

MOUNT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    """All gateway metrics, registered on ``registry`` (a fresh one per test)."""

    def __init__(self, registry: CollectorRegistry | None = None, provider: str = "secrets-gateway") -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.provider = provider
        r = self.registry
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
            "Calls a backend made to its service, by operation and outcome.",
            ["backend", "operation", "outcome"],
            registry=r,
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
