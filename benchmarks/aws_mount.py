"""Benchmark: one AWS mount of 20 Secrets Manager + 10 SSM objects with failover configured.

Starts moto behind the fault proxy with a fixed latency added to every AWS call (default
20 ms), a fake Kubernetes API, and the gateway with the ``aws`` plugin on a temporary unix
socket; mounts through the driver-like gRPC client as one pod (IRSA). It then runs a naive
strategy against the same peers — one STS call per mount and one GetSecretValue /
GetParameter per object, sequentially, as ASCP does (ASCP also queries the failover region
on every mount; the naive run here does not, which flatters it) — and prints both.

    uv run python benchmarks/aws_mount.py [--mounts 50] [--latency-ms 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from typing import Any

import boto3

from gateway.testing import mount_request
from gateway_aws.options import MAX_ATTEMPTS, READ_TIMEOUT
from gateway_aws.testing import FAILOVER, PRIMARY, AwsWorld, role_arn

SECRETS, PARAMETERS = 20, 10


def objects() -> list[dict[str, str]]:
    return [{"objectName": f"bench/secret-{i:02d}", "objectType": "secretsmanager"} for i in range(SECRETS)] + [
        {"objectName": f"/bench/param-{i:02d}", "objectType": "ssmparameter"} for i in range(PARAMETERS)
    ]


def seed(world: AwsWorld) -> None:
    for region in (PRIMARY, FAILOVER):
        for i in range(SECRETS):
            world.secret(f"bench/secret-{i:02d}", f'{{"user": "u{i}", "password": "p{i}"}}', region)
        for i in range(PARAMETERS):
            world.parameter(f"/bench/param-{i:02d}", f"value-{i}", region)


async def gateway_run(world: AwsWorld, mounts: int) -> tuple[float, list[float], float, int]:
    """(first mount ms, warm mount times ms, AWS calls per warm mount, STS calls in all)."""
    pod = world.irsa_pod(name="bench-0", service_account="bench")
    request = mount_request(objects(), {"region": PRIMARY, "failoverRegion": FAILOVER}, pod=pod)
    # the product's attempts and read timeout (the test world's longer read timeout would not fit the backend timeout)
    defaults = {"aws_max_attempts": str(MAX_ATTEMPTS.default), "aws_read_timeout": str(READ_TIMEOUT.default)}
    async with world.gateway(**defaults) as gw:
        started = time.perf_counter()
        result = await gw.mount(request)
        first = (time.perf_counter() - started) * 1000
        assert len(result.files) == SECRETS + PARAMETERS
        before = world.proxy.count()
        times = []
        for _ in range(mounts):
            started = time.perf_counter()
            await gw.mount(request)
            times.append((time.perf_counter() - started) * 1000)
        warm_calls = (world.proxy.count() - before) / mounts
    return first, times, warm_calls, world.proxy.count("AssumeRoleWithWebIdentity")


def naive_run(world: AwsWorld, mounts: int) -> tuple[list[float], float]:
    """ASCP-like: per mount one AssumeRoleWithWebIdentity, then one call per object, in sequence."""
    sts = boto3.client("sts", region_name=PRIMARY, aws_access_key_id="x", aws_secret_access_key="x")
    before = world.proxy.count()
    times = []
    clients: dict[str, Any] = {}
    for _ in range(mounts):
        started = time.perf_counter()
        credentials = sts.assume_role_with_web_identity(RoleArn=role_arn("bench"), RoleSessionName="naive", WebIdentityToken="naive-token")[
            "Credentials"
        ]
        keys = {
            "aws_access_key_id": credentials["AccessKeyId"],
            "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"],
        }
        for service in ("secretsmanager", "ssm"):
            clients[service] = boto3.client(service, region_name=PRIMARY, **keys)
        for item in objects():
            if item["objectType"] == "secretsmanager":
                clients["secretsmanager"].get_secret_value(SecretId=item["objectName"])
            else:
                clients["ssm"].get_parameter(Name=item["objectName"], WithDecryption=True)
        times.append((time.perf_counter() - started) * 1000)
    return times, (world.proxy.count() - before) / mounts


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mounts", type=int, default=50, help="warm mounts to time (default 50)")
    parser.add_argument("--naive-mounts", type=int, default=10, help="naive mounts to time (default 10)")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="latency added to every AWS call (default 20)")
    args = parser.parse_args()

    with AwsWorld.isolated() as world:
        seed(world)
        world.proxy.latency = args.latency_ms / 1000
        first, warm, calls, sts_calls = await gateway_run(world, args.mounts)
        world.proxy.clear_calls()
        naive, naive_calls = naive_run(world, args.naive_mounts)

    print(
        f"AWS mount benchmark: {SECRETS} Secrets Manager + {PARAMETERS} SSM objects, failoverRegion set, "
        f"{args.latency_ms:g} ms added per AWS call, one IRSA identity"
    )
    print(f"{'strategy':<34}{'median ms':>10}{'p90 ms':>10}{'AWS calls/mount':>17}")
    print(f"{'secrets-gateway, warm':<34}{statistics.median(warm):>10.1f}{p90(warm):>10.1f}{calls:>17.1f}")
    print(f"{'secrets-gateway, first mount':<34}{first:>10.1f}{'':>10}{'':>17}")
    print(f"{'naive sequential (ASCP-like)':<34}{statistics.median(naive):>10.1f}{p90(naive):>10.1f}{naive_calls:>17.1f}")
    print(f"STS AssumeRoleWithWebIdentity calls by the gateway over {args.mounts + 1} mounts: {sts_calls}")
    print(
        f"speed-up (median): {statistics.median(naive) / statistics.median(warm):.1f}x; calls per mount: {naive_calls / calls:.1f}x fewer"
    )
    target_ok = statistics.median(warm) <= 80 and calls <= 3 and sts_calls == 1
    print("targets (median <= 80 ms, <= 3 calls per mount, STS once per identity):", "met" if target_ok else "NOT met")
    return 0 if target_ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
