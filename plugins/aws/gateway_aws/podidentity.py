"""EKS Pod Identity: credentials from the node agent, with a timeout and jittered retries per endpoint.

``GET <endpoint>`` with the pod's ``pods.eks.amazonaws.com`` token as ``Authorization``
answers ``{AccessKeyId, SecretAccessKey, Token, Expiration}``. Agents on fresh nodes are slow
to start (ASCP #537), so timeouts, connection errors, 429 and 5xx are retried with backoff;
other 4xx (a refused token, no association) fail at once. With ``preferredAddressType: auto``
the IPv6 endpoint is tried when the IPv4 one cannot be reached. The token never appears in a
message.
"""

from __future__ import annotations

import asyncio
import functools
import json
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

from gateway.concurrency import Backoff, retry
from gateway.errors import DeadlineExceeded, GatewayError, PermissionDenied, Unavailable
from gateway.metrics import Metrics
from gateway_aws.clients import Credentials

MAX_BODY = 64 * 1024
AGENT_HINT = "is the EKS Pod Identity Agent add-on running on this node?"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via an HTTP proxy from the env


class PodIdentityAgent:
    def __init__(
        self,
        executor: ThreadPoolExecutor,
        metrics: Metrics,
        *,
        timeout: float = 2.0,
        attempts: int = 3,
        backoff_base: float = 0.2,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.executor = executor
        self.metrics = metrics
        self.timeout = timeout
        self.backoff = Backoff(attempts=attempts, base=backoff_base, cap=2.0)
        self.sleep = sleep

    async def credentials(self, endpoints: Sequence[str], token: str) -> Credentials:
        """Credentials from the first endpoint that answers; the last error otherwise."""
        last: GatewayError | None = None
        for endpoint in endpoints:
            try:
                return await retry(
                    functools.partial(self._once, endpoint, token),
                    backoff=self.backoff,
                    retryable=lambda exc: isinstance(exc, GatewayError) and exc.retryable,
                    on_retry=lambda attempt, exc: self.metrics.retries.labels(backend="aws", operation="PodIdentityAgent").inc(),
                    sleep=self.sleep,
                )
            except GatewayError as exc:
                last = exc
                if not exc.retryable:
                    break
        assert last is not None, "no Pod Identity agent endpoint configured"
        raise last

    async def _once(self, endpoint: str, token: str) -> Credentials:
        outcome = "ok"
        try:
            document = await asyncio.get_running_loop().run_in_executor(self.executor, self._get, endpoint, token)
            return _credentials(document, endpoint)
        except GatewayError as exc:
            outcome = exc.reason
            raise
        finally:
            self.metrics.backend_calls.labels(backend="aws", operation="PodIdentityAgent", outcome=outcome).inc()

    def _get(self, endpoint: str, token: str) -> Any:
        request = urllib.request.Request(endpoint, headers={"Authorization": token, "Accept": "application/json"})
        where = f"Pod Identity agent {endpoint}"
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                body = response.read(MAX_BODY)
        except urllib.error.HTTPError as exc:
            raise _http_error(where, exc.code, exc.read(MAX_BODY), token) from None
        except TimeoutError:
            raise DeadlineExceeded(f"{where}: no answer within {self.timeout:g}s ({AGENT_HINT})", reason="AgentTimeout") from None
        except (urllib.error.URLError, OSError) as exc:
            cause = getattr(exc, "reason", None) or exc
            if isinstance(cause, TimeoutError):
                raise DeadlineExceeded(f"{where}: no answer within {self.timeout:g}s ({AGENT_HINT})", reason="AgentTimeout") from None
            text = getattr(cause, "strerror", None) or str(cause)
            raise Unavailable(f"{where}: cannot connect: {text} ({AGENT_HINT})", reason="AgentUnreachable") from None
        try:
            return json.loads(body)
        except ValueError:
            raise Unavailable(f"{where}: the answer is not JSON", reason="AgentBadAnswer") from None


def _http_error(where: str, status: int, body: bytes, token: str) -> GatewayError:
    detail = ""
    try:
        document = json.loads(body)
        if isinstance(document, dict):
            detail = str(document.get("message") or document.get("Message") or "")
    except ValueError:
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
            expiration = expiration.replace(tzinfo=timezone.utc)
    return Credentials(document["AccessKeyId"], document["SecretAccessKey"], document["Token"], expiration)
