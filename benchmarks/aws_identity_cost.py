"""What a new pod identity costs the gateway: CPU and memory per first mount of a new identity.

    uv run python benchmarks/aws_identity_cost.py [--identities 200] [--warm 100] [--pod-identity]

A cold gateway process (`secrets-gateway serve --plugins aws`) against moto behind the counting
proxy, no added latency. After a warm-up (10 identities, so imports and first clients are paid),
one pod remounts ``--warm`` times (its credentials cached: the cost of a mount), then
``--identities`` pods of as many ServiceAccounts (IRSA, a role each) mount once each, one after
the other. Printed: the gateway's CPU (utime+stime) per warm mount and per new-identity mount,
their difference (what the identity itself costs: an STS call plus whatever is built for it),
and the growth of its resident memory per new identity. These figures do not depend on the
machine's load as wall time does. Target (issue 14): CPU per new-identity mount <= 5 ms. ``--pod-identity``: the
new pods use EKS Pod Identity (credentials from the node agent, one pod each) instead of IRSA.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import psutil

from gateway.client import DriverClient
from gateway.testing import PodContext, mount_request
from gateway_aws.testing import PRIMARY, AwsWorld

OBJECTS = [{"objectName": "identity-cost/db", "objectType": "secretsmanager"}]
TARGET_MS = 5.0


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def world_flags(world: AwsWorld) -> tuple[str, ...]:
    """The world's Pod Identity agent as the gateway's."""
    return ("--aws-pod-identity-endpoint", world.agent.url, "--aws-pod-identity-endpoint-ipv6", world.agent.url)


async def mount_each(client: DriverClient, pods: list[PodContext], parameters: dict[str, str]) -> None:
    for pod in pods:
        await client.mount(mount_request(OBJECTS, {"region": PRIMARY, **parameters}, pod=pod))


async def measure(world: AwsWorld, identities: int, warm: int, pod_identity: bool) -> dict[str, float]:
    new_pod = world.pod_identity_pod if pod_identity else world.irsa_pod
    parameters = {"usePodIdentity": "true", "preferredAddressType": "ipv4"} if pod_identity else {}
    # measure the AWS side, not the Kubernetes client's rate limit
    async with world.serve_process("--aws-kube-qps", "0", *world_flags(world)) as (server, socket_path):
        process = psutil.Process(server.pid)
        warmup = [new_pod(name=f"warmup-{n}", service_account=f"warmup-{n}") for n in range(10)]
        fresh = [new_pod(name=f"pod-{n}", service_account=f"sa-{n}") for n in range(identities)]
        async with DriverClient(socket_path) as client:
            await mount_each(client, warmup, parameters)
            before_warm = cpu_seconds(process)
            await mount_each(client, [warmup[0]] * warm, parameters)
            before_new, rss_before = cpu_seconds(process), process.memory_info().rss
            await mount_each(client, fresh, parameters)
            after, rss_after = cpu_seconds(process), process.memory_info().rss
        return {
            "warm_ms": (before_new - before_warm) / warm * 1000,
            "new_ms": (after - before_new) / identities * 1000,
            "kib_per_identity": (rss_after - rss_before) / identities / 1024,
        }


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--identities", type=int, default=200)
    parser.add_argument("--warm", type=int, default=100)
    parser.add_argument("--pod-identity", action="store_true", help="new pods use EKS Pod Identity instead of IRSA")
    args = parser.parse_args()
    with AwsWorld.isolated() as world:
        world.secret("identity-cost/db", '{"user": "u", "password": "p"}')
        figures = await measure(world, args.identities, args.warm, args.pod_identity)
    kind = "Pod Identity" if args.pod_identity else "IRSA"
    print(f"{args.identities} new {kind} identities, one mount each (1 Secrets Manager secret), after {args.warm} warm mounts")
    print(f"gateway CPU per warm mount:          {figures['warm_ms']:7.2f} ms")
    print(f"gateway CPU per new-identity mount:  {figures['new_ms']:7.2f} ms   (target <= {TARGET_MS:g} ms)")
    print(f"  of which the new identity:         {figures['new_ms'] - figures['warm_ms']:7.2f} ms")
    print(f"gateway RSS growth per new identity: {figures['kib_per_identity']:7.1f} KiB")
    met = figures["new_ms"] <= TARGET_MS
    print("target (CPU per new-identity mount <= 5 ms):", "met" if met else "NOT met")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
