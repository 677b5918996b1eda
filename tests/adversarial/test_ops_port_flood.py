"""A flood of idle connections on the ops HTTP port cannot take the provider socket's file descriptors;
and `serve` starts with the soft descriptor limit lifted to the hard one.

The real ``serve`` runs with a low RLIMIT_NOFILE; the flood holds far more connections than the
process may open. The driver's Version and Mount calls must still be answered, the flood is
refused (and counted), and the port serves probes again once the flood is gone.

The limit is given to ``serve`` without a fork through this process's at-fork handlers (see
:func:`tests.support.serve_fake`): gRPC's, with a channel live here, could abort the child before exec.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.client import DriverClient
from gateway.testing import mount_request
from tests.support import free_port, serve_fake

FD_LIMIT = 160
FLOOD = 400

#: markers the at-fork hook below touches in a forked child, while a test listens
_fork_markers: list[Path] = []


def _mark_fork() -> None:
    for marker in _fork_markers:
        marker.touch()


os.register_at_fork(after_in_child=_mark_fork)


@contextlib.contextmanager
def flood(port: int) -> Iterator[list[socket.socket]]:
    """Connections that send half a request head and then nothing."""
    held: list[socket.socket] = []
    try:
        for _ in range(FLOOD):
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=2)
            except OSError:
                break  # the listen backlog is full: more connections add nothing
            held.append(conn)
            with contextlib.suppress(OSError):
                conn.sendall(b"GET /metrics HTTP/1.1\r\nX-Slow: ")
        yield held
    finally:
        for conn in held:
            conn.close()


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return response.read().decode()


def sample(metrics: str, prefix: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith(prefix))


async def socket_up(server: subprocess.Popen[str], path: Path) -> None:
    while not path.exists():
        assert server.poll() is None, server.stderr.read() if server.stderr else "server exited"
        await asyncio.sleep(0.02)


async def test_ops_port_flood_leaves_the_provider_socket_serving(tmp_path: Path) -> None:
    store = tmp_path / "store.yaml"
    store.write_text("secrets: {a: alpha}\n")
    directory = Path(tempfile.mkdtemp(prefix="sgw-", dir="/tmp"))
    port = free_port()
    server = serve_fake(directory, store, "--http-address", f"127.0.0.1:{port}", nofile=(FD_LIMIT, FD_LIMIT), stderr=subprocess.PIPE)
    path = directory / "secrets-gateway.sock"
    try:
        await socket_up(server, path)
        with flood(port):
            async with DriverClient(path) as client:
                assert (await client.version()).runtime_name == "secrets-gateway"
                result = await client.mount(mount_request([{"objectName": "a", "objectType": "fake"}]), timeout=60)
                assert result.files[0].contents == b"alpha"
        # the flood is gone: probes and scrapes work again, and the refusals were counted
        for _ in range(200):
            with contextlib.suppress(OSError):
                metrics = await asyncio.to_thread(scrape, port)
                break
            await asyncio.sleep(0.05)
        assert sample(metrics, "secrets_gateway_http_refused_connections_total") > 0
        assert server.poll() is None
    finally:
        server.terminate()
        assert server.wait(timeout=60) == 0


@pytest.mark.parametrize("soft, hard", [
    pytest.param(FD_LIMIT, FD_LIMIT, id="soft-equals-hard"),
    pytest.param(FD_LIMIT, 2 * FD_LIMIT, id="soft-below-hard"),
])
async def test_serve_gets_its_descriptor_limit_without_a_fork_and_lifts_soft_to_hard(tmp_path: Path, soft: int, hard: int) -> None:
    """A fork runs the at-fork handlers in the child: gRPC's restart its poller there, the child closes every
    descriptor before exec, and the poller aborts it — the flood test's one failure in a full run (grpc/grpc#43055).
    Python's at-fork hooks run in exactly such children, so the marker shows which way ``serve`` was started."""
    store = tmp_path / "store.yaml"
    store.write_text("secrets: {a: alpha}\n")
    directory = Path(tempfile.mkdtemp(prefix="sgw-", dir="/tmp"))
    port = free_port()
    forked = tmp_path / "forked"
    _fork_markers.append(forked)
    try:
        server = serve_fake(directory, store, "--http-address", f"127.0.0.1:{port}", nofile=(soft, hard))
    finally:
        _fork_markers.remove(forked)
    try:
        await socket_up(server, directory / "secrets-gateway.sock")
        assert not forked.exists(), "serve was started through fork() and this process's at-fork handlers"
        assert sample(await asyncio.to_thread(scrape, port), "process_max_fds") == hard
    finally:
        server.terminate()
        assert server.wait(timeout=60) == 0
