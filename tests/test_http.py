"""The operations endpoint: /healthz, /readyz (with detail), /metrics, and nothing else."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from gateway.errors import StartupError
from gateway.http import OpsLimits, OpsServer, parse_address
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
    server = GatewayServer.of(gateway)
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
    [
        pytest.param("", None, id="empty-disables"),
        pytest.param("0.0.0.0:8095", ("0.0.0.0", 8095), id="ipv4-any"),
        pytest.param(":9000", (None, 9000), id="every-interface-dual-stack"),
        pytest.param("[::1]:80", ("::1", 80), id="ipv6-loopback"),
    ],
)
def test_parse_address(value: str, expected: tuple[str | None, int] | None) -> None:
    assert parse_address(value) == expected


@pytest.mark.parametrize("value", ["8095", "host:", "host:99999", "host:x"])
def test_parse_address_errors(value: str) -> None:
    with pytest.raises(ValueError, match="--http-address must be"):
        parse_address(value)


@contextlib.asynccontextmanager
async def ops_server(limits: OpsLimits = OpsLimits(), host: str | None = "127.0.0.1") -> AsyncIterator[OpsServer]:
    ops = OpsServer(host, 0, CollectorRegistry(), lambda: (True, {}), limits)
    await ops.start()
    try:
        yield ops
    finally:
        await ops.stop()


async def raw_exchange(host: str, port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(data)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    return answer


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/nope"])
async def test_head_answers_the_get_headers_without_a_body(path: str) -> None:
    async with ops_server() as ops:
        get_answer = await raw_exchange(*ops.address, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        head_answer = await raw_exchange(*ops.address, f"HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    get_head, _, get_body = get_answer.partition(b"\r\n\r\n")
    head_head, _, head_body = head_answer.partition(b"\r\n\r\n")
    assert head_body == b"" and get_body
    assert head_head.split(b"\r\n")[0] == get_head.split(b"\r\n")[0]
    assert f"Content-Length: {len(get_body)}".encode() in head_head or path == "/metrics"  # metrics change between calls


async def test_a_head_that_never_completes_gets_408_and_frees_its_connection() -> None:
    async with ops_server(OpsLimits(header_timeout=0.2)) as ops:
        answer = await raw_exchange(*ops.address, b"GET /healthz HTTP/1.1\r\nX-Slow: ")
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert ops.open_connections == 0


async def test_oversized_headers_are_refused() -> None:
    async with ops_server() as ops:
        headers = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"y" * 1000) for i in range(20))
        answer = await raw_exchange(*ops.address, b"GET /healthz HTTP/1.1\r\n" + headers + b"\r\n")
    assert answer.split(b"\r\n")[0] in (b"HTTP/1.1 431 Request Header Fields Too Large", b"HTTP/1.1 400 Bad Request")


async def test_connections_over_the_cap_are_answered_503_and_counted() -> None:
    async with ops_server(OpsLimits(max_connections=4, header_timeout=30)) as ops:
        idle = [await asyncio.open_connection(*ops.address) for _ in range(4)]
        while ops.open_connections < 4:
            await asyncio.sleep(0.01)
        reader, writer = await asyncio.open_connection(*ops.address)
        answer = await reader.read()  # refused before it sends anything
        writer.close()
        assert answer.startswith(b"HTTP/1.1 503 ") and b"connection limit" in answer
        assert ops.registry.get_sample_value("secrets_gateway_http_refused_connections_total", {"reason": "connection limit"}) == 1
        for _, writer in idle:
            writer.close()
        while ops.open_connections:
            await asyncio.sleep(0.01)
        assert (await raw_exchange(*ops.address, b"GET /healthz HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 200 ")


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6 on this machine")
async def test_the_default_host_listens_on_ipv4_and_ipv6() -> None:
    async with ops_server(host=None) as ops:
        sockets = ops._server.sockets if ops._server else ()
        assert {sock.family for sock in sockets} == {socket.AF_INET, socket.AF_INET6}
        for sock in sockets:  # port 0 gives each family its own port
            loopback = "::1" if sock.family == socket.AF_INET6 else "127.0.0.1"
            answer = await raw_exchange(loopback, sock.getsockname()[1], b"GET /healthz HTTP/1.1\r\n\r\n")
            assert answer.startswith(b"HTTP/1.1 200 ")


async def test_a_taken_port_is_a_startup_error_naming_the_address() -> None:
    async with ops_server() as first:
        second = OpsServer("127.0.0.1", first.address[1], CollectorRegistry(), lambda: (True, {}))
        with pytest.raises(StartupError, match=r"cannot listen on --http-address 127\.0\.0\.1:\d+: address already in use"):
            await second.start()


def test_serve_with_its_ops_port_taken_exits_with_one_line(tmp_path: Path) -> None:
    store = tmp_path / "store.yaml"
    store.write_text("secrets: {a: b}\n")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "gateway", "serve", "--providers-dir", tempfile.mkdtemp(prefix="sgw-", dir="/tmp"),
             "--plugins", "fake", "--fake-store", str(store), "--http-address", f"127.0.0.1:{port}"],
            capture_output=True, text=True, timeout=60,
        )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"secrets-gateway: cannot listen on --http-address 127.0.0.1:{port}: address already in use (another instance?)"
    ]
