"""The operations HTTP endpoint: ``/metrics``, ``/healthz`` and ``/readyz`` on one port.

A deliberately small asyncio HTTP/1.1 server (GET only, no keep-alive): it serves
probes and scrapes, nothing else, and needs no extra dependency.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger("gateway.http")
MAX_REQUEST_LINE = 8192

#: returns (ready, detail) for /readyz
ReadinessCheck = Callable[[], tuple[bool, dict[str, Any]]]


class OpsServer:
    def __init__(self, host: str, port: int, registry: CollectorRegistry, readiness: ReadinessCheck) -> None:
        self.host, self.port = host, port
        self.registry = registry
        self.readiness = readiness
        self._server: asyncio.Server | None = None

    @property
    def address(self) -> tuple[str, int]:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        log.info("serving /metrics, /healthz and /readyz on http://%s:%d", *self.address)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, content_type, body = await asyncio.wait_for(self._respond(reader), timeout=10)
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            status, content_type, body = 400, "text/plain", b"bad request\n"
        try:
            writer.write(
                f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
            )
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _respond(self, reader: asyncio.StreamReader) -> tuple[int, str, bytes]:
        request_line = await reader.readuntil(b"\r\n")
        if len(request_line) > MAX_REQUEST_LINE:
            return 414, "text/plain", b"request line too long\n"
        while (await reader.readuntil(b"\r\n")) not in (b"\r\n", b""):
            pass  # headers are not needed
        parts = request_line.decode("latin-1").split()
        if len(parts) != 3:
            return 400, "text/plain", b"bad request\n"
        method, target = parts[0], parts[1].split("?", 1)[0]
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


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 414: "URI Too Long", 503: "Service Unavailable"}


def parse_address(value: str) -> tuple[str, int] | None:
    """``host:port`` (``:port`` = all interfaces); empty disables. Raises ValueError."""
    if not value.strip():
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f'--http-address must be "host:port" (or empty to disable), got "{value}"')
    return (host.strip("[]") or "0.0.0.0"), int(port)
