"""The operations endpoint: /healthz, /readyz (with detail), /metrics, and nothing else."""

from __future__ import annotations

import asyncio
import json

import pytest

from gateway.http import OpsServer, parse_address
from gateway.server import GatewayServer
from gateway.testing import mount_request, start_gateway
from tests.support import ScriptedBackend


async def get(host: str, port: int, path: str, method: str = "GET") -> tuple[int, str]:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.decode().partition("\r\n\r\n")
    return int(head.split()[1]), body


async def test_health_readiness_and_metrics() -> None:
    gateway = start_gateway(backends=[ScriptedBackend(name="fake", values={"c": (b"v", "1")})])
    server = GatewayServer(gateway)
    ops = OpsServer("127.0.0.1", 0, gateway.metrics.registry, server.readiness)
    await ops.start()
    try:
        host, port = ops.address
        assert await get(host, port, "/healthz") == (200, "ok\n")
        status, body = await get(host, port, "/readyz")
        assert status == 503 and json.loads(body)["socket"] is None
        await server.start()
        await gateway.service.mount(mount_request([{"objectName": "c", "objectType": "fake"}]))
        status, body = await get(host, port, "/readyz")
        detail = json.loads(body)
        assert status == 200 and detail["ready"] and detail["backends"] == ["fake"] and detail["plugin_failures"] == []
        status, metrics = await get(host, port, "/metrics")
        assert status == 200
        for name in ("secrets_gateway_mount_duration_seconds_bucket", 'secrets_gateway_mounts_total{outcome="OK"',
                     "secrets_gateway_backend_batches_total", "secrets_gateway_mounts_in_flight", "grpc_server_started_total"):
            assert name in metrics
        assert (await get(host, port, "/nope"))[0] == 404
        assert (await get(host, port, "/healthz", method="POST"))[0] == 405
        await server.stop()
        assert (await get(host, port, "/readyz"))[0] == 503
    finally:
        await ops.stop()


async def test_garbage_requests_get_400() -> None:
    gateway = start_gateway(backends=[ScriptedBackend(name="fake")])
    ops = OpsServer("127.0.0.1", 0, gateway.metrics.registry, lambda: (True, {}))
    await ops.start()
    try:
        reader, writer = await asyncio.open_connection(*ops.address)
        writer.write(b"\x00\x01garbage\r\n\r\n")
        await writer.drain()
        assert (await reader.read()).startswith(b"HTTP/1.1 400")
        writer.close()
    finally:
        await ops.stop()


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", None), ("0.0.0.0:8095", ("0.0.0.0", 8095)), (":9000", ("0.0.0.0", 9000)), ("[::1]:80", ("::1", 80))],
)
def test_parse_address(value: str, expected: tuple[str, int] | None) -> None:
    assert parse_address(value) == expected


@pytest.mark.parametrize("value", ["8095", "host:", "host:99999", "host:x"])
def test_parse_address_errors(value: str) -> None:
    with pytest.raises(ValueError, match="--http-address must be"):
        parse_address(value)
