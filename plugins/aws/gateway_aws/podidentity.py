"""EKS Pod Identity: credentials from the node agent, with a timeout and jittered retries per endpoint.

``GET <endpoint>`` with the pod's ``pods.eks.amazonaws.com`` token as ``Authorization``
answers ``{AccessKeyId, SecretAccessKey, Token, Expiration}``. Agents on fresh nodes are slow
to start (ASCP #537), so timeouts, connection errors, 429 and 5xx are retried with backoff;
other 4xx (a refused token, no association) fail at once. With ``preferredAddressType: auto``
the IPv6 endpoint is tried when the IPv4 one cannot be reached. The token never appears in a
message. Requests go through :mod:`gateway.outbound` as the plugin's other own requests do
(:class:`~gateway_aws.ownrequests.RetriedRequests`): one total deadline (``timeout``) per attempt,
a 64 KiB body cap, no threads, never through a proxy; an answer that is not the credentials
document (garbage, HTML, truncated, oversized) is a retryable ``Unavailable``, tried again.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from gateway.plugin import CONNECT, TIMEOUT, Backoff, DeadlineExceeded, GatewayError, HttpProblem, Metrics, OutboundHttp, PermissionDenied, Unavailable
from gateway_aws.budget import POD_IDENTITY_BACKOFF_BASE, POD_IDENTITY_BACKOFF_CAP
from gateway_aws.clients import Credentials
from gateway_aws.ownrequests import RetriedRequests

MAX_BODY = 64 * 1024
AGENT_HINT = "is the EKS Pod Identity Agent add-on running on this node?"


class PodIdentityAgent:
    def __init__(self, metrics: Metrics, *, timeout: float = 2.0, attempts: int = 3) -> None:
        self.metrics = metrics
        self.requests = RetriedRequests(
            OutboundHttp(max_body=MAX_BODY, use_proxy=False),  # never via an HTTP proxy from the env
            timeout=timeout,
            backoff=Backoff(attempts=attempts, base=POD_IDENTITY_BACKOFF_BASE, cap=POD_IDENTITY_BACKOFF_CAP),
            problem=self._problem,
            retryable=lambda exc: isinstance(exc, GatewayError) and exc.retryable,
        )

    async def credentials(self, endpoints: Sequence[str], token: str) -> Credentials:
        """Credentials from the first endpoint that answers. When none does, the first endpoint's
        error (IPv4 by default: the agent's usual address, so its cause is the real one) carries
        every endpoint's cause — a fallback's "cannot connect" never hides an agent's HTTP 500."""
        failures: list[GatewayError] = []
        for endpoint in endpoints:
            try:
                return await self.requests.with_retries(
                    functools.partial(self._once, endpoint, token),
                    on_retry=lambda: self.metrics.retries.labels(backend="aws", operation="PodIdentityAgent").inc(),
                )
            except GatewayError as exc:
                failures.append(exc)
                if not exc.retryable:
                    break
        assert failures, "no Pod Identity agent endpoint configured"
        first = failures[0]
        if len(failures) == 1:
            raise first
        first.message = "; then ".join(failure.message for failure in failures)
        first.args = (first.message,)
        raise first

    async def _once(self, endpoint: str, token: str) -> Credentials:
        failure: GatewayError | None = None
        started = time.perf_counter()
        try:
            return _credentials(await self._get(endpoint, token), endpoint)
        except GatewayError as exc:
            failure = exc
            raise
        finally:
            self.metrics.record_backend_call("aws", "PodIdentityAgent", failure, time.perf_counter() - started)

    async def _get(self, endpoint: str, token: str) -> Any:
        where = f"Pod Identity agent {endpoint}"
        answer = await self.requests.send("GET", where, endpoint, {"Authorization": token, "Accept": "application/json"})
        if not 200 <= answer.status < 300:
            raise _http_error(where, answer.status, answer.body, token)
        try:
            return json.loads(answer.body)
        except (ValueError, RecursionError):
            raise Unavailable(f"{where}: the answer is not JSON", reason="AgentBadAnswer") from None

    def _problem(self, exc: HttpProblem, where: str) -> GatewayError:
        """The error of an agent request that got no usable answer, with a hint where the agent may be missing."""
        if exc.kind == TIMEOUT:
            return DeadlineExceeded(f"{where}: no answer within {self.requests.timeout:g}s ({AGENT_HINT})", reason="AgentTimeout")
        if exc.kind == CONNECT:
            return Unavailable(f"{where}: cannot connect: {exc.detail} ({AGENT_HINT})", reason="AgentUnreachable")
        return Unavailable(f"{where}: not a usable answer: {exc.detail}", reason="AgentBadAnswer")

    async def aclose(self) -> None:
        await self.requests.aclose()


def _http_error(where: str, status: int, body: bytes, token: str) -> GatewayError:
    detail = ""
    try:
        document = json.loads(body)
        if isinstance(document, dict):
            detail = str(document.get("message") or document.get("Message") or "")
    except (ValueError, RecursionError):
        detail = body.decode("utf-8", "replace")
    if token:
        detail = detail.replace(token, "[redacted]")
    detail = " ".join(detail.split())[:300]
    text = f"{where}: HTTP {status}" + (f": {detail}" if detail else "")
    if status == 429 or status >= 500:
        return Unavailable(text, reason=f"AgentHTTP{status}")
    hint = "check the Pod Identity association of this namespace and service account, and the token audience pods.eks.amazonaws.com"
    return PermissionDenied(f"{text} (hint: {hint})", reason=f"AgentHTTP{status}")


def _credentials(document: Any, endpoint: str) -> Credentials:
    fields = ("AccessKeyId", "SecretAccessKey", "Token")
    if not isinstance(document, dict) or not all(isinstance(document.get(f), str) and document.get(f) for f in fields):
        raise Unavailable(f"Pod Identity agent {endpoint}: the answer lacks AccessKeyId/SecretAccessKey/Token", reason="AgentBadAnswer")
    expiration = None
    if document.get("Expiration"):
        try:
            expiration = datetime.fromisoformat(str(document["Expiration"]))
        except ValueError:
            raise Unavailable(f"Pod Identity agent {endpoint}: Expiration is not an ISO 8601 time", reason="AgentBadAnswer") from None
        if expiration.tzinfo is None:
            expiration = expiration.replace(tzinfo=UTC)
    return Credentials(document["AccessKeyId"], document["SecretAccessKey"], document["Token"], expiration)
