"""A small HTTP reverse proxy in front of OpenBao that counts requests and injects faults.

Tests and the benchmark point the gateway at :attr:`CountingProxy.address` and read exact
request counts from it (``count("/v1/auth/kubernetes/login")``). :meth:`CountingProxy.fail`
answers matching requests itself with a Vault-shaped error (5xx, sealed, standby…);
:meth:`CountingProxy.gate` holds matching requests until ``parties`` of them are in flight at
once, which proves concurrency by behaviour rather than by timing.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from gateway.testing.local import LocalHTTPServer, QuietHandler

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str  # without the query string
    query: str
    namespace: str
    token: str  # fingerprint of X-Vault-Token (sha256 prefix), "" when absent


@dataclass
class ProxyFault:
    """Answer requests whose path starts with ``prefix`` with ``status`` and Vault-style ``errors``."""

    prefix: str
    status: int
    errors: list[str] = field(default_factory=list)
    remaining: int | None = None  # None: every matching request


@dataclass
class _Gate:
    prefix: str
    parties: int
    timeout: float
    condition: threading.Condition = field(default_factory=threading.Condition)
    waiting: int = 0
    released: bool = False


def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:12] if token else ""


class CountingProxy(LocalHTTPServer):

    thread_name = "vault-proxy"
    def __init__(self, upstream: str) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.scheme != "http" or not parsed.hostname or not parsed.port:
            raise ValueError("CountingProxy forwards to a plain http://host:port upstream")
        self.upstream = (parsed.hostname, parsed.port)
        self.requests: list[Recorded] = []
        self.faults: list[ProxyFault] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._gates: list[_Gate] = []
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ control

    @property
    def address(self) -> str:
        return self.base_url

    def reset(self) -> None:
        """Forget recorded requests, faults and the in-flight high-water mark."""
        with self._lock:
            self.requests.clear()
            self.faults.clear()
            self._gates.clear()
            self.max_in_flight = self.in_flight

    def fail(self, prefix: str, status: int, *errors: str, times: int | None = None) -> None:
        with self._lock:
            self.faults.append(ProxyFault(prefix, status, list(errors), times))

    @contextmanager
    def gate(self, prefix: str, parties: int, timeout: float = 5.0) -> Iterator[None]:
        """Inside the block, hold requests under ``prefix`` until ``parties`` wait at once (or ``timeout``)."""
        gate = _Gate(prefix, parties, timeout)
        with self._lock:
            self._gates.append(gate)
        try:
            yield
        finally:
            with self._lock:
                self._gates.remove(gate)
            with gate.condition:
                gate.released = True
                gate.condition.notify_all()

    # ------------------------------------------------------------------ queries

    def count(self, fragment: str = "", method: str = "", namespace: str | None = None) -> int:
        """Requests whose path contains ``fragment`` (and method / namespace, if given)."""
        with self._lock:
            return sum(
                1
                for r in self.requests
                if fragment in r.path and (not method or r.method == method) and (namespace is None or r.namespace == namespace)
            )

    def logins(self) -> int:
        return self.count("/login", method="POST")

    def matching(self, fragment: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if fragment in r.path]

    # ------------------------------------------------------------------ handling

    def _admit(self, recorded: Recorded) -> tuple[ProxyFault | None, list[_Gate]]:
        with self._lock:
            self.requests.append(recorded)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            gates = [g for g in self._gates if recorded.path.startswith(g.prefix)]
            for fault in self.faults:
                if recorded.path.startswith(fault.prefix) and (fault.remaining is None or fault.remaining > 0):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                    return fault, gates
        return None, gates

    def _done(self) -> None:
        with self._lock:
            self.in_flight -= 1

    @staticmethod
    def _wait(gate: _Gate) -> None:
        with gate.condition:
            gate.waiting += 1
            if gate.waiting >= gate.parties:
                gate.released = True
                gate.condition.notify_all()
            gate.condition.wait_for(lambda: gate.released, timeout=gate.timeout)


class _Handler(QuietHandler):
    owner: CountingProxy
    wbufsize = -1

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_LIST = do_GET

    def _serve(self) -> None:
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        recorded = Recorded(
            self.command, path, query, self.headers.get("X-Vault-Namespace", ""), fingerprint(self.headers.get("X-Vault-Token", ""))
        )
        fault, gates = self.owner._admit(recorded)
        try:
            for gate in gates:
                self.owner._wait(gate)
            if fault is not None:
                self._reply(fault.status, json.dumps({"errors": fault.errors}).encode(), {"Content-Type": "application/json"})
            else:
                self._forward(body)
        finally:
            self.owner._done()

    def _forward(self, body: bytes) -> None:
        connection = http.client.HTTPConnection(*self.owner.upstream, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
            connection.request(self.command, self.path, body=body or None, headers=headers)
            response = connection.getresponse()
            data = response.read()
            passed = {k: v for k, v in response.getheaders() if k.lower() not in HOP_HEADERS}
            self._reply(response.status, data, passed)
        finally:
            connection.close()

    def _reply(self, status: int, data: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


CountingProxy.handler_class = _Handler
