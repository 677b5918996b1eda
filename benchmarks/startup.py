"""Start-up cost of the real ``secrets-gateway serve``: time until the socket answers, idle memory, first mounts.

    uv run python benchmarks/startup.py [--runs 5] [--plugins fake] [--plugins "aws,vault,fake --warm-up"] [--backends fake,aws,vault]

Part 1, per plugin set (runs alternating; a set may carry more ``serve`` flags after a space, e.g. ``--warm-up``):
a cold ``serve`` process; the time from spawning it until the driver's ``Version`` RPC answers over the unix socket
("start"); the RSS and PSS (shared library pages divided among the processes that map them) of the process and its
children (parse workers) ``--idle-seconds`` later ("idle", after any warm-up); the slowest ``Version`` answer over
those seconds, called every 10 ms while the plugins load and warm up; which heavy libraries the process had imported
when its socket appeared and the CPU seconds it had used by then, and which it holds at idle, as the process itself
reports it (see :func:`probe`). Beside them, alternating too, the floor: a bare grpc.aio server answering ``Version`` on
the same socket, nothing of the gateway, then the same with prometheus_client imported, then with PyYAML, jmespath
and pluggy too (:data:`FLOORS`): the libraries the product is built on, which any implementation of it holds once a
class has mounted, so the last floor is the least idle memory the product can have on this interpreter.

Part 2, per backend: a cold ``serve --plugins aws,vault,fake`` (the image's set) and one Mount of a one-object class
of that backend, sent as soon as ``Version`` answers (the pods of a rebooted node waiting for the socket) or
``--idle-seconds`` later (the pipeline built; with ``--warm-up`` also the plugins' warm-up done), then a second one:
fake from a store file, aws (Secrets Manager, IRSA) against moto's server, vault (KV v2, Kubernetes auth) against a
real OpenBao dev server.

Python runs from compiled bytecode, as in the image (which compiles it at build time): the child interpreters write
and read theirs under ``${XDG_CACHE_HOME:-~/.cache}/secrets-gateway/pycache``, filled by one uncounted run first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
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

HEAVY = ("boto3", "botocore", "botocore.client", "botocore.session", "hvac", "requests", "urllib3", "jmespath", "yaml", "moto",
         "prometheus_client", "pluggy", "importlib.metadata", "gateway.mount", "gateway_aws", "gateway_aws.runtime", "gateway_vault", "gateway_vault.reader", "gateway_kube",
         "multiprocessing", "gateway.client", "gateway.validate")
SOCKET = "secrets-gateway.sock"
ALL_PLUGINS = "aws,vault,fake"

# Run in the child: serve as usual, but the moment the socket is published, write the heavy modules loaded by then
# and the CPU seconds the process had used (all its threads; unlike wall time, not stretched by a loaded machine);
# on SIGUSR1 (sent at idle), write the heavy modules it holds then.
PROBE = """
import json, signal, sys, time
from pathlib import Path
from gateway.socketfile import SocketFile
report, heavy = Path(sys.argv[1]), sys.argv[2].split(",")
def write(path, found):
    path.with_suffix(".part").write_text(json.dumps(found))
    path.with_suffix(".part").rename(path)
def loaded():
    return sorted(m for m in heavy if m in sys.modules)
publish = SocketFile.publish
def reporting_publish(self, mode):
    publish(self, mode)
    write(report, {"modules": loaded(), "cpu": time.process_time()})
SocketFile.publish = reporting_publish
signal.signal(signal.SIGUSR1, lambda signum, frame: write(report.with_name("idle.json"), {"modules": loaded()}))
from gateway.cli import main
sys.exit(main(sys.argv[3:]))
"""


# Run in the child: the floor the gateway's figures are judged against — a bare grpc.aio server answering Version on the
# same unix socket (the generated provider service, nothing of the gateway), optionally with the libraries the product
# is built on imported: argv[2] names them, comma-separated (prometheus_client for metrics; PyYAML, jmespath and pluggy,
# which the first mount of any class needs).
FLOOR = """
import asyncio, importlib, sys
import grpc
from gateway.providerpb import service_pb2 as pb, service_pb2_grpc as pb_grpc
for library in filter(None, sys.argv[2].split(",")):
    importlib.import_module(library)
class Provider(pb_grpc.CSIDriverProviderServicer):
    async def Version(self, request, context):
        return pb.VersionResponse(version="v1alpha1", runtime_name="floor", runtime_version="0")
async def main():
    server = grpc.aio.server()
    pb_grpc.add_CSIDriverProviderServicer_to_server(Provider(), server)
    server.add_insecure_port("unix:" + sys.argv[1])
    await server.start()
    await asyncio.Event().wait()
asyncio.run(main())
"""
FLOORS = {
    "bare grpc.aio": "",
    "+ prometheus_client": "prometheus_client",
    "+ yaml, jmespath, pluggy": "prometheus_client,yaml,jmespath,pluggy",
}


def bytecode_environment() -> dict[str, str]:
    """The children's environment: bytecode written and read under the user's cache, as the image has it compiled."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "secrets-gateway" / "pycache"
    environment = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    return {**environment, "PYTHONPYCACHEPREFIX": str(cache)}


def serve_command(directory: Path, plugins: str, extra: tuple[str, ...] = ()) -> list[str]:
    """``serve`` of ``plugins`` (a plugin list, optionally followed by more flags: ``"aws,vault,fake --warm-up"``)."""
    names, *flags = plugins.split()
    return ["--log-level", "error", "serve", "--providers-dir", str(directory), "--plugins", names, "--http-address", "", *flags, *extra]


def probe(directory: Path, plugins: str, extra: tuple[str, ...] = (), env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], Path]:
    """Start ``serve`` under the module probe; returns the process and where its module report appears."""
    report = directory / "modules.json"
    command = [sys.executable, "-c", PROBE, str(report), ",".join(HEAVY), *serve_command(directory, plugins, extra)]
    return subprocess.Popen(command, env=env), report


@dataclass
class Memory:
    rss_mib: float  # the process plus all its children (parse workers)
    pss_mib: float  # the same, shared pages divided among the processes that map them
    children: int


def memory(pid: int) -> Memory:
    """RSS and PSS of the process plus all its children (parse workers), and how many children there are."""
    process = psutil.Process(pid)
    children = process.children(recursive=True)
    rss = pss = 0
    for member in (process, *children):
        try:
            full = member.memory_full_info()
        except psutil.NoSuchProcess:
            continue
        rss, pss = rss + full.rss, pss + full.pss
    return Memory(rss / 2**20, pss / 2**20, len(children))


def idle_modules(server: subprocess.Popen[bytes], report: Path) -> list[str]:
    """The heavy modules the probed ``server`` holds now (it answers SIGUSR1 with a report)."""
    idle = report.with_name("idle.json")
    server.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 30
    while not idle.exists():
        if time.monotonic() > deadline or server.poll() is not None:
            raise SystemExit("serve did not report its modules at idle")
        time.sleep(0.01)
    modules: list[str] = json.loads(idle.read_text())["modules"]
    return modules


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
    socket_cpu: float
    idle: Memory
    heavy: list[str]  # at socket time
    idle_heavy: list[str]
    version_max: float  # the slowest Version answer while the plugins loaded and warmed up


async def version_latencies(socket_path: Path, seconds: float) -> list[float]:
    """``Version`` every 10 ms for ``seconds``: how long each took (the driver's view of the event loop)."""
    latencies = []
    deadline = time.perf_counter() + seconds
    async with DriverClient(socket_path) as client:
        while time.perf_counter() < deadline:
            begun = time.perf_counter()
            await client.version(timeout=5.0)
            latencies.append(time.perf_counter() - begun)
            await asyncio.sleep(0.01)
    return latencies


async def start_run(plugins: str, idle_seconds: float) -> StartRun:
    directory = Path(tempfile.mkdtemp(prefix="sgw-start-", dir="/tmp"))
    started = time.perf_counter()
    server, report = probe(directory, plugins, env=bytecode_environment())
    with stopping(server):
        await until_version_answers(server, directory / SOCKET)
        ready = time.perf_counter() - started
        latencies = await version_latencies(directory / SOCKET, idle_seconds)
        idle = memory(server.pid)
        while not report.exists():
            await asyncio.sleep(0.01)
        found = json.loads(report.read_text())
        return StartRun(ready, found["cpu"], idle, found["modules"], idle_modules(server, report), max(latencies, default=0.0))


async def floor_run(kind: str, idle_seconds: float) -> tuple[float, Memory]:
    """Spawn to the first Version answer, and the idle memory ``idle_seconds`` later (``Version`` called every 10 ms
    meanwhile, as :func:`start_run` does), of a :data:`FLOOR` server."""
    directory = Path(tempfile.mkdtemp(prefix="sgw-floor-", dir="/tmp"))
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-c", FLOOR, str(directory / SOCKET), kind], env=bytecode_environment())
    with stopping(server):
        await until_version_answers(server, directory / SOCKET)
        ready = time.perf_counter() - started
        await version_latencies(directory / SOCKET, idle_seconds)
        return ready, memory(server.pid)


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
    first: float  # the first Mount, sent ``after`` seconds after Version answered
    first_cpu: float  # the server's CPU seconds (all threads) while the first Mount was served
    second: float


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


async def mount_run(backend: Backend, after: float, flags: tuple[str, ...] = ()) -> MountRun:
    directory = Path(tempfile.mkdtemp(prefix="sgw-start-", dir="/tmp"))
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "gateway", *serve_command(directory, ALL_PLUGINS, (*flags, *backend.flags))],
                              env=bytecode_environment())  # with the backend's test environment (AWS_ENDPOINT_URL…)
    with stopping(server):
        await until_version_answers(server, directory / SOCKET)
        ready = time.perf_counter() - started
        await asyncio.sleep(after)
        times, cpu = [], 0.0
        async with DriverClient(directory / SOCKET) as client:
            for _ in range(2):
                begun, begun_cpu = time.perf_counter(), cpu_seconds(server.pid)
                await client.mount(backend.request)
                times.append(time.perf_counter() - begun)
                cpu = cpu or cpu_seconds(server.pid) - begun_cpu
        return MountRun(ready, times[0], cpu, times[1])


async def first_mounts(names: list[str], runs: int, after: float) -> dict[str, dict[str, list[MountRun]]]:
    """Per backend, the runs whose first Mount came at once, ``after`` seconds later, and ``after`` seconds later
    from a server started with ``--warm-up`` (alternating)."""
    figures: dict[str, dict[str, list[MountRun]]] = {}
    cases = {"at once": (0.0, ()), f"after {after:g} s": (after, ()), f"after {after:g} s, --warm-up": (after, ("--warm-up",))}
    for name in names:
        figures[name] = {when: [] for when in cases}
        async with BACKENDS[name]() as backend:
            for _ in range(runs):
                for when, (delay, flags) in cases.items():
                    figures[name][when].append(await mount_run(backend, delay, flags))
    return figures


# --------------------------------------------------------------------------- report


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--plugins", action="append",
                        help=f'plugin sets to start, each optionally with more serve flags (default: fake, {ALL_PLUGINS} and "{ALL_PLUGINS} --warm-up")')
    parser.add_argument("--backends", default="fake,aws,vault", help="first mount of these backends (default fake,aws,vault; '' for none)")
    parser.add_argument("--idle-seconds", type=float, default=3.0, help="when idle RSS is read after the socket answers (default 3)")
    args = parser.parse_args()
    sets = args.plugins or ["fake", ALL_PLUGINS, f"{ALL_PLUGINS} --warm-up"]
    print(f"serve start-up, {args.runs} runs per plugin set, alternating; Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs, load {psutil.getloadavg()[0]:.1f}; compiled bytecode (one uncounted run first)")
    await start_run(ALL_PLUGINS, 0.0)
    figures: dict[str, list[StartRun]] = {name: [] for name in sets}
    floors: dict[str, list[tuple[float, Memory]]] = {name: [] for name in FLOORS}
    for _ in range(args.runs):
        for name in sets:
            figures[name].append(await start_run(name, args.idle_seconds))
        for name, kind in FLOORS.items():
            floors[name].append(await floor_run(kind, args.idle_seconds))
    print(f"{'--plugins':<32}{'start median s':>15}{'min s':>8}{'CPU s to socket':>17}{'idle RSS MiB':>14}{'idle PSS MiB':>14}"
          f"{'children':>10}{'Version max ms':>16}")
    for name, runs in figures.items():
        starts = [r.start for r in runs]
        print(f"{name:<32}{statistics.median(starts):>15.3f}{min(starts):>8.3f}{statistics.median(r.socket_cpu for r in runs):>17.3f}"
              f"{statistics.median(r.idle.rss_mib for r in runs):>14.1f}{statistics.median(r.idle.pss_mib for r in runs):>14.1f}"
              f"{max(r.idle.children for r in runs):>10}{max(r.version_max for r in runs) * 1000:>16.0f}")
    for name, floor_runs in floors.items():
        print(f"{'floor: ' + name:<32}{statistics.median(r[0] for r in floor_runs):>15.3f}{min(r[0] for r in floor_runs):>8.3f}{'-':>17}"
              f"{statistics.median(r[1].rss_mib for r in floor_runs):>14.1f}{statistics.median(r[1].pss_mib for r in floor_runs):>14.1f}")
    for name, runs in figures.items():
        print(f"{name:<32}heavy modules at socket time: {', '.join(runs[-1].heavy) or 'none'}; at idle: {', '.join(runs[-1].idle_heavy) or 'none'}")
    print(f"start = spawn until Version answers; CPU s to socket = the process's CPU seconds when its socket was published; "
          f"idle RSS / PSS = the serve process plus its children (parse workers), {args.idle_seconds:g} s later (after the "
          f"plugins' warm-up, with --warm-up); Version max = the slowest of the Version calls made every 10 ms over those "
          f"{args.idle_seconds:g} s (while the plugins load and warm up); floor = a bare grpc.aio server answering Version on the same socket, nothing of "
          f"the gateway (then with prometheus_client imported, then also PyYAML, jmespath and pluggy: the libraries the product "
          f"is built on, resident once any class has mounted). Targets: start <= 0.3 s, idle <= 40 MiB")
    names = [name for name in args.backends.split(",") if name]
    if names:
        mounts = await first_mounts(names, args.runs, args.idle_seconds)
        print(f"\nfirst mount per backend: serve --plugins {ALL_PLUGINS}, a one-object Mount sent as soon as Version answers "
              f"(the pipeline still loading) or {args.idle_seconds:g} s later (the pipeline built; with --warm-up, the warm-up "
              f"done too), then a second (median of {args.runs}, ms; first mount CPU = the server's, all threads)")
        print(f"{'backend':<10}{'first mount sent':>28}{'start':>8}{'first mount':>13}{'first mount CPU':>17}{'second mount':>14}"
              f"{'spawn to mounted':>18}")
        for name, by_delay in mounts.items():
            for when, mount_runs in by_delay.items():
                def median(values: Iterator[float]) -> float:
                    return statistics.median(values) * 1000
                spawn_to_mounted = f"{median(r.start + r.first for r in mount_runs):>18.0f}" if when == "at once" else f"{'':>18}"
                print(f"{name:<10}{when:>28}{median(r.start for r in mount_runs):>8.0f}{median(r.first for r in mount_runs):>13.0f}"
                      f"{median(r.first_cpu for r in mount_runs):>17.0f}{median(r.second for r in mount_runs):>14.1f}{spawn_to_mounted}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
