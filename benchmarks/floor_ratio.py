"""The core against its floor: server CPU per Mount, the gateway beside a bare grpc.aio server.

    uv run python benchmarks/floor_ratio.py [--quick] [--sizes 1,10,100,1000] [--batches 5]

The floor is the least any provider must do for the same Mount over the same unix-socket transport:
decode the request, parse its attributes (JSON) and its ``objects`` (YAML, libyaml) once per class
text (kept in the gateway's own :class:`~gateway.parsecache.ParseCache`), look every object up in the
store the fake backend serves and return the files — no validation, no middleware, no metrics.
Beside it runs the real ``secrets-gateway serve`` with the fake backend on the same store.

Per N (objects per mount), two modes:
  hit   the same class on every mount: the cached floor against the gateway (target: ratio <= 1.5)
  miss  every mount's ``objects`` text differs (a comment line), so the parse caches miss: an
        uncached floor (parsing on every mount) against the gateway (target: ratio <= 2)

Server CPU is utime+stime of each server process and its children (the gateway's parse workers)
from /proc, summed over a batch of sequential mounts; batches of the two servers alternate (ABBA),
the medians of per-batch figures are compared. Each server reports its garbage-collection pauses
(``gc.callbacks``) per phase, in CPU and wall time (target: none over 20 ms). CPU time does not depend on machine load,
but ticks are 10 ms: keep batches large (``--scale``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SECRETS = 1000
#: mounts per batch at each N (times --scale): each batch costs the floor roughly 0.2 s of CPU
MOUNTS_PER_BATCH = {1: 1500, 10: 1000, 100: 300, 1000: 40}
TICK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- inside a server process


class GcWatch:
    """Collection pauses of this process, written to ``path`` (and reset) on SIGUSR1.

    Each pause is taken in CPU time of the collecting thread (what the collector itself costs, robust
    under machine load) and in wall time (what a caller waits; inflated when the machine is loaded)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.started = (0.0, 0.0)
        self.reset()
        gc.callbacks.append(self._callback)
        signal.signal(signal.SIGUSR1, lambda *_: self.dump())

    def reset(self) -> None:
        self.cpu: list[float] = []
        self.wall: list[float] = []
        self.collections = [0, 0, 0]

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self.started = (time.thread_time(), time.perf_counter())
        else:
            self.cpu.append(time.thread_time() - self.started[0])
            self.wall.append(time.perf_counter() - self.started[1])
            self.collections[info["generation"]] += 1

    def dump(self) -> None:
        stats = {"max_ms": max(self.cpu, default=0.0) * 1000, "max_wall_ms": max(self.wall, default=0.0) * 1000,
                 "total_ms": sum(self.cpu) * 1000, "collections": self.collections}
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(stats))
        temporary.replace(self.path)
        self.reset()


def run_floor(socket: str, store_path: str, cached: bool) -> None:
    import grpc
    import yaml

    from gateway.parsecache import ParseCache
    from gateway.providerpb import service_pb2 as pb
    from gateway.providerpb import service_pb2_grpc as pb_grpc

    store = {name: value.encode() for name, value in json.loads(Path(store_path).read_text())["secrets"].items()}
    cache: ParseCache[list[tuple[str, str]]] = ParseCache()

    def parse(text: str) -> list[tuple[str, str]]:
        entries = yaml.load(text, Loader=yaml.CSafeLoader)
        return [((entry.get("objectAlias") or entry["objectName"]).replace("/", "_"), entry["objectName"]) for entry in entries]

    def files(text: str) -> list[tuple[str, str]]:
        if not cached:
            return parse(text)
        key = ParseCache.key([text])
        parsed = cache.get(key)
        if parsed is None:
            parsed = parse(text)
            cache.put(key, parsed, len(text))
        return parsed

    class Floor(pb_grpc.CSIDriverProviderServicer):
        async def Version(self, request: Any, context: Any) -> Any:
            return pb.VersionResponse(version="v1alpha1", runtime_name="floor", runtime_version="0")

        async def Mount(self, request: Any, context: Any) -> Any:
            attributes = json.loads(request.attributes)
            mode = json.loads(request.permission)
            listed = files(attributes["objects"])
            return pb.MountResponse(
                object_version=[pb.ObjectVersion(id=path, version="1") for path, _ in listed],
                files=[pb.File(path=path, mode=mode, contents=store[name]) for path, name in listed],
            )

    async def serve() -> None:
        server = grpc.aio.server(options=[("grpc.max_send_message_length", -1)])
        pb_grpc.add_CSIDriverProviderServicer_to_server(Floor(), server)
        server.add_insecure_port(f"unix://{socket}")
        await server.start()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await server.stop(None)

    asyncio.run(serve())


def run_gateway(directory: str, store_path: str) -> int:
    from gateway.cli import main

    return main(["--log-level", "warning", "serve", "--providers-dir", directory, "--plugins", "fake",
                 "--fake-store", store_path, "--http-address", ""])


# --------------------------------------------------------------------------- the benchmark process


def process_tree_cpu(pid: int) -> float:
    """utime+stime of ``pid`` and its live descendants, in seconds."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()
        stats[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK)
    tree, total = {pid}, 0.0
    changed = True
    while changed:
        changed = False
        for child, (parent, _) in stats.items():
            if parent in tree and child not in tree:
                tree.add(child)
                changed = True
    for member in tree:
        total += stats.get(member, (0, 0.0))[1]
    return total


class ServerProcess:
    def __init__(self, name: str, argv: list[str], socket: Path, stats: Path) -> None:
        self.name, self.socket, self.stats = name, socket, stats
        self.process = subprocess.Popen([sys.executable, __file__, *argv, "--gc-stats", str(stats)])
        deadline = time.monotonic() + 120
        while not socket.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{name} did not start")
            time.sleep(0.01)

    def cpu(self) -> float:
        return process_tree_cpu(self.process.pid)

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def gc_stats(self) -> dict[str, Any]:
        """The pauses since the last call (the server writes them on SIGUSR1)."""
        self.stats.unlink(missing_ok=True)
        self.process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while not self.stats.exists():
            if time.monotonic() > deadline:
                return {"max_ms": float("nan"), "max_wall_ms": float("nan"), "total_ms": float("nan"), "collections": []}
            time.sleep(0.01)
        stats: dict[str, Any] = json.loads(self.stats.read_text())
        return stats

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


def object_list(count: int) -> list[dict[str, str]]:
    return [{"objectName": f"bench/s{i}", "objectType": "fake"} for i in range(count)]


class Requests:
    """Mount requests as the driver sends them; in miss mode each one's ``objects`` text is new."""

    def __init__(self, count: int) -> None:
        import yaml

        self.objects = yaml.safe_dump(object_list(count), sort_keys=False)
        self.serial = 0

    def next(self, miss: bool) -> Any:
        from gateway import wire
        from gateway.testing import mount_request

        text = self.objects
        if miss:
            self.serial += 1
            text += f"# variant {self.serial}\n"
        return wire.to_mount_request(mount_request(text))


async def batch(stub: Any, requests: list[Any], concurrency: int) -> None:
    queue = list(reversed(requests))

    async def worker() -> None:
        while queue:
            response = await stub.Mount(queue.pop(), timeout=120)
            assert response.files, "a mount returned no files"

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def measure(
    pair: list[tuple[ServerProcess, Any]], requests: Requests, miss: bool, mounts: int, batches: int, concurrency: int
) -> list[list[float]]:
    """Per-mount CPU seconds of each server, one figure per batch; batches alternate ABBA."""
    figures: list[list[float]] = [[] for _ in pair]
    for _server, stub in pair:  # warm-up
        await batch(stub, [requests.next(miss) for _ in range(max(3, mounts // 10))], concurrency)
    for number in range(batches):
        order = list(enumerate(pair)) if number % 2 == 0 else list(reversed(list(enumerate(pair))))
        for index, (server, stub) in order:
            prepared = [requests.next(miss) for _ in range(mounts)]
            before = server.cpu()
            await batch(stub, prepared, concurrency)
            figures[index].append((server.cpu() - before) / mounts)
    return figures


def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f} µs"


async def run(args: argparse.Namespace) -> None:
    import grpc

    from gateway.providerpb import service_pb2_grpc as pb_grpc

    work = Path(tempfile.mkdtemp(prefix="sgw-floor-", dir="/tmp"))
    store = work / "store.json"
    store.write_text(json.dumps({"secrets": {f"bench/s{i}": json.dumps({"user": f"u{i}", "password": f"p{i}"})
                                             for i in range(SECRETS)}}))
    (work / "gateway").mkdir()
    servers = {
        "floor": ServerProcess("floor", ["--run-floor", str(work / "floor.sock"), "--store", str(store)],
                               work / "floor.sock", work / "floor.gc"),
        "floor-uncached": ServerProcess(
            "floor-uncached", ["--run-floor", str(work / "uncached.sock"), "--store", str(store), "--uncached"],
            work / "uncached.sock", work / "uncached.gc"),
        "gateway": ServerProcess("gateway", ["--run-gateway", str(work / "gateway"), "--store", str(store)],
                                 work / "gateway" / "secrets-gateway.sock", work / "gateway.gc"),
    }
    channels = {name: grpc.aio.insecure_channel(f"unix://{server.socket}", options=[
        ("grpc.default_authority", "localhost"), ("grpc.max_receive_message_length", 64 * 2**20)])
        for name, server in servers.items()}
    stubs = {name: pb_grpc.CSIDriverProviderStub(channel) for name, channel in channels.items()}
    rows = []
    try:
        for server in servers.values():
            server.gc_stats()
        for size in args.sizes:
            requests = Requests(size)
            mounts = max(5, int(MOUNTS_PER_BATCH.get(size, max(40, 40_000 // size)) * args.scale))
            for mode, floor_name in (("hit", "floor"), ("miss", "floor-uncached")):
                pair = [(servers[floor_name], stubs[floor_name]), (servers["gateway"], stubs["gateway"])]
                floor, gateway = await measure(pair, requests, mode == "miss", mounts, args.batches, args.concurrency)
                floor_median, gateway_median = statistics.median(floor), statistics.median(gateway)
                gc_gateway, gc_floor = servers["gateway"].gc_stats(), servers[floor_name].gc_stats()
                row = {
                    "N": size, "mode": mode, "mounts_per_batch": mounts, "floor_us": floor_median * 1e6,
                    "gateway_us": gateway_median * 1e6, "ratio": gateway_median / floor_median if floor_median else float("inf"),
                    "gateway_gc_max_ms": gc_gateway["max_ms"], "gateway_gc_max_wall_ms": gc_gateway["max_wall_ms"],
                    "gateway_gc_collections": gc_gateway["collections"],
                    "floor_gc_max_ms": gc_floor["max_ms"], "gateway_rss_mib": servers["gateway"].rss_mib(),
                }
                rows.append(row)
                target = 1.5 if mode == "hit" else 2.0
                print(f"N={size:>5} {mode:4}  floor {us(floor_median):>10}/mount ({floor_median / size * 1e6:6.1f} µs/object)  "
                      f"gateway {us(gateway_median):>10}/mount ({gateway_median / size * 1e6:6.1f} µs/object)  "
                      f"ratio {row['ratio']:5.2f} (target <= {target}, {'met' if row['ratio'] <= target else 'MISSED'})  "
                      f"GC max pause gateway {gc_gateway['max_ms']:.1f} ms CPU / {gc_gateway['max_wall_ms']:.1f} ms wall "
                      f"(gen2 x{(gc_gateway['collections'] or [0, 0, 0])[2]}), floor {gc_floor['max_ms']:.1f} ms CPU; "
                      f"gateway RSS {row['gateway_rss_mib']:.0f} MiB", flush=True)
    finally:
        for channel in channels.values():
            await channel.close()
        for server in servers.values():
            server.stop()
    worst_gc = max(row["gateway_gc_max_ms"] for row in rows)
    worst_wall = max(row["gateway_gc_max_wall_ms"] for row in rows)
    print(f"gateway GC pause max over all phases: {worst_gc:.1f} ms CPU (target <= 20 ms, {'met' if worst_gc <= 20 else 'MISSED'}), "
          f"{worst_wall:.1f} ms wall (load average now {os.getloadavg()[0]:.1f})")
    if args.json:
        print(json.dumps(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=lambda text: [int(n) for n in text.split(",")], default=[1, 10, 100, 1000])
    parser.add_argument("--batches", type=int, default=6, help="batches per server and phase (alternating)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the mounts per batch")
    parser.add_argument("--concurrency", type=int, default=1, help="mounts in flight per batch")
    parser.add_argument("--quick", action="store_true", help="a smoke run: --scale 0.2 --batches 2")
    parser.add_argument("--json", action="store_true", help="also print the rows as JSON")
    parser.add_argument("--run-floor", help=argparse.SUPPRESS)
    parser.add_argument("--run-gateway", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--uncached", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--gc-stats", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_floor or args.run_gateway:
        GcWatch(Path(args.gc_stats))
        if args.run_floor:
            run_floor(args.run_floor, args.store, cached=not args.uncached)
            return
        sys.exit(run_gateway(args.run_gateway, args.store))
    if args.quick:
        args.scale, args.batches = 0.2, 2
    print(f"floor ratio — Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}; sequential mounts x{args.concurrency}, {args.batches} batches per server and phase")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
