"""Hostile-tenant benchmark: one tenant attacks the node's gateway while another keeps mounting.

    uv run python benchmarks/hostile_tenant.py [--seconds 5] [--only ID ...]

The real ``secrets-gateway serve`` runs in its own process (fake backend, the ASCP dialect, the limits of
``tests/adversarial/attacks.py``). A victim tenant mounts 10 objects in a loop; a prober sends ``Version``
every 10 ms (its latency is the event-loop lag as a client sees it); an attacker — a separate process, so
its own CPU does not slow the victim's client — repeats one attack of ``tests/adversarial/attacks.py`` for
``--seconds``, then the next. Printed per attack: the victim's median and p99 against its baseline (the
victim alone), the worst ``Version`` latency, the gateway's peak RSS (and its parse workers'), and the
attack's outcomes — every one must be the attack's expected status, never Internal.

Targets (issue 10): victim p99 within 2x of baseline, Version latency under 100 ms, peak RSS under 256 MiB.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.client import DriverClient, MountFailure
from gateway.testing import mount_request
from tests.adversarial.attacks import ATTACKER_POD, ATTACKS, SETTINGS, STORE, Attack, victim_request

PROBE_INTERVAL = 0.01


def legal_heavy_class(round_number: int) -> Attack:
    """A legal 1 MB class (1,000 objects, 20 jmesPath entries each), new text every round: no parse-cache hits."""
    lines = [f"# round {round_number}\n"]
    for n in range(1000):
        lines.append(f"- objectName: json\n  objectType: fake\n  objectAlias: o-{n:04d}-{'x' * 40}\n  jmesPath:\n")
        lines += [f"    - {{path: username, objectAlias: o-{n:04d}-e-{e:02d}}}\n" for e in range(20)]
    return Attack("legal-1mb-class", "a legal 1 MB class, a new one each round", "".join(lines), "OK", ())


class Gateway:
    """``secrets-gateway serve`` in its own process, as on a node."""

    def __init__(self, store: Path) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="sgw-hostile-", dir="/tmp"))
        self.socket = self.directory / "secrets-gateway.sock"
        command = [
            sys.executable, "-m", "gateway", "--log-level", "error", "serve", "--providers-dir", str(self.directory),
            "--plugins", "fake,aws", "--fake-store", str(store), "--http-address", "",
            "--max-value-bytes", str(SETTINGS.max_value_bytes), "--max-response-bytes", str(4 * 1024 * 1024),
        ]  # fmt: skip
        self.process = subprocess.Popen(command)
        while not self.socket.exists():
            if self.process.poll() is not None:
                raise SystemExit("the gateway exited during startup")
            time.sleep(0.01)
        self.ps = psutil.Process(self.process.pid)

    def rss_mib(self) -> tuple[float, float]:
        """(the gateway process, its worker processes) resident MiB."""
        try:
            own = self.ps.memory_info().rss
            workers = sum(child.memory_info().rss for child in self.ps.children(recursive=True))
        except psutil.NoSuchProcess:
            return 0.0, 0.0
        return own / 2**20, workers / 2**20

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


class Phase:
    """What the victim, the prober and the RSS sampler saw while one attack (or none) ran."""

    def __init__(self) -> None:
        self.victim: list[float] = []
        self.victim_failures = 0
        self.version: list[float] = []
        self.rss = 0.0
        self.worker_rss = 0.0


async def victim(socket: Path, phase: Phase, stop: asyncio.Event) -> None:
    request = victim_request()
    async with DriverClient(socket) as client:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                await client.mount(request, timeout=30)
                phase.victim.append(time.perf_counter() - started)
            except MountFailure:
                phase.victim_failures += 1


async def prober(socket: Path, phase: Phase, stop: asyncio.Event) -> None:
    async with DriverClient(socket) as client:
        while not stop.is_set():
            started = time.perf_counter()
            await client.version(timeout=30)
            phase.version.append(time.perf_counter() - started)
            await asyncio.sleep(PROBE_INTERVAL)


async def sample_rss(gateway: Gateway, phase: Phase, stop: asyncio.Event) -> None:
    while not stop.is_set():
        own, workers = gateway.rss_mib()
        phase.rss, phase.worker_rss = max(phase.rss, own), max(phase.worker_rss, workers)
        await asyncio.sleep(0.05)


async def measure(gateway: Gateway, seconds: float, attack_id: str | None) -> tuple[Phase, dict[str, int]]:
    phase, stop = Phase(), asyncio.Event()
    tasks = [asyncio.create_task(job(*args)) for job, args in (
        (victim, (gateway.socket, phase, stop)), (prober, (gateway.socket, phase, stop)), (sample_rss, (gateway, phase, stop)),
    )]  # fmt: skip
    outcomes: dict[str, int] = {}
    if attack_id is None:
        await asyncio.sleep(seconds)
    else:
        attacker = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--attacker", attack_id, "--socket", str(gateway.socket), "--seconds", str(seconds),
            stdout=asyncio.subprocess.PIPE,
        )
        output, _ = await attacker.communicate()
        outcomes = json.loads(output.decode().strip().splitlines()[-1])
    stop.set()
    await asyncio.gather(*tasks)
    return phase, outcomes


def attack_by_id(attack_id: str, round_number: int) -> Attack:
    if attack_id == "legal-1mb-class":
        return legal_heavy_class(round_number)
    return next(attack for attack in ATTACKS if attack.id == attack_id)


async def attack_loop(attack_id: str, socket: Path, seconds: float) -> dict[str, int]:
    """The attacker process: repeat the attack for ``seconds``; count outcomes by status."""
    outcomes: collections.Counter[str] = collections.Counter()
    deadline = time.monotonic() + seconds
    round_number = 0
    async with DriverClient(socket) as client:
        while time.monotonic() < deadline:
            attack = attack_by_id(attack_id, round_number)
            request = mount_request(attack.objects, attack.parameters, pod=ATTACKER_POD)
            round_number += 1
            try:
                await client.mount(request, timeout=60)
                outcomes["OK"] += 1
            except MountFailure as failure:
                outcomes[failure.code_name] += 1
    return dict(outcomes)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values) or [0.0]
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


async def run(seconds: float, only: list[str]) -> int:
    work = Path(tempfile.mkdtemp(prefix="sgw-hostile-store-"))
    store = work / "store.json"
    store.write_text(json.dumps(STORE))
    ids = [attack.id for attack in ATTACKS] + ["legal-1mb-class"]
    ids = [attack_id for attack_id in ids if not only or attack_id in only]
    gateway = Gateway(store)
    failures = 0
    try:
        await measure(gateway, 1.0, None)  # warm up
        baseline, _ = await measure(gateway, seconds, None)
        base_median, base_p99 = statistics.median(baseline.victim), percentile(baseline.victim, 0.99)
        print(f"baseline (victim alone, {len(baseline.victim)} mounts): median {ms(base_median)} ms, p99 {ms(base_p99)} ms, "
              f"max Version {ms(max(baseline.version))} ms, gateway RSS {baseline.rss:.1f} MiB")
        print("| attack | attack outcomes | victim mounts | victim median ms | victim p99 ms (x baseline) "
              "| max Version ms | gateway peak RSS MiB | workers' RSS MiB | targets |")
        print("|---|---|---|---|---|---|---|---|---|")
        for attack_id in ids:
            phase, outcomes = await measure(gateway, seconds, attack_id)
            expected = attack_by_id(attack_id, 0).code
            p99 = percentile(phase.victim, 0.99)
            worst_version = max(phase.version or [0.0])
            met = (
                set(outcomes) == {expected} and phase.victim_failures == 0 and p99 <= 2 * base_p99
                and worst_version < 0.1 and phase.rss < 256
            )  # fmt: skip
            failures += not met
            shown = ", ".join(f"{count} {code}" for code, count in sorted(outcomes.items()))
            print(f"| {attack_id} | {shown} | {len(phase.victim)} ({phase.victim_failures} failed) "
                  f"| {ms(statistics.median(phase.victim or [0.0]))} | {ms(p99)} ({p99 / base_p99:.1f}x) | {ms(worst_version)} "
                  f"| {phase.rss:.1f} | {phase.worker_rss:.1f} | {'met' if met else 'MISSED'} |", flush=True)
    finally:
        gateway.stop()
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="how long each attack runs (default 5)")
    parser.add_argument("--only", nargs="*", default=[], help="attack ids to run (default: all)")
    parser.add_argument("--attacker", help=argparse.SUPPRESS)
    parser.add_argument("--socket", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.attacker:
        print(json.dumps(asyncio.run(attack_loop(args.attacker, args.socket, args.seconds))))
        return 0
    print(f"secrets-gateway hostile-tenant benchmark — Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"{args.seconds:g} s per attack")
    return asyncio.run(run(args.seconds, args.only))


if __name__ == "__main__":
    sys.exit(main())
