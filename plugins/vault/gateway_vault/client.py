"""Vault HTTP calls: bounded asyncio HTTP (no threads), fair shares per pod namespace, retry, metrics.

Every request has one total deadline (``--vault-request-timeout``, connect to last byte) and a
body-size cap (``--vault-max-response-bytes``); a server that dribbles, hangs or answers
something that is not Vault's JSON gets a retryable ``Unavailable``, so the core fails over.
At most ``--vault-max-parallel`` requests are in flight on the node and at most
``--vault-max-parallel-per-namespace`` for one pod namespace, so one tenant's slow Vault cannot
hold the others' requests back; a request that finds its share full for a whole request
timeout gets a clear ``Unavailable`` naming the limit. No token is kept in shared state: each
request carries its own headers.
"""

from __future__ import annotations

import json
import logging
import ssl
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.plugin import Backoff, FairLimiter, GatewayError, HttpAnswer, HttpProblem, InvalidArgument, Metrics, OutboundHttp, retry
from gateway_vault.connection import CA_DIRECTORY, Connection
from gateway_vault.errors import NOT_RETRIED_HERE, VaultReply, error_detail, not_vault, transport_error
from gateway_vault.gojson import loads
from gateway_vault.tls import TlsSettings, ssl_context

BACKEND = "vault"
CREDENTIAL_FIELDS = frozenset({"jwt", "token", "password", "secret_id"})
log = logging.getLogger("gateway_vault")

#: turns a non-2xx answer into the error to raise (retryable ones are retried)
ReplyCheck = Callable[[VaultReply], GatewayError]


@dataclass(frozen=True)
class VaultCall:
    """One HTTP request: ``path`` without ``/v1/``; ``body`` is JSON (POST)."""

    operation: str  # metrics label: login, read, write, mounts, lookup-self
    method: str
    path: str
    token: str = field(default="", repr=False)
    params: Sequence[tuple[str, str]] | None = None
    body: Mapping[str, Any] | None = field(default=None, repr=False)

    def sensitive(self) -> list[str]:
        """Credentials this request carried, which must not come back in a message."""
        values = [self.token, *(str(v) for k, v in (self.body or {}).items() if k in CREDENTIAL_FIELDS)]
        return [v for v in values if v]


class VaultClient:
    def __init__(
        self, *, timeout: float, retries: int, max_parallel: int, per_namespace: int, max_response_bytes: int, metrics: Metrics
    ) -> None:
        self.timeout = timeout
        self.metrics = metrics
        self.backoff = Backoff(attempts=retries + 1)
        self.http = OutboundHttp(max_body=max_response_bytes)
        self.limiter = FairLimiter(
            "Vault requests", total=max_parallel, per_tenant=per_namespace,
            total_flag="--vault-max-parallel", per_tenant_flag="--vault-max-parallel-per-namespace",
        )
        self._contexts: dict[TlsSettings, ssl.SSLContext] = {}

    async def call(self, connection: Connection, call: VaultCall, check: ReplyCheck) -> dict[str, Any]:
        """Send ``call`` (retrying retryable failures with backoff); the JSON body of a 2xx answer."""

        def retried(exc: BaseException) -> bool:
            return isinstance(exc, GatewayError) and exc.retryable and exc.reason not in NOT_RETRIED_HERE

        def on_retry(attempt: int, exc: BaseException) -> None:
            self.metrics.retries.labels(backend=BACKEND, operation=call.operation).inc()
            log.warning("vault %s %s at %s failed (attempt %d), retrying: %s", call.operation, call.path, connection.address, attempt, exc)

        return await retry(lambda: self._once(connection, call, check), backoff=self.backoff, retryable=retried, on_retry=on_retry)

    async def _once(self, connection: Connection, call: VaultCall, check: ReplyCheck) -> dict[str, Any]:
        failure: GatewayError | None = None
        started = time.perf_counter()
        try:
            async with self.limiter.slot(connection.tenant, self.timeout):
                reply = await self._send(connection, call)
            if not reply.ok:
                raise check(reply)
            return reply.body or {}
        except GatewayError as exc:
            failure = exc
            raise
        finally:
            self.metrics.record_backend_call(BACKEND, call.operation, failure, time.perf_counter() - started)

    async def _send(self, connection: Connection, call: VaultCall) -> VaultReply:
        """One HTTP exchange within the request timeout. Raises only GatewayError."""
        headers = {"Accept": "application/json", "X-Vault-Request": "true", "User-Agent": "secrets-gateway"}
        if call.token:
            headers["X-Vault-Token"] = call.token
        if connection.namespace:
            headers["X-Vault-Namespace"] = connection.namespace
        body = None
        if call.body is not None:
            body = json.dumps(call.body).encode()
            headers["Content-Type"] = "application/json"
        query = f"?{urllib.parse.urlencode(call.params)}" if call.params else ""
        url = f"{connection.address}/v1/{urllib.parse.quote(call.path)}{query}"
        try:
            answer = await self.http.request(
                call.method, url, timeout=self.timeout, headers=headers, body=body,
                tls=self._context(connection.tls), server_name=connection.tls.server_name,
            )
        except HttpProblem as exc:
            raise transport_error(exc, self.timeout) from None
        return _reply(answer, call)

    def _context(self, tls: TlsSettings) -> ssl.SSLContext:
        context = self._contexts.get(tls)
        if context is None:
            try:
                context = ssl_context(tls)
            except ssl.SSLError as exc:
                raise InvalidArgument(f"the TLS client certificate or key is unusable: {exc.reason or exc}", reason="TLSError") from None
            except OSError as exc:
                raise InvalidArgument(f"{CA_DIRECTORY}: {exc}", reason="TLSError") from None
            self._contexts[tls] = context
        return context

    async def aclose(self) -> None:
        """Close idle connections; safe to call twice."""
        await self.http.aclose()


def member(body: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``body[key]`` when it is a JSON object, else an empty one."""
    value = body.get(key)
    return value if isinstance(value, dict) else {}


def _reply(answer: HttpAnswer, call: VaultCall) -> VaultReply:
    """Vault's answer: a JSON object (or nothing, for 204); anything else is not Vault talking."""
    if answer.status == 204 and not answer.body:
        return VaultReply(204)
    try:
        body = loads(answer.body)  # numbers as Vault wrote them, for answers copied verbatim
    except (ValueError, RecursionError):
        body = None
    if not isinstance(body, dict):
        if answer.status >= 500 or answer.status == 429:
            return VaultReply(answer.status)  # overloaded or failing, whoever answered: retryable as such
        raise not_vault(answer.status, len(answer.body))
    ok = 200 <= answer.status < 300
    return VaultReply(answer.status, body, "" if ok else error_detail(body, call.sensitive()))
