"""A process's first AWS mount against a warm one, side by side for two checkouts (issue 14, the cold round).

    uv run python benchmarks/aws_first_mount.py [--runs 5] [--tree .] [--tree ../other-checkout] [--warm-up]

Per run and checkout (runs alternating between the checkouts): a cold ``serve --plugins aws,vault,fake`` of that
checkout's interpreter (``<tree>/.venv/bin/python``), left idle ``--idle-seconds`` (the pipeline built; with
``--warm-up``, the plugins' warm-up done), then two Mounts of a one-secret Secrets Manager class by two pods of two
ServiceAccounts (IRSA) against moto's server: the first is the process's first AWS use, the second a new identity
on a warm process. Printed (medians): the server's CPU seconds (all threads) during each Mount and the difference,
the heavy modules it holds after them (botocore among them or not), its RSS then and its peak RSS (VmHWM).
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
from dataclasses import dataclass
from pathlib import Path

import psutil
from node_burst import peak_rss_mib
from startup import ALL_PLUGINS, HEAVY, PROBE, SOCKET, bytecode_environment, idle_modules, memory, serve_command, until_version_answers

from gateway.client import DriverClient
from gateway.testing import mount_request
from gateway_aws.testing import PRIMARY, AwsWorld


@dataclass
class Run:
    first_cpu: float
    second_cpu: float
    modules: list[str]
    rss_mib: float
    peak_mib: float


def cpu_seconds(pid: int) -> float:
    """The process's CPU seconds so far, all its threads, at the scheduler's nanosecond resolution (``/proc/<pid>/task/*/
    schedstat``; psutil's clock ticks are 10 ms, as long as a warm mount)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError):
            continue  # the thread ended meanwhile
    return total / 1e9


def revision(tree: Path) -> str:
    return subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False).stdout.strip()


async def one_run(world: AwsWorld, python: str, idle: float, flags: tuple[str, ...], run: int) -> Run:
    directory = Path(tempfile.mkdtemp(prefix="sgw-first-aws-", dir="/tmp"))
    objects = [{"objectName": "app/db", "objectType": "secretsmanager"}]
    pods = [world.irsa_pod(name=f"web-{run}-{n}", service_account=f"sa-{run}-{n}") for n in range(2)]
    report = directory / "modules.json"  # startup.py's module probe, run by the checkout's interpreter
    serve = serve_command(directory, ALL_PLUGINS, ("--aws-kubeconfig", str(world.kubeconfig), *flags))
    server = subprocess.Popen([python, "-c", PROBE, str(report), ",".join(HEAVY), *serve], env=bytecode_environment())
    try:
        await until_version_answers(server, directory / SOCKET)
        await asyncio.sleep(idle)
        spent = []
        async with DriverClient(directory / SOCKET) as client:
            for pod in pods:
                begun = cpu_seconds(server.pid)
                await client.mount(mount_request(objects, {"region": PRIMARY}, pod=pod))
                spent.append(cpu_seconds(server.pid) - begun)
        modules = idle_modules(server, report)
        return Run(spent[0], spent[1], modules, memory(server.pid).rss_mib, peak_rss_mib(server.pid))
    finally:
        server.terminate()
        server.wait(timeout=30)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tree", action="append", help="a checkout with its own .venv (default: this one); give two to compare")
    parser.add_argument("--idle-seconds", type=float, default=3.0)
    parser.add_argument("--warm-up", action="store_true", help="serve --warm-up")
    args = parser.parse_args()
    trees = [Path(tree).resolve() for tree in (args.tree or [Path(__file__).parent.parent])]
    flags = ("--warm-up",) if args.warm_up else ()
    print(f"first AWS mount vs a warm new identity, {args.runs} runs per checkout, alternating; {os.cpu_count()} CPUs, "
          f"load {psutil.getloadavg()[0]:.1f}; serve --plugins {ALL_PLUGINS} {' '.join(flags)}, mounts {args.idle_seconds:g} s after the socket")
    results: dict[Path, list[Run]] = {tree: [] for tree in trees}
    with AwsWorld.isolated() as world:
        world.secret("app/db", '{"user": "app"}')
        for tree in trees:  # one uncounted run each: bytecode compiled
            await one_run(world, str(tree / ".venv/bin/python"), 0.5, flags, -1)
        for run in range(args.runs):
            for tree in trees:
                results[tree].append(await one_run(world, str(tree / ".venv/bin/python"), args.idle_seconds, flags, run))
    print(f"{'checkout':<44}{'1st AWS mount CPU ms':>22}{'2nd (new identity) ms':>23}{'difference ms':>15}{'RSS MiB':>9}{'peak MiB':>10}")
    median = statistics.median
    for tree, runs in results.items():
        print(f"{f'{tree.name} ({revision(tree)})':<44}{median([r.first_cpu * 1000 for r in runs]):>22.1f}{median([r.second_cpu * 1000 for r in runs]):>23.1f}"
              f"{median([(r.first_cpu - r.second_cpu) * 1000 for r in runs]):>15.1f}{median([r.rss_mib for r in runs]):>9.1f}"
              f"{median([r.peak_mib for r in runs]):>10.1f}")
        print(f"{'':<44}heavy modules after the mounts: {', '.join(runs[-1].modules) or 'none'}")
    print(f"CPU = the server's CPU seconds (all threads) during each Mount; RSS / peak = the serve process and its children after "
          f"both mounts / its VmHWM; measured at {time.strftime('%H:%M UTC', time.gmtime())}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
