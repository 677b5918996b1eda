"""Core mount benchmark: the real server in its own process, the fake backend, a driver-like client.

    uv run python benchmarks/core_mount.py [--quick]

Prints, for the issue's targets:
  (a) 10 objects, no backend latency: median and p99 Mount time
  (b) 20 objects, 20 ms injected latency per backend call: median Mount time (sequential would be 400 ms)
  (c) 110 concurrent mounts (a full node) of 10 objects with 20 ms latency: successes and wall time
  (d) idle RSS, RSS after (c), and time from process start to socket ready
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml

from gateway.client import DriverClient
from gateway.testing import mount_request

SECRETS = 20


def store_document(latency_ms: int) -> str:
    secrets = {f"bench/s{i}": f'{{"user": "u{i}", "password": "p{i}"}}' for i in range(SECRETS)}
    document: dict[str, object] = {"secrets": secrets}
    if latency_ms:
        document["faults"] = {"*": {"latencyMs": latency_ms}}
    return yaml.safe_dump(document)


def objects(count: int) -> list[dict[str, str]]:
    return [{"objectName": f"bench/s{i}", "objectType": "fake"} for i in range(count)]


class Server:
    """``secrets-gateway serve`` as a separate process, like on a node."""

    def __init__(self, store: Path) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="sgw-bench-", dir="/tmp"))
        self.socket = self.directory / "secrets-gateway.sock"
        self.store = store
        self.process: subprocess.Popen[bytes] | None = None
        self.ready_seconds = 0.0

    def __enter__(self) -> Server:
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "--log-level", "warning", "serve", "--providers-dir", str(self.directory),
             "--plugins", "fake", "--fake-store", str(self.store), "--http-address", "", "--max-concurrent-mounts", "128",
             "--max-mounts-per-namespace", "128"],
        )
        while not self.socket.exists():
            if self.process.poll() is not None:
                raise SystemExit("server exited during startup")
            time.sleep(0.002)
        self.ready_seconds = time.perf_counter() - started
        return self

    def rss_mib(self) -> float:
        assert self.process is not None
        return psutil.Process(self.process.pid).memory_info().rss / 2**20

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(timeout=30)


async def timed_mounts(client: DriverClient, count: int, object_count: int) -> list[float]:
    request = mount_request(objects(object_count))
    durations = []
    for _ in range(count):
        started = time.perf_counter()
        await client.mount(request)
        durations.append(time.perf_counter() - started)
    return durations


async def burst(client: DriverClient, pods: int, object_count: int) -> tuple[int, float]:
    request = mount_request(objects(object_count))
    started = time.perf_counter()
    results = await asyncio.gather(*(client.mount(request) for _ in range(pods)), return_exceptions=True)
    wall = time.perf_counter() - started
    return sum(1 for r in results if not isinstance(r, BaseException)), wall


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


async def run(quick: bool) -> None:
    work = Path(tempfile.mkdtemp(prefix="sgw-bench-store-"))
    fast_store, slow_store = work / "fast.yaml", work / "slow.yaml"
    fast_store.write_text(store_document(0))
    slow_store.write_text(store_document(20))
    rounds = 100 if quick else 1000

    with Server(fast_store) as server:
        idle_rss = server.rss_mib()
        async with DriverClient(server.socket) as client:
            await timed_mounts(client, 20, 10)  # warm up
            fast = await timed_mounts(client, rounds, 10)
        print(f"(d) start to socket ready: {ms(server.ready_seconds)}; idle RSS {idle_rss:.1f} MiB")
        print(f"(a) 10 objects, no latency, {rounds} mounts: median {ms(statistics.median(fast))}, "
              f"p99 {ms(percentile(fast, 0.99))}  (targets: median <= 3 ms, p99 <= 10 ms)")

    with Server(slow_store) as server:
        async with DriverClient(server.socket) as client:
            await timed_mounts(client, 3, 20)
            slow = await timed_mounts(client, 20 if quick else 100, 20)
            print(f"(b) 20 objects, 20 ms per backend call: median {ms(statistics.median(slow))} "
                  f"(target <= 45 ms; sequential would be 400 ms)")
            successes, wall = await burst(client, 110, 10)
            print(f"(c) 110 concurrent mounts x 10 objects, 20 ms latency: {successes}/110 succeeded, wall {ms(wall)} "
                  f"(target: all, <= 1500 ms); RSS after: {server.rss_mib():.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    args = parser.parse_args()
    print(f"secrets-gateway core benchmark — Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    asyncio.run(run(args.quick))


if __name__ == "__main__":
    main()
