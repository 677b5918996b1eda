"""The operations HTTP endpoint: ``/metrics``, ``/healthz`` and ``/readyz`` on one port.

A deliberately small asyncio HTTP/1.1 server (GET and HEAD, no keep-alive): it serves
probes and scrapes, nothing else, and needs no extra dependency. The port is reachable
from the cluster network, so it is bounded: at most ``max_connections`` at once, the
request head must arrive within ``header_timeout`` seconds and ``MAX_HEAD_BYTES``, and a
connection that would leave fewer than ``fd_reserve`` free file descriptors is answered
503 and closed at once — the provider socket always keeps descriptors to accept the driver.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import resource
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest

from gateway.errors import StartupError

log = logging.getLogger("gateway.http")
MAX_REQUEST_LINE = 8192
MAX_HEAD_BYTES = 16 * 1024  # request line and headers together
DEFAULT_PORT = 8095

#: returns (ready, detail) for /readyz
ReadinessCheck = Callable[[], tuple[bool, dict[str, Any]]]


@dataclass(frozen=True)
class OpsLimits:
    max_connections: int = 32
    header_timeout: float = 5.0
    fd_reserve: int = 64  # descriptors kept free for the provider socket and backends


class _BadRequest(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status, self.text = status, text


class OpsServer:
    def __init__(
        self, host: str | None, port: int, registry: CollectorRegistry, readiness: ReadinessCheck,
        limits: OpsLimits = OpsLimits(),
    ) -> None:
        self.host, self.port = host, port
        self.registry = registry
        self.readiness = readiness
        self.limits = limits
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self.refused = Counter(
            "secrets_gateway_http_refused_connections",
            "Ops-port connections answered 503 at once, by reason (connection cap, descriptor reserve).",
            ["reason"], registry=registry,
        )

    @property
    def address(self) -> tuple[str, int]:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    async def start(self, *, log_serving: bool = True) -> None:
        """Listen (a taken port is a StartupError); ``log_serving=False`` leaves the log line to :meth:`log_serving`."""
        try:
            self._server = await asyncio.start_server(
                self._accept, self.host, self.port, limit=MAX_HEAD_BYTES, backlog=self.limits.max_connections
            )
        except OSError as exc:
            where = f"{self.host or '*'}:{self.port}"
            reason = "address already in use (another instance?)" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
            raise StartupError(f"cannot listen on --http-address {where}: {reason}") from None
        if log_serving:
            self.log_serving()

    def log_serving(self) -> None:
        assert self._server is not None
        listening = ", ".join(_describe(sock) for sock in self._server.sockets)
        log.info("serving /metrics, /healthz and /readyz on %s", listening)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._connections):
                writer.transport.abort()
            await self._server.wait_closed()
            self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        refusal = self._refusal()
        if refusal:
            self.refused.labels(reason=refusal).inc()
            _reply(writer, 503, "text/plain", f"too busy ({refusal})\n".encode(), head_only=False)
            writer.close()
            return
        self._connections.add(writer)
        try:
            await self._handle(reader, writer)
        finally:
            self._connections.discard(writer)

    def _refusal(self) -> str:
        if len(self._connections) >= self.limits.max_connections:
            return "connection limit"
        if free_descriptors() < self.limits.fd_reserve:
            return "file descriptor reserve"
        return ""

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        method = "GET"
        try:
            async with asyncio.timeout(self.limits.header_timeout):
                method, target = await _read_head(reader)
            status, content_type, body = self._respond(method, target)
        except TimeoutError:
            status, content_type, body = 408, "text/plain", b"request head not received in time\n"
        except _BadRequest as exc:
            status, content_type, body = exc.status, "text/plain", exc.text.encode() + b"\n"
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            status, content_type, body = 400, "text/plain", b"bad request\n"
        try:
            _reply(writer, status, content_type, body, head_only=method == "HEAD")
            async with asyncio.timeout(self.limits.header_timeout):
                await writer.drain()
        except (ConnectionError, TimeoutError):
            writer.transport.abort()
        finally:
            writer.close()

    def _respond(self, method: str, target: str) -> tuple[int, str, bytes]:
        if method not in ("GET", "HEAD"):
            return 405, "text/plain", b"method not allowed\n"
        if target == "/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest(self.registry)
        if target == "/healthz":
            return 200, "text/plain", b"ok\n"
        if target == "/readyz":
            ready, detail = self.readiness()
            body = json.dumps({"ready": ready, **detail}, indent=2).encode() + b"\n"
            return (200 if ready else 503), "application/json", body
        return 404, "text/plain", b"not found\n"


async def _read_head(reader: asyncio.StreamReader) -> tuple[str, str]:
    """The request line's method and path; headers are read (bounded) and ignored."""
    request_line = await reader.readuntil(b"\r\n")
    if len(request_line) > MAX_REQUEST_LINE:
        raise _BadRequest(414, "request line too long")
    size = len(request_line)
    while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
        size += len(line)
        if size > MAX_HEAD_BYTES:
            raise _BadRequest(431, "request headers too large")
    parts = request_line.decode("latin-1").split()
    if len(parts) != 3:
        raise _BadRequest(400, "bad request")
    return parts[0], parts[1].split("?", 1)[0]


def _reply(writer: asyncio.StreamWriter, status: int, content_type: str, body: bytes, *, head_only: bool) -> None:
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    writer.write(head if head_only else head + body)


_REASONS = {
    200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
    414: "URI Too Long", 431: "Request Header Fields Too Large", 503: "Service Unavailable",
}


def free_descriptors() -> int:
    """File descriptors this process may still open (soft limit minus open ones); large when unknown."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        used = len(os.listdir("/proc/self/fd"))
    except OSError:
        return 1 << 30
    return (1 << 30) if soft == resource.RLIM_INFINITY else soft - used


def raise_descriptor_limit(ceiling: int = 1 << 20) -> int:
    """Lift the soft RLIMIT_NOFILE to the hard one (as Go programs do; containerd 2 gives 1024 soft); the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = ceiling if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            return target
        except (ValueError, OSError):
            pass
    return soft


def _describe(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if sock.family == socket.AF_INET6 else f"http://{host}:{port}"


def parse_address(value: str) -> tuple[str | None, int] | None:
    """``host:port``; ``:port`` = every interface, IPv4 and IPv6 alike; empty disables. Raises ValueError."""
    if not value.strip():
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f'--http-address must be "host:port" (or empty to disable), got "{value}"')
    return (host.strip("[]") or None), int(port)
