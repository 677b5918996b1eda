"""botocore clients shared by every identity, each call signed with its own caller's credentials.

A new pod identity costs credentials, not a client: one client per (service, region) serves
every identity (endpoint, service model and connection pool built once; at most
``--aws-max-clients`` kept, least recently used dropped). The credentials object those clients
sign with answers, at each signing, with the credentials of the call running in the current
thread — set by :meth:`AwsClients.call` in a context of its own around that one call (retries
included), so two identities' calls in flight on one client never see each other's. Outside a
call it has none, and botocore refuses to sign (fail closed). :meth:`AwsClients.prepared`
asks a client for the request it would send (endpoint rules applied, body serialized) without
sending it: the plugin sends the unsigned ``AssumeRoleWithWebIdentity`` itself
(:mod:`gateway_aws.webidentity`), and asks only when :class:`~gateway_aws.endpoints.StaticEndpoints` cannot
decide without botocore — on defaults it can, and a process whose mounts take that path never imports botocore.

Secrets Manager and SSM calls signed with a pod's credentials (the JSON protocol) are sent by the
plugin itself (:mod:`gateway_aws.jsoncalls`, on the event loop); every other call runs botocore,
which is synchronous, on the runtime's :class:`ThreadPoolExecutor`. ``--aws-max-workers`` bounds
concurrent AWS calls of both kinds; at most ``--aws-max-workers-per-namespace`` of them serve the
pods of one namespace (a fair share, :class:`~gateway.fairshare.FairLimiter`), so one tenant's
slow or throttled calls cannot hold every slot. Clients use the standard configuration chain,
so ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_SECRETS_MANAGER`` / ``_SSM`` / ``_STS``,
``AWS_USE_FIPS_ENDPOINT`` and the config file apply; on top come the plugin's retry mode and
attempts, timeouts, FIPS flag and a user agent naming secrets-gateway. Only the (dev-only)
ambient principal signs with the process's own credential chain.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import math
import os
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from gateway.plugin import ExpiringCache, FairLimiter, GatewayError, Metrics, SingleFlight
from gateway_aws import __version__
from gateway_aws.budget import aws_call_worst_case
from gateway_aws.endpoints import StaticEndpoints
from gateway_aws.errors import classify, retry_attempts
from gateway_aws.jsoncalls import JsonCalls, serves
from gateway_aws.options import AwsOptions

if TYPE_CHECKING:
    import botocore.session
    from botocore.client import BaseClient
    from botocore.config import Config
    from botocore.credentials import ReadOnlyCredentials

USER_AGENT = f"secrets-gateway/{__version__}"


class Signing(Protocol):
    """What one call signs with."""

    def frozen(self) -> ReadOnlyCredentials | None: ...


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

    def frozen(self) -> ReadOnlyCredentials:
        from botocore.credentials import ReadOnlyCredentials

        return ReadOnlyCredentials(self.access_key_id, self.secret_access_key, self.session_token or None, None)


class AmbientSigning:
    """DEV ONLY: the process's own credential chain (env, profile, instance role), resolved on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._resolved: Any = None

    def frozen(self) -> ReadOnlyCredentials | None:
        with self._lock:
            if self._resolved is None:
                import botocore.session

                self._resolved = botocore.session.Session().get_credentials()  # None when the chain has nothing
            resolved = self._resolved
        return None if resolved is None else resolved.get_frozen_credentials()  # refreshable ones refresh here


_CALL_SIGNING: contextvars.ContextVar[Signing | None] = contextvars.ContextVar("aws_call_signing", default=None)


def _as_sent(value: Any) -> Any:
    return value


class _PerCallCredentials:
    """The credentials of every shared client: those of the call running in this context, or none."""

    method = "secrets-gateway-per-call"

    def get_frozen_credentials(self) -> ReadOnlyCredentials | None:
        signing = _CALL_SIGNING.get()
        return None if signing is None else signing.frozen()

    def get_deferred_property(self, name: str) -> Callable[[], None]:
        return lambda: None  # account-id endpoint routing: not used by Secrets Manager, SSM or STS


class _PerCallResolver:
    """A botocore credential-provider component that always yields the per-call credentials."""

    def load_credentials(self) -> _PerCallCredentials:
        return _PerCallCredentials()


_DRY_RUN: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("aws_dry_run", default=None)


class _NotSent:
    status_code = 200


def _stop_before_sending(params: dict[str, Any], **_: Any) -> tuple[_NotSent, dict[str, Any]] | None:
    """botocore's ``before-call`` hook of every client: in a dry run, keep the request and send nothing."""
    captured = _DRY_RUN.get()
    if captured is None:
        return None
    captured.update(params)
    return _NotSent(), {}


def _signed_by(signing: Signing | None, method: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``method`` (in a worker thread) in a fresh context whose calls sign with ``signing``."""

    def run() -> dict[str, Any]:
        _CALL_SIGNING.set(signing)
        return method()

    return contextvars.copy_context().run(run)


class AwsClients:
    """Builds, caches and calls the shared clients. ``label`` in calls is the metrics' backend label."""

    def __init__(self, options: AwsOptions, metrics: Metrics, executor: ThreadPoolExecutor) -> None:
        self.options = options
        self.metrics = metrics
        self.executor = executor
        self.ambient = AmbientSigning()
        self._session: botocore.session.Session | None = None  # botocore's session is imported by the first client built
        self._session_lock = threading.Lock()  # a botocore Session is not thread-safe; its clients are
        self.limiter = FairLimiter(
            "AWS calls", total=options.max_workers, per_tenant=options.max_workers_per_namespace,
            total_flag="--aws-max-workers", per_tenant_flag="--aws-max-workers-per-namespace",
        )
        self.slot_wait = aws_call_worst_case(options)  # a queue never waits longer than the slowest call may hold a thread
        self._cache: ExpiringCache[tuple[str, str], BaseClient] = ExpiringCache(
            options.max_clients, on_event=lambda event: metrics.cache_events_by("aws-clients", event).inc()
        )
        self._building: SingleFlight[tuple[str, str], BaseClient] = SingleFlight()
        self._loading_tls: SingleFlight[str, ssl.SSLContext | None] = SingleFlight()
        self._prepared: set[tuple[str, str]] = set()
        self.static = StaticEndpoints(options.use_fips_endpoint)
        self.json_calls = JsonCalls(self)

    def cached(self, region: str, service: str) -> BaseClient | None:
        """The shared client when it is built already."""
        return self._cache.get((service, region))

    async def client(self, region: str, service: str) -> BaseClient:
        """The shared client for ``service`` in ``region`` (it carries no identity: :meth:`call` signs)."""
        cached = self.cached(region, service)
        if cached is not None:
            return cached
        key = (service, region)
        return await self._building.do(key, lambda: self._build(key))

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

    def _botocore_session(self) -> botocore.session.Session:
        """The one botocore session (call with ``_session_lock`` held)."""
        if self._session is None:
            import botocore.session

            from gateway_aws.modelloader import plugin_loader

            session = botocore.session.Session()
            session.register_component("data_loader", plugin_loader(session.get_config_variable("data_path")))
            session.register_component("credential_provider", _PerCallResolver())
            # timestamps stay as AWS sent them: no answer field the plugin reads is one (an AssumeRole Expiration is
            # read by credentials.py), and turning every CreatedDate into a datetime was a fifth of a batch call's CPU
            session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=_as_sent)
            self._session = session
        return self._session

    def prepare(self, region: str, service: str) -> Awaitable[object] | None:
        """What the first call of ``service`` in ``region`` needs, to run ahead of it (None when started already): the
        TLS context of its endpoint when decided without botocore, else botocore's client."""
        key = (service, region)
        if key in self._prepared:
            return None
        self._prepared.add(key)
        url = self.static.url(service, region)
        return self.tls_for(url) if url is not None else self.client(region, service)

    async def _build(self, key: tuple[str, str]) -> BaseClient:
        service, region = key

        def build() -> BaseClient:
            with self._session_lock:
                client = self._botocore_session().create_client(service, region_name=region, config=self.config)
            client.meta.events.register_first("before-call", _stop_before_sending)
            return client

        client = await asyncio.get_running_loop().run_in_executor(self.executor, build)
        self._cache.put(key, client, math.inf)
        return client

    async def prepared(self, client: BaseClient, operation: str, **kwargs: Any) -> dict[str, Any]:
        """The request ``client`` would send for ``operation`` (botocore's request dict: ``url``, ``headers``,
        ``body``), built in the pool and not sent."""

        def dry_run() -> dict[str, Any]:
            captured: dict[str, Any] = {}
            _DRY_RUN.set(captured)
            getattr(client, _method_name(operation))(**kwargs)
            return captured

        return await asyncio.get_running_loop().run_in_executor(self.executor, contextvars.copy_context().run, dry_run)

    async def tls_for(self, url: str) -> ssl.SSLContext | None:
        """:meth:`tls_context`, in the pool: loading a CA bundle's certificates is ~30 ms of CPU, a stall of every
        mount on the loop; concurrent first calls share one load (the bundle is the same for every URL)."""
        if not url.startswith("https:"):
            return None
        loop = asyncio.get_running_loop()
        return await self._loading_tls.do("https", lambda: loop.run_in_executor(self.executor, self.tls_context, url))

    def tls_context(self, url: str) -> ssl.SSLContext | None:
        """For an https URL, a context verifying with botocore's CA certificates (:meth:`ca_bundle`), one per bundle."""
        if not url.startswith("https:"):
            return None
        return tls_context(self.ca_bundle())

    def ca_bundle(self) -> str:
        """The CA certificates botocore verifies AWS with: ``AWS_CA_BUNDLE`` or ``ca_bundle`` of the config
        file, else ``REQUESTS_CA_BUNDLE``, else botocore's default (a file or a directory); decided without
        botocore where :meth:`StaticEndpoints.ca_bundle` can."""
        return self.static.ca_bundle() or self.botocore_ca_bundle()

    def botocore_ca_bundle(self) -> str:
        """:meth:`ca_bundle` as botocore's session and ``get_cert_path`` find it."""
        import botocore.httpsession

        with self._session_lock:
            configured = self._botocore_session().get_config_variable("ca_bundle")
        return str(configured or os.environ.get("REQUESTS_CA_BUNDLE") or botocore.httpsession.get_cert_path(True))

    async def call(
        self,
        region: str,
        service: str,
        operation: str,
        label: str,
        tenant: str,
        signing: Signing | None,
        redact: Iterable[str] = (),
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Run one AWS API call of ``service`` in ``region``, signed with ``signing`` (None: unsigned), within
        ``tenant``'s share; count it; raise a classified :class:`GatewayError`. A JSON-protocol call signed with a
        pod's credentials is sent by the plugin (:mod:`gateway_aws.jsoncalls`); every other runs in botocore's shared
        client, in the pool."""
        failure: GatewayError | None = None
        attempts = 0
        started = time.perf_counter()
        try:
            own = signing if isinstance(signing, Credentials) and serves(service) else None
            client = None if own is not None else await self.client(region, service)
            async with self.limiter.slot(tenant, self.slot_wait):
                if own is not None:
                    return await self.json_calls.call(
                        region, service, operation, own, redact, kwargs, lambda: self.metrics.retries.labels(backend=label, operation=operation).inc()
                    )
                method = functools.partial(_signed_by, signing, functools.partial(getattr(client, _method_name(operation)), **kwargs))
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


@functools.cache
def tls_context(bundle: str) -> ssl.SSLContext:
    """A context verifying with the certificates of ``bundle`` (a file or a directory), one per bundle and process."""
    return ssl.create_default_context(capath=bundle) if os.path.isdir(bundle) else ssl.create_default_context(cafile=bundle)


def _method_name(operation: str) -> str:
    """The client method of an AWS operation (``GetSecretValue`` → ``get_secret_value``)."""
    from botocore import xform_name  # botocore itself with the first call: an idle server holds no AWS SDK

    name: str = xform_name(operation)
    return name
