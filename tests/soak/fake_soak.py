"""Fault soak against the fake backend over the real socket.

    uv run python -m tests.soak.fake_soak [--mounts 10000] [--concurrency 32]

Every mount asks for 5 of 20 secrets (some through jmesPath) with a failover location. The
primary answers 20% of calls with a retryable error and 2% with a non-retryable one, and every
call has random latency. Checked: no mount returns wrong or partial contents; every failure is
a clean typed error (PermissionDenied from the injected non-retryable fault — nothing else);
no leaked threads, file descriptors or asyncio tasks; RSS growth between the 1,000th and the
last mount (issue 7 target: under 10%).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import yaml

from gateway import log
from gateway.client import MountFailure
from gateway.settings import Settings
from gateway.testing import mount_request, running_gateway
from gateway_fake import plugin as fake_plugin

SECRETS = 20
PARAMETERS = {"region": "primary", "failoverRegion": "failover"}


def secret_value(index: int) -> str:
    return json.dumps({"user": f"user-{index}", "password": f"pw-{index}-" + "x" * index})


def store_document() -> str:
    secrets = {
        f"soak/s{i}": {"value": secret_value(i), "faults": {"primary": {"error": "denied", "rate": 0.025, "seed": 1000 + i}}}
        for i in range(SECRETS)
    }
    faults = {"primary": {"error": "unavailable", "rate": 0.2, "seed": 7, "jitterMs": 4}, "failover": {"jitterMs": 4}}
    return yaml.safe_dump({"locations": ["primary", "failover"], "faults": faults, "secrets": secrets})


def mount_plan(rng: random.Random) -> tuple[list[dict[str, object]], dict[str, bytes]]:
    """Objects for one mount and the exact files it must produce."""
    objects: list[dict[str, object]] = []
    expected: dict[str, bytes] = {}
    for index in rng.sample(range(SECRETS), 5):
        name = f"soak/s{index}"
        entry: dict[str, object] = {"objectName": name, "objectType": "fake", "objectAlias": f"s{index}.json"}
        expected[f"s{index}.json"] = secret_value(index).encode()
        if index % 2 == 0:
            entry["jmesPath"] = [{"path": "user", "objectAlias": f"s{index}-user"}]
            expected[f"s{index}-user"] = f"user-{index}".encode()
        objects.append(entry)
    return objects, expected


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

    def lines(self) -> list[str]:
        marks = ", ".join(f"after {n}: {mib:.1f} MiB" for n, mib in sorted(self.rss_mib.items()))
        return [
            f"mounts: {self.mounts}; outcomes: {dict(self.outcomes)}",
            f"wrong or partial contents: {self.wrong_contents}; unexpected failures: {len(self.unexpected)}",
            f"RSS {marks}; growth {self.rss_growth:+.1%}",
            f"threads/fds/tasks before {self.before} after {self.after}",
        ]


def resources() -> dict[str, int]:
    gc.collect()
    return {
        "threads": threading.active_count(),
        "fds": psutil.Process().num_fds(),
        "tasks": len(asyncio.all_tasks()),
    }


async def soak(mounts: int = 10_000, concurrency: int = 32, first_mark: int = 1_000, seed: int = 1) -> SoakReport:
    report = SoakReport()
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as directory:
        store = Path(directory) / "store.yaml"
        store.write_text(store_document())
        settings = Settings(plugin_options={"fake-store": str(store)}, http_address="")
        async with running_gateway([("fake", fake_plugin)], settings=settings) as gw:
            for _ in range(50):  # warm up caches, channels and metrics children before counting
                objects, _ = mount_plan(rng)
                try:
                    await gw.mount(mount_request(objects, PARAMETERS))
                except MountFailure:
                    pass
            report.before = resources()
            queue: asyncio.Queue[int] = asyncio.Queue()
            for number in range(1, mounts + 1):
                queue.put_nowait(number)

            async def worker() -> None:
                while not queue.empty():
                    number = queue.get_nowait()
                    objects, expected = mount_plan(rng)
                    try:
                        result = await gw.mount(mount_request(objects, PARAMETERS))
                    except MountFailure as failure:
                        report.outcomes[failure.code_name] += 1
                        if failure.code_name != "PermissionDenied" or "injected fault: access denied" not in failure.message:
                            report.unexpected.append(f"{failure.code_name}: {failure.message[:200]}")
                    else:
                        report.outcomes["OK"] += 1
                        if {f.path: f.contents for f in result.files} != expected:
                            report.wrong_contents += 1
                    report.mounts += 1
                    if number in (first_mark, mounts):
                        report.rss_mib[number] = psutil.Process().memory_info().rss / 2**20

            await asyncio.gather(*(worker() for _ in range(concurrency)))
            report.after = resources()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mounts", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    log.configure("error")
    report = asyncio.run(soak(args.mounts, args.concurrency))
    print("\n".join(report.lines()))
    for line in report.unexpected[:10]:
        print("UNEXPECTED", line)


if __name__ == "__main__":
    main()
