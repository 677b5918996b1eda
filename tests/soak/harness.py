"""The soak loop shared by the fake and AWS soaks: many mounts, checked contents, leak counts, RSS."""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import psutil

from gateway import log
from gateway.client import MountFailure
from gateway.model import MountResult
from gateway.request import RawMountRequest

#: one mount to run: the request and the exact files (path -> contents) it must produce
Planned = tuple[RawMountRequest, dict[str, bytes]]


@dataclass
class SoakReport:
    mounts: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    wrong_contents: int = 0
    unexpected: list[str] = field(default_factory=list)
    rss_mib: dict[int, float] = field(default_factory=dict)
    before: dict[str, int] = field(default_factory=dict)
    after: dict[str, int] = field(default_factory=dict)

    @property
    def rss_growth(self) -> float:
        marks = sorted(self.rss_mib)
        return self.rss_mib[marks[-1]] / self.rss_mib[marks[0]] - 1

    def leaks(self, thread_slack: int = 0, fd_slack: int = 0) -> list[str]:
        """Resources that grew during the counted mounts. ``thread_slack`` and ``fd_slack`` allow
        lazily filled, bounded pools to reach their bound (e.g. a worker pool's threads, the idle
        keep-alive connections :class:`gateway.outbound.OutboundHttp` keeps per origin)."""
        slack = {"fds": fd_slack, "tasks": 0, "threads": thread_slack}
        return [
            f"{key}: {self.before[key]} -> {self.after[key]}"
            for key in ("fds", "tasks", "threads")
            if self.after[key] > self.before[key] + slack[key]
        ]

    def lines(self) -> list[str]:
        marks = ", ".join(f"after {n}: {mib:.1f} MiB" for n, mib in sorted(self.rss_mib.items()))
        return [
            f"mounts: {self.mounts}; outcomes: {dict(self.outcomes)}",
            f"wrong or partial contents: {self.wrong_contents}; unexpected failures: {len(self.unexpected)}",
            f"RSS {marks}; growth {self.rss_growth:+.1%}",
            f"threads/fds/tasks before {self.before} after {self.after}",
            *(f"UNEXPECTED {line}" for line in self.unexpected[:10]),
        ]


async def settled(tasks: int, seconds: float = 2.0) -> None:
    """Give tasks that are finishing (a server's per-call bookkeeping) up to ``seconds`` to end:
    only what outlives that counts as a leak."""
    for _ in range(int(seconds / 0.02)):
        if len(asyncio.all_tasks()) <= tasks:
            return
        await asyncio.sleep(0.02)


def resources() -> dict[str, int]:
    gc.collect()
    return {"threads": threading.active_count(), "fds": psutil.Process().num_fds(), "tasks": len(asyncio.all_tasks())}


async def drive(
    mount: Callable[[RawMountRequest], Awaitable[MountResult]],
    plan: Callable[[random.Random], Planned],
    expected_failure: Callable[[MountFailure], bool],
    *,
    mounts: int,
    concurrency: int = 32,
    first_mark: int = 1_000,
    warm_up: int = 200,
    seed: int = 1,
) -> SoakReport:
    """Run ``mounts`` mounts, ``concurrency`` at a time, after ``warm_up`` uncounted ones run the
    same way (so pools and caches reach their steady size before resources are counted)."""
    report = SoakReport()
    rng = random.Random(seed)

    async def run(count: int, counted: bool) -> None:
        numbers = iter(range(1, count + 1))

        async def worker() -> None:
            for number in numbers:
                request, expected = plan(rng)
                try:
                    result = await mount(request)
                except MountFailure as failure:
                    if counted:
                        report.outcomes[failure.code_name] += 1
                        if not expected_failure(failure):
                            report.unexpected.append(f"{failure.code_name}: {failure.message[:300]}")
                else:
                    if counted:
                        report.outcomes["OK"] += 1
                        report.wrong_contents += {f.path: f.contents for f in result.files} != expected
                if counted:
                    report.mounts += 1
                    if number in (first_mark, count):
                        report.rss_mib[number] = psutil.Process().memory_info().rss / 2**20

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    await run(warm_up, counted=False)
    report.before = resources()
    await run(mounts, counted=True)
    await settled(report.before["tasks"])
    report.after = resources()
    return report


def command_line(description: str, soak: Callable[[int, int], Awaitable[SoakReport]]) -> None:
    """``--mounts`` / ``--concurrency`` flags, quiet logs, run ``soak``, print the report."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mounts", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    log.configure("error")
    print("\n".join(asyncio.run(soak(args.mounts, args.concurrency)).lines()))
