"""Node-scale burst: 110 pods of one Deployment mount the same SecretProviderClass at once.

    uv run python benchmarks/node_burst.py [--pods 110] [--secrets 20] [--latency-ms 20]

The SecretProviderClass has 20 Secrets Manager secrets; moto sits behind the counting proxy
with 20 ms added to every AWS call; all pods share one ServiceAccount (IRSA) but each has its
own token, as on a real node. The gateway runs as its own process (`secrets-gateway serve
--plugins aws`), cold, once with the node-local cache off and once with `--cache-ttl 60`.
Printed per run: AWS API calls by operation, wall time, the gateway's peak RSS (VmHWM) and
CPU seconds — for a burst (all pods at once) and a rollout (one pod every 20 ms). Even with
the cache off, the AWS plugin coalesces identical calls in flight; the rollout shows what the
cache adds. A cached answer proves identity as a miss would, so each pod's own token is shown to
STS (one STS call per pod); pods holding the same role's credentials share identical calls in
flight. Target: every pod mounted, at most one STS call per pod.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from gateway.client import DriverClient, MountFailure
from gateway.model import MountResult
from gateway.request import RawMountRequest
from gateway.testing import mount_request
from gateway_aws.testing import PRIMARY, AwsWorld


@dataclass
class BurstResult:
    label: str
    ok: int
    calls: dict[str, int]
    wall_ms: float
    peak_rss_mib: float
    cpu_seconds: float


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return psutil.Process(pid).memory_info().rss / 2**20


async def burst(world: AwsWorld, label: str, pods: int, secrets: int, cache_ttl: float, stagger: float = 0.0) -> BurstResult:
    """One cold gateway process; ``pods`` mounts at once, or one every ``stagger`` seconds."""
    flags = [
        "--cache-ttl", str(cache_ttl), "--max-concurrent-mounts", "128",
        "--max-mounts-per-namespace", "128",  # one Deployment is one namespace: let all its pods in at once
        "--aws-max-attempts", "3",
    ]
    async with world.serve_process(*flags) as (server, socket_path):
        objects = [{"objectName": f"burst/s{i:02d}", "objectType": "secretsmanager"} for i in range(secrets)]
        requests = [
            mount_request(objects, {"region": PRIMARY}, pod=world.irsa_pod(name=f"web-{n}", service_account="web"))
            for n in range(pods)
        ]
        world.proxy.clear_calls()
        process = psutil.Process(server.pid)
        cpu_before = sum(process.cpu_times()[:2])
        async with DriverClient(socket_path) as client:
            started = time.perf_counter()
            async def pod(number: int, request: RawMountRequest) -> MountResult:
                await asyncio.sleep(number * stagger)
                return await client.mount(request)

            results = await asyncio.gather(*(pod(n, r) for n, r in enumerate(requests)), return_exceptions=True)
            wall = (time.perf_counter() - started) * 1000
        cpu = sum(process.cpu_times()[:2]) - cpu_before
        failures = [r for r in results if isinstance(r, BaseException)]
        for failure in failures[:3]:
            print(f"  failure: {failure if isinstance(failure, MountFailure) else repr(failure)}")
        calls = {op: world.proxy.count(op) for op in ("BatchGetSecretValue", "GetSecretValue", "AssumeRoleWithWebIdentity")}
        return BurstResult(label, pods - len(failures), calls, wall, peak_rss_mib(server.pid), cpu)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=110)
    parser.add_argument("--secrets", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--stagger-ms", type=float, default=20.0, help="pod interval of the rollout runs (default 20)")
    args = parser.parse_args()
    results = []
    with AwsWorld.isolated(latency=args.latency_ms / 1000) as world:
        for i in range(args.secrets):
            world.secret(f"burst/s{i:02d}", f'{{"user": "u{i}", "password": "p{i}"}}')
        results.append(await burst(world, "burst, cache off", args.pods, args.secrets, 0))
        results.append(await burst(world, "burst, cache on", args.pods, args.secrets, 60))
        stagger = args.stagger_ms / 1000
        results.append(await burst(world, "rollout, cache off", args.pods, args.secrets, 0, stagger))
        results.append(await burst(world, "rollout, cache on", args.pods, args.secrets, 60, stagger))
    print(f"{args.pods} pods x {args.secrets} Secrets Manager secrets, {args.latency_ms:g} ms per AWS call, one ServiceAccount;")
    print(f"burst = all pods at once; rollout = one pod every {args.stagger_ms:g} ms; cache on = --cache-ttl 60")
    print(f"{'run':<22}{'ok':>5}{'BatchGet':>10}{'Get':>6}{'STS':>6}{'wall ms':>10}{'peak RSS MiB':>14}{'CPU s':>8}")
    for r in results:
        print(
            f"{r.label:<22}{r.ok:>5}{r.calls['BatchGetSecretValue']:>10}{r.calls['GetSecretValue']:>6}"
            f"{r.calls['AssumeRoleWithWebIdentity']:>6}{r.wall_ms:>10.0f}{r.peak_rss_mib:>14.1f}{r.cpu_seconds:>8.2f}"
        )
    met = all(r.ok == args.pods and r.calls["AssumeRoleWithWebIdentity"] <= args.pods for r in results)
    print("target (all pods mounted, <= 1 STS call per pod):", "met" if met else "NOT met")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
