"""Hostile-tenant benchmark: one tenant attacks the node's gateway while another keeps mounting.

    uv run python benchmarks/hostile_tenant.py [--seconds 5] [--only ID ...]

The real ``secrets-gateway serve`` runs in its own process (fake backend, the ASCP dialect, the limits of
``tests/adversarial/attacks.py``). A victim tenant mounts 10 objects in a loop; a prober sends ``Version``
every 10 ms (its latency is the event-loop lag as a client sees it); an attacker — a separate process at a
lower CPU priority (nice +10), so its own client work (building 3 MiB requests, decoding 21,000-file
responses: on a node, the driver's CPU, not the gateway's) does not take the CPU from the victim's client
and the gateway on a small machine — repeats one attack of ``tests/adversarial/attacks.py`` for
``--seconds``, then the next. Printed per attack: the victim's median and p99 against its baseline (the
victim alone), the worst ``Version`` latency, the gateway's peak RSS (and its worker processes'), and the
attack's outcomes — every one must be the attack's expected status, never Internal.

Before that, each attack runs alone for 2 s: the gateway's CPU per attack (its own process; in brackets its
event-loop thread's share, the time the interpreter lock was held against every other mount, and its worker
processes') is what the attacker takes from everyone, and does not depend on outside load.
Each attack then runs ``--seconds`` more in bursts of at least ``--burst`` seconds, each followed by a rest
as long as the burst, while the victim keeps mounting: its mounts that overlap a burst are "under attack",
the others "between bursts". Both sets are taken side by side, a fraction of a second apart, so load from
outside the benchmark weighs on both alike; the ratio of their p99s is the figure a shared machine blurs
least, and the one the p99 target is judged on (the ratio against the separate baseline is shown too).

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
from typing import Any, NamedTuple

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.client import DriverClient, MountFailure
from gateway.testing import mount_request
from tests.adversarial.attacks import ATTACKER_POD, ATTACKS, SETTINGS, STORE, Attack, victim_request

PROBE_INTERVAL = 0.01
ATTACKER_NICENESS = 10
BURST_SECONDS = 0.25
ALONE_SECONDS = 2.0  # the attacker alone, for the gateway's CPU per attack (a figure load cannot blur)


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

    def cpu_seconds(self) -> tuple[float, float, float]:
        """(the gateway process, its event-loop thread, its live worker processes) CPU seconds used so far, user and
        system. The loop thread's share is what held the interpreter lock against every other mount; the rest of the
        process's is mostly gRPC's core threads reading the socket, outside it."""
        try:
            own = sum(self.ps.cpu_times()[:2])
            loop = sum(thread.user_time + thread.system_time for thread in self.ps.threads() if thread.id == self.ps.pid)
            workers = sum(sum(child.cpu_times()[:2]) for child in self.ps.children(recursive=True))
        except psutil.NoSuchProcess:
            return 0.0, 0.0, 0.0
        return own, loop, workers

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


class Phase:
    """What the victim, the prober and the RSS sampler saw while one attack (or none) ran."""

    def __init__(self) -> None:
        self.victim: list[float] = []
        self.victim_spans: list[tuple[float, float]] = []  # (start, end) on the system-wide monotonic clock
        self.victim_failures = 0
        self.version: list[float] = []
        self.rss = 0.0
        self.worker_rss = 0.0


async def victim(socket: Path, phase: Phase, stop: asyncio.Event) -> None:
    request = victim_request()
    async with DriverClient(socket) as client:
        while not stop.is_set():
            started = time.monotonic()
            try:
                await client.mount(request, timeout=30)
                ended = time.monotonic()
                phase.victim.append(ended - started)
                phase.victim_spans.append((started, ended))
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


async def measure(
    gateway: Gateway, seconds: float, attack_id: str | None, burst: float | None = None, *, alone: bool = False
) -> tuple[Phase, Attacker]:
    """One phase: the victim, the prober and the sampler (only the sampler when ``alone``), while ``attack_id``
    runs (continuously, or in bursts)."""
    phase, stop = Phase(), asyncio.Event()
    jobs: list[tuple[Any, tuple[Any, ...]]] = [(sample_rss, (gateway, phase, stop))]
    if not alone:
        jobs += [(victim, (gateway.socket, phase, stop)), (prober, (gateway.socket, phase, stop))]
    tasks = [asyncio.create_task(job(*args)) for job, args in jobs]
    attacker = Attacker({}, [])
    if attack_id is None:
        await asyncio.sleep(seconds)
    else:
        command = [sys.executable, __file__, "--attacker", attack_id, "--socket", str(gateway.socket), "--seconds", str(seconds)]
        if burst is not None:
            command += ["--interleaved", "--burst", str(burst)]
        process = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
        output, _ = await process.communicate()
        report = json.loads(output.decode().strip().splitlines()[-1])
        attacker = Attacker(report["outcomes"], [tuple(span) for span in report["bursts"]])
    stop.set()
    await asyncio.gather(*tasks)
    return phase, attacker


class Attacker(NamedTuple):
    outcomes: dict[str, int]
    bursts: list[tuple[float, float]]  # when the attacker was sending (start, end), on the system-wide monotonic clock

    def split(self, phase: Phase) -> tuple[list[float], list[float]]:
        """The victim's latencies of mounts that overlapped a burst, and of those between bursts (not before the
        first or after the last, while the attacker process starts and stops)."""
        during: list[float] = []
        between: list[float] = []
        if not self.bursts:
            return during, between
        first, last = self.bursts[0][0], self.bursts[-1][1]
        for (started, ended), latency in zip(phase.victim_spans, phase.victim, strict=True):
            if started < first or ended > last:
                continue
            overlaps = any(started < burst_end and ended > burst_start for burst_start, burst_end in self.bursts)
            (during if overlaps else between).append(latency)
        return during, between


def attack_by_id(attack_id: str, round_number: int) -> Attack:
    if attack_id == "legal-1mb-class":
        return legal_heavy_class(round_number)
    return next(attack for attack in ATTACKS if attack.id == attack_id)


async def attack_loop(attack_id: str, socket: Path, seconds: float, burst: float | None) -> dict[str, Any]:
    """The attacker process: repeat the attack for ``seconds`` (in bursts, each followed by as long a rest, when
    ``burst`` is given); count outcomes by status and note when it was sending."""
    outcomes: collections.Counter[str] = collections.Counter()
    bursts: list[tuple[float, float]] = []
    deadline = time.monotonic() + seconds
    round_number = 0
    async with DriverClient(socket) as client:
        while time.monotonic() < deadline:
            started = time.monotonic()
            while True:
                attack = attack_by_id(attack_id, round_number)
                request = mount_request(attack.objects, attack.parameters, pod=ATTACKER_POD)
                round_number += 1
                try:
                    await client.mount(request, timeout=60)
                    outcomes["OK"] += 1
                except MountFailure as failure:
                    outcomes[failure.code_name] += 1
                now = time.monotonic()
                if burst is None or now - started >= burst or now >= deadline:
                    break
            bursts.append((started, now))
            if burst is not None:
                await asyncio.sleep(min(now - started, max(0.0, deadline - now)))
    return {"outcomes": dict(outcomes), "bursts": bursts}


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values) or [0.0]
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


async def run(seconds: float, only: list[str], burst: float) -> int:
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
        print("| attack | attack outcomes | gateway CPU ms per attack, attacker alone (event-loop thread; workers') | victim mounts | victim median ms "
              "| victim p99 ms (x baseline) | interleaved victim p99 ms: under attack / between bursts (x) "
              "| max Version ms | gateway peak RSS MiB | workers' RSS MiB | targets |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for attack_id in ids:
            cpu_before = gateway.cpu_seconds()
            _, alone = await measure(gateway, ALONE_SECONDS, attack_id, alone=True)
            cpu_after = gateway.cpu_seconds()
            phase, attacker = await measure(gateway, seconds, attack_id)
            mixed, bursts = await measure(gateway, seconds, attack_id, burst)
            expected = attack_by_id(attack_id, 0).code
            p99 = percentile(phase.victim, 0.99)
            during, between = bursts.split(mixed)
            during_p99, between_p99 = percentile(during, 0.99), percentile(between, 0.99)
            ratio = during_p99 / between_p99 if between_p99 else float("inf")
            worst_version = max(phase.version + mixed.version or [0.0])
            rss, worker_rss = max(phase.rss, mixed.rss), max(phase.worker_rss, mixed.worker_rss)
            met = (
                set(alone.outcomes) | set(attacker.outcomes) | set(bursts.outcomes) == {expected} and phase.victim_failures + mixed.victim_failures == 0
                and ratio <= 2 and worst_version < 0.1 and rss < 256
            )  # fmt: skip
            failures += not met
            attacks = sum(alone.outcomes.values()) or 1
            own_cpu, loop_cpu, worker_cpu = ((after - before) * 1000 / attacks for after, before in zip(cpu_after, cpu_before, strict=True))
            shown = ", ".join(f"{count} {code}" for code, count in sorted(attacker.outcomes.items()))
            print(f"| {attack_id} | {shown} | {own_cpu:.1f} ({loop_cpu:.1f}; {max(0.0, worker_cpu):.1f}) | {len(phase.victim)} ({phase.victim_failures} failed) "
                  f"| {ms(statistics.median(phase.victim or [0.0]))} | {ms(p99)} ({p99 / base_p99:.1f}x) "
                  f"| {ms(during_p99)} / {ms(between_p99)} ({ratio:.1f}x; {len(during)}/{len(between)} mounts) | {ms(worst_version)} "
                  f"| {rss:.1f} | {worker_rss:.1f} | {'met' if met else 'MISSED'} |", flush=True)
    finally:
        gateway.stop()
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="how long each attack runs (default 5)")
    parser.add_argument("--only", nargs="*", default=[], help="attack ids to run (default: all)")
    parser.add_argument("--burst", type=float, default=BURST_SECONDS, help=f"shortest attack burst, interleaved (default {BURST_SECONDS:g})")
    parser.add_argument("--attacker", help=argparse.SUPPRESS)
    parser.add_argument("--socket", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--interleaved", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.attacker:
        os.nice(ATTACKER_NICENESS)
        print(json.dumps(asyncio.run(attack_loop(args.attacker, args.socket, args.seconds, args.burst if args.interleaved else None))))
        return 0
    print(f"secrets-gateway hostile-tenant benchmark — Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"{args.seconds:g} s per attack, then {args.seconds:g} s in bursts of at least {args.burst:g} s")
    return asyncio.run(run(args.seconds, args.only, args.burst))


if __name__ == "__main__":
    sys.exit(main())
