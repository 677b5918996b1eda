"""Fleet estimate: AWS calls, their cost, STS and Kubernetes load, and peak request rates for a whole cluster.

    uv run python benchmarks/fleet_cost.py [--pods 30] [--secrets 10] [--parameters 0] [--rotation 120] ...

A model, not a measurement: the per-mount call counts are the ones recorded by this directory's
benchmarks (README.md: aws_mount.py — 2.0 AWS calls per warm mount of 20 Secrets Manager + 10 SSM
objects, i.e. one BatchGetSecretValue per 20 secrets and one GetParameters per 10 parameters, no
failover-region call while the primary answers; node_burst.py — 110 pods of one ServiceAccount on one
node share one BatchGetSecretValue in flight). A cached answer (STS credentials or the fetch cache) is
found only by the pod token that obtained it, so both are per pod and per token: a pod's STS call is
repeated when its credentials or its token (kubelet refreshes it at 80% of its lifetime) run out. ASCP's
pattern is the one in the shared ascp-compat notes: one GetSecretValue / GetParameter per object in
both regions when a failover region is set, STS on every mount, and on every rotation poll a
DescribeSecret and a re-read of each secret. The driver calls Mount for every pod at start and
every rotation poll interval R. Prices and quotas are parameters (defaults and sources below).
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass

MONTH = 30 * 24 * 3600  # seconds
SM_BATCH, SSM_BATCH = 20, 10  # ids per BatchGetSecretValue / names per GetParameters
WATCH_SECONDS = 270.0  # the ServiceAccount watch is reopened about every 4-5 minutes (gateway_kube.watch)

# Prices (USD), https://aws.amazon.com/secrets-manager/pricing/ and https://aws.amazon.com/systems-manager/pricing/
SM_PRICE_PER_10K = 0.05  # Secrets Manager: $0.05 per 10,000 API calls
SSM_HIGH_THROUGHPUT_PRICE_PER_10K = 0.05  # Parameter Store higher throughput; standard throughput is free
# Default quotas (requests per second per account and region), Service Quotas; check your account's own.
QUOTAS = {"secretsmanager": 10_000.0, "ssm-standard": 40.0, "sts": 600.0}


@dataclass(frozen=True)
class Cluster:
    nodes: int
    pods: int  # per node
    secrets: int  # Secrets Manager objects per pod
    parameters: int  # SSM objects per pod
    identities: int  # distinct ServiceAccounts (one class each) per node
    rotation: float  # driver rotation poll interval R, seconds (0: rotation off)
    failover: bool
    cache_ttl: float  # gateway --cache-ttl
    credential_seconds: float  # STS credential lifetime less the refresh margin
    token_seconds: float  # how long kubelet sends a pod the same token (80% of its expirationSeconds)
    kube_cache_ttl: float  # gateway --aws-kube-cache-ttl
    kube_watch: bool  # the ServiceAccount watch is on (the default; off: --aws-kube-watch-max-accounts 0)
    burst_window: float  # every pod of the cluster mounts within this many seconds (fleet-wide restart)
    ssm_high_throughput: bool


@dataclass(frozen=True)
class Estimate:
    label: str
    sm_calls: float  # per month
    ssm_calls: float
    sts_calls: float
    kube_rps: float
    peak_sm_rps: float
    peak_ssm_rps: float
    peak_sts_rps: float

    def cost(self, cluster: Cluster) -> float:
        ssm_price = SSM_HIGH_THROUGHPUT_PRICE_PER_10K if cluster.ssm_high_throughput else 0.0
        return self.sm_calls / 10_000 * SM_PRICE_PER_10K + self.ssm_calls / 10_000 * ssm_price


def polls(cluster: Cluster) -> float:
    """Mount calls per pod per month from rotation (the initial mounts are the burst, counted apart)."""
    return MONTH / cluster.rotation if cluster.rotation else 0.0


def gateway(cluster: Cluster, cache: bool) -> Estimate:
    sm_per_mount = math.ceil(cluster.secrets / SM_BATCH)
    ssm_per_mount = math.ceil(cluster.parameters / SSM_BATCH)
    pods = cluster.nodes * cluster.pods
    groups = cluster.nodes * cluster.identities  # (node, identity) pairs: what coalescing in flight shares
    if cache and cluster.cache_ttl:  # cached per pod token: a pod's polls within the TTL are hits
        per_pod = MONTH / max(cluster.rotation, min(cluster.cache_ttl, cluster.token_seconds)) if cluster.rotation else 0.0
        mounts, burst_mounts = pods * per_pod, groups
    else:
        mounts, burst_mounts = pods * polls(cluster), groups if cache else pods
    reuse = min(cluster.credential_seconds, cluster.token_seconds)
    sts = pods * MONTH / reuse if cluster.rotation else pods
    kube = kube_rps(cluster, groups)
    window = cluster.burst_window
    return Estimate(
        f"gateway, cache {'on' if cache else 'off'}",
        mounts * sm_per_mount, mounts * ssm_per_mount, sts, kube,
        burst_mounts * sm_per_mount / window, burst_mounts * ssm_per_mount / window, pods / window,
    )


def kube_rps(cluster: Cluster, groups: int) -> float:
    """Kubernetes requests per second: one WATCH per node reopened every few minutes (its LIST only at start), or
    without the watch a ServiceAccount GET per (node, identity) per max(R, --aws-kube-cache-ttl)."""
    if cluster.kube_watch:
        return cluster.nodes / WATCH_SECONDS
    return groups / max(cluster.rotation, cluster.kube_cache_ttl) if cluster.rotation else 0.0


def ascp(cluster: Cluster) -> Estimate:
    regions = 2 if cluster.failover else 1
    pods = cluster.nodes * cluster.pods
    rotation_sm = cluster.secrets * regions * 2  # DescribeSecret + GetSecretValue per secret and region
    rotation_ssm = cluster.parameters * regions
    window = cluster.burst_window
    return Estimate(
        "ASCP pattern",
        pods * polls(cluster) * rotation_sm, pods * polls(cluster) * rotation_ssm, pods * polls(cluster),
        pods / cluster.rotation if cluster.rotation else 0.0,  # the ServiceAccount read of every mount
        pods * cluster.secrets * regions / window, pods * cluster.parameters * regions / window, pods / window,
    )


def report(cluster: Cluster) -> list[str]:
    lines = [
        f"{cluster.nodes} nodes x {cluster.pods} pods x ({cluster.secrets} SM + {cluster.parameters} SSM objects), "
        f"{cluster.identities} ServiceAccounts per node, R = {cluster.rotation:g} s, failover {'on' if cluster.failover else 'off'}",
        f"  {'pattern':<20}{'SM calls/mo':>14}{'SSM calls/mo':>14}{'USD/mo':>10}{'STS/mo':>13}{'kube rps':>10}"
        f"{'peak SM rps':>13}{'peak SSM rps':>14}{'peak STS rps':>14}",
    ]
    for estimate in (gateway(cluster, cache=False), gateway(cluster, cache=True), ascp(cluster)):
        lines.append(
            f"  {estimate.label:<20}{estimate.sm_calls:>14,.0f}{estimate.ssm_calls:>14,.0f}{estimate.cost(cluster):>10,.2f}"
            f"{estimate.sts_calls:>13,.0f}{estimate.kube_rps:>10.2f}{estimate.peak_sm_rps:>13,.0f}{estimate.peak_ssm_rps:>14,.0f}"
            f"{estimate.peak_sts_rps:>14,.0f}" + over_quota(estimate)
        )
    return lines


def over_quota(estimate: Estimate) -> str:
    over = [
        name for name, rate in (("secretsmanager", estimate.peak_sm_rps), ("ssm-standard", estimate.peak_ssm_rps), ("sts", estimate.peak_sts_rps))
        if rate > QUOTAS[name]
    ]
    return f"  over quota: {', '.join(over)}" if over else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, action="append", help="cluster sizes (default 10, 100, 1000)")
    parser.add_argument("--pods", type=int, default=30, help="pods per node mounting the driver (default 30)")
    parser.add_argument("--secrets", type=int, default=10, help="Secrets Manager objects per pod (default 10)")
    parser.add_argument("--parameters", type=int, default=0, help="SSM objects per pod (default 0)")
    parser.add_argument("--identities", type=int, default=10, help="distinct ServiceAccounts per node (default 10)")
    parser.add_argument("--rotation", type=float, default=120.0, help="driver rotationPollInterval, s (default 120; 0 = off)")
    parser.add_argument("--failover", action="store_true", help="a failoverRegion is set")
    parser.add_argument("--cache-ttl", type=float, default=300.0, help="gateway --cache-ttl for the cache-on rows (default 300)")
    parser.add_argument("--credential-seconds", type=float, default=3300.0, help="STS credential reuse, s (default 1 h - 5 min)")
    parser.add_argument("--token-seconds", type=float, default=2880.0, help="pod token reuse, s (default 80%% of 1 h)")
    parser.add_argument("--kube-cache-ttl", type=float, default=30.0, help="gateway --aws-kube-cache-ttl (default 30)")
    parser.add_argument("--no-watch", action="store_true", help="the ServiceAccount watch off (--aws-kube-watch-max-accounts 0)")
    parser.add_argument("--burst-window", type=float, default=60.0, help="fleet restart: all pods mount within, s (default 60)")
    parser.add_argument("--ssm-high-throughput", action="store_true", help="Parameter Store higher throughput (billed)")
    args = parser.parse_args(argv)
    print(f"prices: Secrets Manager ${SM_PRICE_PER_10K} / 10,000 calls; SSM standard free, higher throughput "
          f"${SSM_HIGH_THROUGHPUT_PRICE_PER_10K} / 10,000; STS free. Quotas (rps): {QUOTAS}")
    print("peak = every pod of the cluster mounting within --burst-window, cold; month = 30 days of rotation polls")
    for nodes in args.nodes or [10, 100, 1000]:
        cluster = Cluster(
            nodes, args.pods, args.secrets, args.parameters, min(args.identities, args.pods), args.rotation, args.failover,
            args.cache_ttl, args.credential_seconds, args.token_seconds, args.kube_cache_ttl, not args.no_watch, args.burst_window, args.ssm_high_throughput,
        )
        print("\n".join(report(cluster)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
