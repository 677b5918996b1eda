"""What the plugin's own requests share (IRSA's STS call, the JSON-protocol calls, the Pod Identity agent's).

:class:`RetriedRequests`: a request over :mod:`gateway.outbound` with one deadline per attempt, a request that got
no usable answer turned into the sender's typed error, attempts retried with a backoff. :class:`OwnRequests`, for
the AWS APIs: botocore is asked, by a dry run of a shared client, what it would send (URL, headers, body, signing
context); the request then goes with one deadline of ``--aws-connect-timeout + --aws-read-timeout`` per attempt,
botocore's CA certificates, the retries and backoff of :mod:`gateway_aws.budget`, and connection problems
classified with the texts of :mod:`gateway_aws.errors`.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from gateway.plugin import Backoff, GatewayError, HttpAnswer, HttpProblem, OutboundHttp, retry
from gateway_aws.budget import aws_backoff
from gateway_aws.errors import http_problem, retried_in_place

if TYPE_CHECKING:
    from botocore.client import BaseClient

    from gateway_aws.clients import AwsClients

T = TypeVar("T")
#: headers of botocore's request that gateway.outbound writes itself
SENT_BY_OUTBOUND = frozenset({"host", "content-length"})


@dataclass(frozen=True)
class DryRun:
    """botocore's request for one operation, not sent: its ``request`` dict (``url``, ``body``, ``context``), the
    headers the plugin sends of it, and the TLS context for its URL."""

    request: Mapping[str, Any] = field(repr=False)
    url: str
    headers: Mapping[str, str] = field(repr=False)
    tls: ssl.SSLContext | None = field(repr=False)


class RetriedRequests:
    """Requests over ``http``, each attempt within ``timeout`` seconds; ``problem(exc, where)`` is the typed error of a
    request that got no usable answer, and attempts are retried with ``backoff`` while ``retryable`` says so."""

    def __init__(
        self,
        http: OutboundHttp,
        *,
        timeout: float,
        backoff: Backoff,
        problem: Callable[[HttpProblem, str], GatewayError],
        retryable: Callable[[BaseException], bool],
    ) -> None:
        self.http = http
        self.timeout = timeout
        self.backoff = backoff
        self.problem = problem
        self.retryable = retryable

    async def send(
        self, method: str, where: str, url: str, headers: Mapping[str, str], body: bytes | None = None, tls: ssl.SSLContext | None = None
    ) -> HttpAnswer:
        """One attempt: the answer, whatever its status, or the connection's problem as ``where``'s error."""
        try:
            return await self.http.request(method, url, timeout=self.timeout, headers=headers, body=body, tls=tls)
        except HttpProblem as exc:
            raise self.problem(exc, where) from None

    async def with_retries(self, attempt: Callable[[], Awaitable[T]], on_retry: Callable[[], None]) -> T:
        """``attempt`` until it succeeds or fails for good."""
        return await retry(attempt, backoff=self.backoff, retryable=self.retryable, on_retry=lambda n, exc: on_retry())

    async def aclose(self) -> None:
        await self.http.aclose()


class OwnRequests(RetriedRequests):
    """The AWS API calls the plugin sends itself, retried like botocore's standard mode."""

    def __init__(self, clients: AwsClients, *, max_body: int, max_idle: int) -> None:
        options = clients.options
        super().__init__(
            OutboundHttp(max_body=max_body, idle_per_origin=options.max_workers, max_idle=max_idle),
            timeout=options.connect_timeout + options.read_timeout,
            backoff=aws_backoff(options),
            problem=lambda exc, operation: http_problem(exc.kind, exc.detail, operation),
            retryable=retried_in_place,
        )
        self.clients = clients

    async def dry_run(self, client: BaseClient, operation: str, params: Mapping[str, Any]) -> DryRun:
        request = await self.clients.prepared(client, operation, **params)
        url = str(request["url"])
        headers = {name: str(value) for name, value in request["headers"].items() if name.lower() not in SENT_BY_OUTBOUND}
        tls = await self.clients.tls_for(url)
        return DryRun(request, url, headers, tls)

    async def post(
        self, operation: str, url: str, headers: Mapping[str, str], body: bytes, tls: ssl.SSLContext | None
    ) -> HttpAnswer:
        """One attempt of ``operation``: the answer, whatever its status, or the connection's problem as its error."""
        return await self.send("POST", operation, url, headers, body, tls)
