"""What both AWS backends share: threads, Kubernetes lookups, identities, credentials and clients.

One runtime per server, so a pod mounting Secrets Manager and SSM objects costs one STS call,
and :meth:`AwsRuntime.session` turns a fetch batch into a session of its principal in its region.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from gateway.plugin import FetchBatch, GatewayError, Metrics
from gateway_aws.clients import AwsClients, Signing
from gateway_aws.credentials import CredentialBroker
from gateway_aws.errors import STALE_CREDENTIALS
from gateway_aws.identity import ROLE_ANNOTATION, IdentityResolver, Principal
from gateway_aws.options import AwsOptions
from gateway_aws.params import AuthParameters, parse_auth_parameters
from gateway_aws.podidentity import PodIdentityAgent
from gateway_aws.region import RegionResolver
from gateway_kube.kubeapi import KubeApi, discover_config
from gateway_kube.watch import ServiceAccounts

T = TypeVar("T")


@dataclass(frozen=True)
class AwsSession:
    """One principal's credentials in one region, for one backend's calls of ``service``."""

    principal: Principal
    region: str
    service: str
    signing: Signing = field(repr=False)
    runtime: AwsRuntime = field(repr=False)
    label: str = ""

    @property
    def key(self) -> tuple[Principal, str, str]:
        """The identity-and-place part of every singleflight key: the principal whose credentials
        this session already holds (so proven by its own token), not the token itself."""
        return (self.principal.without_proof(), self.region, self.service)

    async def call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return await self.runtime.clients.call(self.region, self.service, operation, self.label, self.principal.namespace, self.signing, **kwargs)
        except GatewayError as exc:
            if exc.reason in STALE_CREDENTIALS:
                self.runtime.credentials.invalidate(self.principal)
            raise


class AwsRuntime:
    def __init__(self, options: AwsOptions, metrics: Metrics | None = None, kube: KubeApi | None = None) -> None:
        self.options = options
        self.metrics = metrics or Metrics()
        self.executor = ThreadPoolExecutor(max_workers=options.max_workers, thread_name_prefix="aws")
        self.kube = kube or KubeApi(
            lambda: discover_config(options.kubeconfig),
            qps=options.kube_qps,
            burst=options.kube_burst,
            cache_ttl=options.kube_cache_ttl,
            on_cache_event=lambda event: self.metrics.cache_events_by("kubernetes", event).inc(),
            on_request=lambda path, error: self.metrics.record_backend_call("kubernetes", "GET", error),
        )
        self.clients = AwsClients(options, self.metrics, self.executor)
        self.agent = PodIdentityAgent(
            self.metrics, timeout=options.pod_identity_timeout, attempts=options.pod_identity_attempts
        )
        self.accounts = ServiceAccounts(
            self.kube,
            keep_annotations=frozenset({ROLE_ANNOTATION}),
            max_entries=options.kube_watch_max_accounts,
            on_lookup=lambda source: self.metrics.cache_events_by("serviceaccounts", source).inc(),
        )
        self.identities = IdentityResolver(options, self.accounts)
        self.credentials = CredentialBroker(self.clients, self.agent, self.metrics, options.credential_refresh_margin)
        self.regions = RegionResolver(options.env_region, self.kube)
        self._closed = False
        self._preparing: set[asyncio.Future[Any]] = set()

    async def session(self, batch: FetchBatch, service: str, label: str) -> AwsSession:
        """The batch's pod credentials (cached) in the batch's region."""
        auth = parse_auth_parameters(batch.request.attributes)
        self._prepare(batch.location, service, auth)
        caller = await self.identities.resolve(batch.identity, auth)
        credentials = await self.credentials.credentials(caller, batch.location)
        signing = self.clients.ambient if credentials is None else credentials
        return AwsSession(caller.principal, batch.location, service, signing, self, label)

    def _prepare(self, region: str, service: str, auth: AuthParameters) -> None:
        """For a (service, region) not seen yet: learn IRSA's STS endpoint there and get ready for the service's first
        call (its endpoint's TLS context, or botocore's client where botocore decides), in the pool while the identity
        is resolved (a Kubernetes read, an STS call), so the cold mounts of a rebooted node wait for those alongside
        these steps, not after them."""
        if not auth.use_pod_identity and not self.options.allow_ambient_credentials:
            learning = self.credentials.sts.prepare(region)
            if learning is not None:
                self._background(learning)
        preparing = self.clients.prepare(region, service)
        if preparing is not None:
            self._background(preparing)

    def _background(self, step: Awaitable[T]) -> asyncio.Future[T]:
        """``step`` running on its own; an error nobody awaited is dropped (whoever needs the step joins its
        singleflight again and sees the error there)."""
        task = asyncio.ensure_future(step)
        self._preparing.add(task)
        task.add_done_callback(lambda done: self._preparing.discard(done) or done.cancelled() or done.exception())
        return task

    async def aclose(self) -> None:
        """Stop threads and the Kubernetes client (idempotent; both backends call it)."""
        if self._closed:
            return
        self._closed = True
        await self.accounts.aclose()
        await self.kube.aclose()
        await self.agent.aclose()
        await self.credentials.aclose()
        await self.clients.json_calls.aclose()
        self.executor.shutdown(wait=False, cancel_futures=True)
