"""Start-up cost of the real ``secrets-gateway serve``: time until the socket answers, idle RSS, first mounts.

    uv run python benchmarks/startup.py [--runs 5] [--plugins fake] [--plugins aws,vault,fake] [--backends fake,aws,vault]

Part 1, per plugin set (runs alternating): a cold ``serve`` process; the time from spawning it until the driver's
``Version`` RPC answers over the unix socket ("start"); the RSS of the process and its children (parse workers)
``--idle-seconds`` later ("idle", after any warm-up); and which heavy libraries the process had imported when its
socket appeared, as the process itself reports it (see :func:`probe`).

Part 2, per backend: a cold ``serve --plugins aws,vault,fake`` (the image's set) and, as soon as ``Version``
answers, one Mount of a one-object class of that backend — the pods of a rebooted node waiting for the socket —
then a second one: fake from a store file, aws (Secrets Manager, IRSA) against moto's server, vault (KV v2,
Kubernetes auth) against a real OpenBao dev server.

Python runs from compiled bytecode, as in the image (which compiles it at build time): the child interpreters write
and read theirs under ``${XDG_CACHE_HOME:-~/.cache}/secrets-gateway/pycache``, filled by one uncounted run first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from gateway.client import DriverClient
from gateway.request import RawMountRequest
from gateway.testing import mount_request

HEAVY = ("boto3", "botocore.client", "botocore.session", "hvac", "requests", "urllib3", "jmespath", "yaml", "moto",
         "prometheus_client", "pluggy", "gateway.mount", "gateway_aws", "gateway_vault")
SOCKET = "secrets-gateway.sock"
ALL_PLUGINS = "aws,vault,fake"

# Run in the child: serve as usual; a thread waits for the socket and writes the heavy modules loaded by then.
PROBE = """
import json, os, sys, threading, time
from pathlib import Path
from gateway.cli import main
socket, report, heavy = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3].split(",")
def watch():
    while not socket.exists():
        time.sleep(0.002)
    report.write_text(json.dumps(sorted(m for m in heavy if m in sys.modules)))
threading.Thread(target=watch, daemon=True).start()
sys.exit(main(sys.argv[4:]))
"""


def bytecode_environment() -> dict[str, str]:
    """The children's environment: bytecode written and read under the user's cache, as the image has it compiled."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "secrets-gateway" / "pycache"
    environment = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    return {**environment, "PYTHONPYCACHEPREFIX": str(cache)}


def serve_command(directory: Path, plugins: str, extra: tuple[str, ...] = ()) -> list[str]:
    return ["--log-level", "error", "serve", "--providers-dir", str(directory), "--plugins", plugins, "--http-address", "", *extra]


def probe(directory: Path, plugins: str, extra: tuple[str, ...] = (), env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], Path]:
    """Start ``serve`` under the module probe; returns the process and where its module report appears."""
    report = directory / "modules.json"
    command = [sys.executable, "-c", PROBE, str(directory / SOCKET), str(report), ",".join(HEAVY), *serve_command(directory, plugins, extra)]
    return subprocess.Popen(command, env=env), report


def rss_mib(pid: int) -> tuple[float, int]:
    """RSS of the process plus all its children (parse workers), and how many children there are."""
    process = psutil.Process(pid)
    children = process.children(recursive=True)
    total = 0
    for member in (process, *children):
        try:
            total += member.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20, len(children)


async def until_version_answers(server: subprocess.Popen[bytes], socket_path: Path) -> None:
    while True:
        if server.poll() is not None:
            raise SystemExit(f"serve exited during startup (status {server.returncode})")
        if socket_path.exists():
            try:
                async with DriverClient(socket_path) as client:
                    await client.version(timeout=1.0)
                return
            except Exception:  # bound under a temporary name first; an early connect may still fail
                pass
        await asyncio.sleep(0.002)


@contextmanager
def stopping(server: subprocess.Popen[bytes]) -> Iterator[None]:
    try:
        yield
    finally:
        server.terminate()
        server.wait(timeout=30)


@dataclass
class StartRun:
    start: float
    idle_mib: float
    children: int
    heavy: list[str]


async def start_run(plugins: str, idle_seconds: float) -> StartRun:
    directory = Path(tempfile.mkdtemp(prefix="sgw-start-", dir="/tmp"))
    started = time.perf_counter()
    server, report = probe(directory, plugins, env=bytecode_environment())
    with stopping(server):
        await until_version_answers(server, directory / SOCKET)
        ready = time.perf_counter() - started
        await asyncio.sleep(idle_seconds)
        idle, children = rss_mib(server.pid)
        while not report.exists():
            await asyncio.sleep(0.01)
        return StartRun(ready, idle, children, json.loads(report.read_text()))


# --------------------------------------------------------------------------- first mount per backend


@dataclass
class Backend:
    """How to serve and mount one backend: extra ``serve`` flags and a one-object Mount request."""

    flags: tuple[str, ...]
    request: RawMountRequest


@asynccontextmanager
async def fake_backend() -> AsyncIterator[Backend]:
    directory = Path(tempfile.mkdtemp(prefix="sgw-start-fake-", dir="/tmp"))
    store = directory / "store.yaml"
    store.write_text("secrets:\n  app/db: hunter2\n")
    yield Backend(("--fake-store", str(store)), mount_request([{"objectName": "app/db", "objectType": "fake"}]))


@asynccontextmanager
async def aws_backend() -> AsyncIterator[Backend]:
    from gateway_aws.testing import PRIMARY, AwsWorld

    with AwsWorld.isolated() as world:  # moto's server; the environment points the children at it
        world.secret("app/db", '{"user": "app"}')
        objects = [{"objectName": "app/db", "objectType": "secretsmanager"}]
        yield Backend(("--aws-kubeconfig", str(world.kubeconfig)),
                      mount_request(objects, {"region": PRIMARY}, pod=world.irsa_pod(name="web-0", service_account="web")))


@asynccontextmanager
async def vault_backend() -> AsyncIterator[Backend]:
    from gateway_vault.testing import VaultWorld

    with VaultWorld.running() as world:
        world.bao.kv2_put("secret", "app/db", {"password": "hunter2"})
        world.bao.put_policy("app", 'path "secret/data/app/*" { capabilities = ["read"] }')
        world.bao.kubernetes_role("app", "apps", "web", ["app"])
        objects = [{"objectName": "db", "secretPath": "secret/data/app/db", "secretKey": "password"}]
        yield Backend((), world.request(objects, vaultAddress=world.bao.address))


BACKENDS: dict[str, Callable[[], Any]] = {"fake": fake_backend, "aws": aws_backend, "vault": vault_backend}


@dataclass
class MountRun:
    start: float  # spawn until Version answers
    first: float  # the Mount sent as soon as Version answered
    second: float


async def mount_run(backend: Backend) -> MountRun:
    directory = Path(tempfile.mkdtemp(prefix="sgw-start-", dir="/tmp"))
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "gateway", *serve_command(directory, ALL_PLUGINS, backend.flags)],
                              env=bytecode_environment())  # with the backend's test environment (AWS_ENDPOINT_URL…)
    with stopping(server):
        await until_version_answers(server, directory / SOCKET)
        ready = time.perf_counter() - started
        times = []
        async with DriverClient(directory / SOCKET) as client:
            for _ in range(2):
                begun = time.perf_counter()
                await client.mount(backend.request)
                times.append(time.perf_counter() - begun)
        return MountRun(ready, *times)


async def first_mounts(names: list[str], runs: int) -> dict[str, list[MountRun]]:
    figures: dict[str, list[MountRun]] = {}
    for name in names:
        async with BACKENDS[name]() as backend:
            figures[name] = [await mount_run(backend) for _ in range(runs)]
    return figures


# --------------------------------------------------------------------------- report


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--plugins", action="append", help=f"plugin sets to start (default: fake, and {ALL_PLUGINS})")
    parser.add_argument("--backends", default="fake,aws,vault", help="first mount of these backends (default fake,aws,vault; '' for none)")
    parser.add_argument("--idle-seconds", type=float, default=3.0, help="when idle RSS is read after the socket answers (default 3)")
    args = parser.parse_args()
    sets = args.plugins or ["fake", ALL_PLUGINS]
    print(f"serve start-up, {args.runs} runs per plugin set, alternating; Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs, load {psutil.getloadavg()[0]:.1f}; compiled bytecode (one uncounted run first)")
    await start_run(ALL_PLUGINS, 0.0)
    figures: dict[str, list[StartRun]] = {name: [] for name in sets}
    for _ in range(args.runs):
        for name in sets:
            figures[name].append(await start_run(name, args.idle_seconds))
    print(f"{'--plugins':<18}{'start median s':>15}{'min s':>8}{'idle RSS MiB':>14}{'children':>10}  heavy modules at socket time")
    for name, runs in figures.items():
        starts = [r.start for r in runs]
        print(f"{name:<18}{statistics.median(starts):>15.3f}{min(starts):>8.3f}{statistics.median(r.idle_mib for r in runs):>14.1f}"
              f"{max(r.children for r in runs):>10}  {', '.join(runs[-1].heavy) or 'none'}")
    print("idle RSS = the serve process plus its children (parse workers), "
          f"{args.idle_seconds:g} s after Version answered; targets: start <= 0.3 s, idle <= 40 MiB")
    names = [name for name in args.backends.split(",") if name]
    if names:
        mounts = await first_mounts(names, args.runs)
        print(f"\nfirst mount per backend: serve --plugins {ALL_PLUGINS}, one-object Mount sent as soon as Version answers "
              f"(median of {args.runs}, ms)")
        print(f"{'backend':<10}{'start':>8}{'first mount':>13}{'second mount':>14}{'spawn to mounted':>18}")
        for name, runs in mounts.items():
            def median(values: Iterator[float]) -> float:
                return statistics.median(values) * 1000
            print(f"{name:<10}{median(r.start for r in runs):>8.0f}{median(r.first for r in runs):>13.0f}"
                  f"{median(r.second for r in runs):>14.1f}{median(r.start + r.first for r in runs):>18.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
