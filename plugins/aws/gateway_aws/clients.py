"""boto3 clients: built once per (principal, region, service, credentials), called in a bounded thread pool.

boto3 is synchronous, so every call runs on the runtime's :class:`ThreadPoolExecutor`, whose
size bounds concurrent AWS calls; at most ``--aws-max-workers-per-namespace`` of them serve the
pods of one namespace (a fair share, :class:`~gateway.fairshare.FairLimiter`), so one tenant's
slow or throttled calls cannot hold every thread. At most ``--aws-max-clients`` clients are kept
(each holds a few hundred KiB), least recently used dropped first. Clients use the standard boto3 configuration chain, so
``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_SECRETS_MANAGER`` / ``_SSM`` / ``_STS``,
``AWS_USE_FIPS_ENDPOINT`` and the config file apply; on top come the plugin's retry mode and
attempts, timeouts, FIPS flag and a user agent naming secrets-gateway. A client is built with
explicit credentials unless the principal is the (dev-only) ambient one.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore import UNSIGNED, xform_name  # botocore's package root is light; boto3 and its clients are not

from gateway.plugin import ExpiringCache, FairLimiter, GatewayError, Metrics, SingleFlight
from gateway_aws import __version__
from gateway_aws.errors import classify, retry_attempts
from gateway_aws.identity import AMBIENT, Principal
from gateway_aws.options import AwsOptions

if TYPE_CHECKING:
    import boto3
    from botocore.client import BaseClient
    from botocore.config import Config

USER_AGENT = f"secrets-gateway/{__version__}"
AMBIENT_CLIENT_SECONDS = 3600.0  # ambient credentials refresh themselves; rebuild the client hourly anyway


@dataclass(frozen=True)
class Credentials:
    """Temporary AWS credentials; ``expiration`` None means "does not expire"."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expiration: datetime | None = None

    def seconds_left(self, now: datetime | None = None) -> float | None:
        if self.expiration is None:
            return None
        return (self.expiration - (now or datetime.now(UTC))).total_seconds()


class AwsClients:
    """Builds, caches and calls boto3 clients. ``label`` in calls is the metrics' backend label."""

    def __init__(self, options: AwsOptions, metrics: Metrics, executor: ThreadPoolExecutor) -> None:
        self.options = options
        self.metrics = metrics
        self.executor = executor
        self._session: boto3.session.Session | None = None  # boto3 is imported by the first client built, not at start
        self._session_lock = threading.Lock()  # a boto3 Session is not thread-safe; clients are
        self.limiter = FairLimiter(
            "AWS calls", total=options.max_workers, per_tenant=options.max_workers_per_namespace,
            total_flag="--aws-max-workers", per_tenant_flag="--aws-max-workers-per-namespace",
        )
        self.slot_wait = options.connect_timeout + options.read_timeout
        self._cache: ExpiringCache[tuple[Any, ...], BaseClient] = ExpiringCache(
            options.max_clients, on_event=lambda event: metrics.cache_events.labels(cache="aws-clients", event=event).inc()
        )
        self._building: SingleFlight[tuple[Any, ...], BaseClient] = SingleFlight()

    async def client(self, principal: Principal, region: str, service: str, credentials: Credentials | None) -> BaseClient:
        """The cached client of ``principal`` for ``service`` in ``region`` with ``credentials``."""
        if credentials is None and principal.source != AMBIENT:
            raise AssertionError("only the ambient principal may use the process's own credentials")
        key = (principal, region, service, credentials.access_key_id if credentials else "")
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        return await self._building.do(key, lambda: self._build(key, region, service, credentials))

    async def unsigned_sts(self, region: str) -> BaseClient:
        """An STS client that signs nothing (AssumeRoleWithWebIdentity); it carries no identity."""
        key = ("unsigned", region, "sts")
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        return await self._building.do(key, lambda: self._build(key, region, "sts", None, unsigned=True))

    @functools.cached_property
    def config(self) -> Config:
        """The botocore configuration of every client (built on first use: importing botocore's client is slow)."""
        from botocore.config import Config

        options = self.options
        return Config(
            retries={"mode": options.retry_mode, "total_max_attempts": options.max_attempts},
            connect_timeout=options.connect_timeout,
            read_timeout=options.read_timeout,
            user_agent_extra=USER_AGENT,
            max_pool_connections=options.max_workers,
            use_fips_endpoint=True if options.use_fips_endpoint else None,
        )

    async def _build(
        self, key: tuple[Any, ...], region: str, service: str, credentials: Credentials | None, unsigned: bool = False
    ) -> BaseClient:
        def build() -> BaseClient:
            kwargs: dict[str, Any] = {}
            if credentials is not None:
                kwargs = {
                    "aws_access_key_id": credentials.access_key_id,
                    "aws_secret_access_key": credentials.secret_access_key,
                    "aws_session_token": credentials.session_token or None,
                }
            with self._session_lock:
                if self._session is None:
                    import boto3.session

                    self._session = boto3.session.Session()
                config = self.config
                if unsigned:
                    from botocore.config import Config

                    config = config.merge(Config(signature_version=UNSIGNED))
                return self._session.client(service, region_name=region, config=config, **kwargs)

        client = await asyncio.get_running_loop().run_in_executor(self.executor, build)
        left = credentials.seconds_left() if credentials else None
        lifetime = AMBIENT_CLIENT_SECONDS if left is None else max(0.0, left - self.options.credential_refresh_margin)
        self._cache.put(key, client, time.monotonic() + lifetime)
        return client

    async def call(
        self, client: BaseClient, operation: str, label: str, tenant: str, redact: Iterable[str] = (), **kwargs: Any
    ) -> dict[str, Any]:
        """Run one AWS API call in the pool, within ``tenant``'s share; count it; raise a classified :class:`GatewayError`."""
        method = functools.partial(getattr(client, xform_name(operation)), **kwargs)
        failure: GatewayError | None = None
        attempts = 0
        started = time.perf_counter()
        try:
            async with self.limiter.slot(tenant, self.slot_wait):
                response: dict[str, Any] = await asyncio.get_running_loop().run_in_executor(self.executor, method)
            attempts = retry_attempts(response)
            return response
        except GatewayError as exc:  # the share stayed full
            failure = exc
            raise
        except Exception as exc:
            attempts = retry_attempts(exc)
            failure = classify(exc, operation, redact)
            raise failure from None
        finally:
            self.metrics.record_backend_call(label, operation, failure, time.perf_counter() - started)
            if attempts:
                self.metrics.retries.labels(backend=label, operation=operation).inc(attempts)
