"""Vault HTTP calls through hvac, run in a bounded thread pool we own, with retry and metrics.

hvac is synchronous; every call runs on the pool (``--vault-max-parallel`` threads) and the event
loop only awaits it. One ``requests.Session`` per TLS setting is shared by the threads (its
connection pools are thread-safe); each call builds a light hvac adapter carrying that call's
token and namespace, so no token is ever shared between calls through mutable client state.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import hvac.adapters
import requests

from gateway.concurrency import Backoff, retry
from gateway.errors import GatewayError, InvalidArgument
from gateway.metrics import Metrics
from gateway_vault.connection import CA_DIRECTORY, Connection
from gateway_vault.errors import NOT_RETRIED_HERE, VaultReply, error_detail, transport_error
from gateway_vault.gojson import loads
from gateway_vault.tls import TlsSettings, VaultSession

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
    def __init__(self, *, timeout: float, retries: int, max_parallel: int, metrics: Metrics) -> None:
        self.timeout = timeout
        self.metrics = metrics
        self.backoff = Backoff(attempts=retries + 1)
        self.max_parallel = max_parallel
        self._pool: ThreadPoolExecutor | None = None
        self._sessions: dict[TlsSettings, requests.Session] = {}
        self._lock = threading.Lock()

    async def call(self, connection: Connection, call: VaultCall, check: ReplyCheck) -> dict[str, Any]:
        """Send ``call`` (retrying retryable failures with backoff); the JSON body of a 2xx answer."""

        def retried(exc: BaseException) -> bool:
            return isinstance(exc, GatewayError) and exc.retryable and exc.reason not in NOT_RETRIED_HERE

        def on_retry(attempt: int, exc: BaseException) -> None:
            self.metrics.retries.labels(backend=BACKEND, operation=call.operation).inc()
            log.warning("vault %s %s at %s failed (attempt %d), retrying: %s", call.operation, call.path, connection.address, attempt, exc)

        return await retry(lambda: self._once(connection, call, check), backoff=self.backoff, retryable=retried, on_retry=on_retry)

    async def _once(self, connection: Connection, call: VaultCall, check: ReplyCheck) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        outcome = "ok"
        try:
            reply = await loop.run_in_executor(self._executor(), self._send, connection, call)
            if not reply.ok:
                raise check(reply)
            return reply.body or {}
        except GatewayError as exc:
            outcome = exc.reason
            raise
        finally:
            self.metrics.backend_calls.labels(backend=BACKEND, operation=call.operation, outcome=outcome).inc()

    def _send(self, connection: Connection, call: VaultCall) -> VaultReply:
        """On a pool thread: one HTTP exchange. Raises only GatewayError."""
        session = self._session(connection.tls)
        adapter = hvac.adapters.RawAdapter(
            base_uri=connection.address,
            token=call.token or None,
            namespace=connection.namespace or None,
            session=session,
            verify=session.verify,
            cert=session.cert,
            timeout=self.timeout,
        )
        try:
            response = adapter.request(
                call.method, f"/v1/{call.path}", raise_exception=False, params=call.params or None, json=call.body
            )
            body = _json(response)
        except (requests.exceptions.RequestException, OSError) as exc:  # OSError: e.g. an unreadable CA file
            raise transport_error(exc, self.timeout) from None
        return VaultReply(response.status_code, body, "" if response.ok else error_detail(body, call.sensitive()))

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.max_parallel, thread_name_prefix="vault")
        return self._pool

    def _session(self, tls: TlsSettings) -> requests.Session:
        with self._lock:
            session = self._sessions.get(tls)
            if session is None:
                try:
                    session = VaultSession(tls, self.max_parallel)  # hvac prefers the session's TLS settings
                except OSError as exc:
                    raise InvalidArgument(f"{CA_DIRECTORY}: {exc}", reason="TLSError") from None
                self._sessions[tls] = session
            return session

    async def aclose(self) -> None:
        """Stop the pool (pending calls are cancelled) and close the sessions; safe to call twice."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            session.close()


def member(body: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``body[key]`` when it is a JSON object, else an empty one."""
    value = body.get(key)
    return value if isinstance(value, dict) else {}


def _json(response: requests.Response) -> dict[str, Any] | None:
    if not response.content:
        return None
    try:
        body = loads(response.content)  # numbers as Vault wrote them, for answers copied verbatim
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
