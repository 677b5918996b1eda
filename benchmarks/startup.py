"""Start-up cost of the real ``secrets-gateway serve``: time until the socket answers, idle RSS, heavy modules loaded.

    uv run python benchmarks/startup.py [--runs 5] [--plugins fake] [--plugins aws,vault,fake]

Each run starts a cold ``serve`` process and calls the driver's ``Version`` RPC over the unix socket
until it answers; the time from spawning the process to that first answer is "start". One second
later the process's RSS is read ("idle"). The process itself reports (see :func:`probe`) which heavy
libraries it had imported when its socket appeared — backends a class set does not use should cost
nothing, so none of boto3/botocore's client machinery or hvac should be among them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from gateway.client import DriverClient

HEAVY = ("boto3", "botocore.client", "botocore.session", "hvac", "requests", "urllib3", "jmespath", "moto")
SOCKET = "secrets-gateway.sock"

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


def serve_command(directory: Path, plugins: str) -> list[str]:
    return ["--log-level", "error", "serve", "--providers-dir", str(directory), "--plugins", plugins, "--http-address", ""]


def probe(directory: Path, plugins: str) -> tuple[subprocess.Popen[bytes], Path]:
    """Start ``serve`` under the module probe; returns the process and where its module report appears."""
    report = directory / "modules.json"
    command = [sys.executable, "-c", PROBE, str(directory / SOCKET), str(report), ",".join(HEAVY), *serve_command(directory, plugins)]
    return subprocess.Popen(command), report


async def one_run(plugins: str) -> tuple[float, float, list[str]]:
    """(seconds until Version answers, idle RSS MiB one second later, heavy modules loaded at socket time)."""
    directory = Path(tempfile.mkdtemp(prefix="sgw-start-", dir="/tmp"))
    started = time.perf_counter()
    server, report = probe(directory, plugins)
    try:
        while True:
            if server.poll() is not None:
                raise SystemExit(f"serve --plugins {plugins} exited during startup")
            if (directory / SOCKET).exists():
                try:
                    async with DriverClient(directory / SOCKET) as client:
                        await client.version(timeout=1.0)
                    break
                except Exception:  # bound under a temporary name first; an early connect may still fail
                    pass
            await asyncio.sleep(0.002)
        ready = time.perf_counter() - started
        await asyncio.sleep(1.0)
        rss = psutil.Process(server.pid).memory_info().rss / 2**20
        while not report.exists():
            await asyncio.sleep(0.01)
        return ready, rss, json.loads(report.read_text())
    finally:
        server.terminate()
        server.wait(timeout=30)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--plugins", action="append", help="plugin sets to start (default: fake, and aws,vault,fake)")
    args = parser.parse_args()
    sets = args.plugins or ["fake", "aws,vault,fake"]
    print(f"serve start-up, {args.runs} runs per plugin set, alternating; Python {sys.version.split()[0]}, load {psutil.getloadavg()[0]:.1f}")
    figures: dict[str, list[tuple[float, float, list[str]]]] = {name: [] for name in sets}
    for _ in range(args.runs):
        for name in sets:
            figures[name].append(await one_run(name))
    print(f"{'--plugins':<18}{'start median s':>15}{'min s':>8}{'idle RSS MiB':>14}  heavy modules at socket time")
    for name, runs in figures.items():
        starts = [r[0] for r in runs]
        print(f"{name:<18}{statistics.median(starts):>15.2f}{min(starts):>8.2f}{statistics.median(r[1] for r in runs):>14.1f}  "
              f"{', '.join(runs[-1][2]) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
