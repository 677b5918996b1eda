"""SIGTERM with 50 mounts in flight: every one completes (or fails cleanly) within the grace period."""

from __future__ import annotations

import asyncio
import tempfile
import urllib.request
from pathlib import Path

from gateway.client import DriverClient, MountFailure
from gateway.testing import mount_request
from tests.support import free_port, serve_fake

IN_FLIGHT = 50


def in_flight(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("secrets_gateway_mounts_in_flight{"):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_sigterm_during_fifty_in_flight_mounts(tmp_path: Path) -> None:
    store = tmp_path / "store.yaml"
    store.write_text("faults: {'*': {latencyMs: 1500}}\nsecrets: {slow: value}\n")
    directory = Path(tempfile.mkdtemp(prefix="sgw-", dir="/tmp"))
    port = free_port()
    server = serve_fake(
        directory, store, "--http-address", f"127.0.0.1:{port}", "--grace-period", "20", "--max-mounts-per-namespace", "64"
    )
    path = directory / "secrets-gateway.sock"
    try:
        while not path.exists():
            assert server.poll() is None, "server exited during startup"
            await asyncio.sleep(0.02)
        async with DriverClient(path) as client:
            request = mount_request([{"objectName": "slow", "objectType": "fake"}])
            mounts = [asyncio.create_task(client.mount(request)) for _ in range(IN_FLIGHT)]
            while await asyncio.to_thread(in_flight, port) < IN_FLIGHT:
                await asyncio.sleep(0.02)
            server.terminate()  # SIGTERM
            results = await asyncio.gather(*mounts, return_exceptions=True)
            assert await asyncio.to_thread(server.wait, 30) == 0
    finally:
        if server.poll() is None:
            server.kill()
    completed = [r for r in results if not isinstance(r, BaseException)]
    failed = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(f, MountFailure) for f in failed), failed  # clean typed errors only
    assert len(completed) == IN_FLIGHT, [str(f) for f in failed]  # the grace period covers them all
    assert all(r.files[0].contents == b"value" for r in completed)
    assert not path.exists()
