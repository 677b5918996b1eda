"""Node-scale burst: 110 pods of one Deployment mount the same SecretProviderClass at once.

    uv run python benchmarks/node_burst.py [--pods 110] [--secrets 20] [--latency-ms 20] [--only identities|cache]

Identities (issue 14): the gateway on default settings (only the socket directory and kubeconfig given), 110 pods
with 110 distinct ServiceAccounts (IRSA, spread over 10 namespaces as on a mixed node) and 110 pods of one shared
ServiceAccount, each mounting once cold (a fresh process) and once more warm (the same process, fresh tokens).
Printed per round: successes, wall time, AWS calls (BatchGetSecretValue + GetSecretValue), STS calls, Kubernetes
calls (ServiceAccount GETs, LIST, WATCH), the gateway's peak RSS so far and its CPU seconds (per pod too). The
Kubernetes API is the in-process FakeKubernetes (LIST + WATCH like the real one; the watch itself is tested against
the real kube-apiserver in tests/e2e). Target: 110/110 in every round.

Every gateway process runs from compiled bytecode, as the image ships it (benchmarks/startup.py's cache, filled by one
uncounted process first): this development environment sets PYTHONDONTWRITEBYTECODE=1, under which the warm-up thread
compiled botocore from source while the cold round ran.

Cache (the original runs):
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
import os
import secrets as tokens
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
from startup import bytecode_environment  # benchmarks/startup.py: the image's compiled bytecode

from gateway.client import DriverClient, MountFailure
from gateway.model import MountResult
from gateway.request import RawMountRequest
from gateway.testing import PodContext, mount_request
from gateway_aws.identity import IRSA_AUDIENCE
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
    async with world.serve_process(*flags, env=bytecode_environment()) as (server, socket_path):
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


async def compile_bytecode(world: AwsWorld) -> None:
    """One uncounted process and mount, so every measured process runs from compiled bytecode, as the image does."""
    async with world.serve_process(env=bytecode_environment()) as (_, socket_path), DriverClient(socket_path) as client:
        pod = world.irsa_pod(name="bytecode-0", service_account="bytecode")
        await client.mount(mount_request([{"objectName": "burst/s00", "objectType": "secretsmanager"}], {"region": PRIMARY}, pod=pod))


@dataclass
class Round:
    label: str
    ok: int
    wall_ms: float
    aws: int  # BatchGetSecretValue + GetSecretValue
    sts: int
    kube: dict[str, int]
    peak_rss_mib: float
    cpu_seconds: float


NO_WATCH = "no watch"
KUBE_CALLS = {"SA GET": ("/serviceaccounts/", "GET"), "LIST": ("/api/v1/serviceaccounts", "LIST"), "WATCH": ("/api/v1/serviceaccounts", "WATCH")}


def identity_pods(world: AwsWorld, pods: int, accounts: int) -> list[tuple[str, str, str]]:
    """(namespace, pod, service account) for ``pods`` pods over ``accounts`` ServiceAccounts (10 namespaces when > 1)."""
    placed = []
    for n in range(pods):
        namespace = f"team-{n % 10}" if accounts > 1 else "apps"
        account = f"sa-{n % accounts}"
        world.irsa_pod(name=f"pod-{n}", namespace=namespace, service_account=account)
        placed.append((namespace, f"pod-{n}", account))
    return placed


async def identity_rounds(
    world: AwsWorld, label: str, pods: int, accounts: int, secrets: int, *flags: str
) -> tuple[list[Round], float]:
    """One gateway process on default settings (plus ``flags``): a cold round, then a warm one; and its idle RSS before them."""
    placed = identity_pods(world, pods, accounts)
    objects = [{"objectName": f"burst/s{i:02d}", "objectType": "secretsmanager"} for i in range(secrets)]
    rounds = []
    async with world.serve_process(*flags, env=bytecode_environment()) as (server, socket_path), DriverClient(socket_path) as client:
        await asyncio.sleep(0.5)
        process = psutil.Process(server.pid)
        idle_rss = process.memory_info().rss / 2**20
        for temperature in ("cold", "warm"):
            requests = [
                mount_request(objects, {"region": PRIMARY}, pod=PodContext(
                    name=name, namespace=namespace, service_account=account, tokens={IRSA_AUDIENCE: f"irsa-{tokens.token_hex(8)}"}))
                for namespace, name, account in placed
            ]  # fmt: skip
            world.proxy.clear_calls()
            world.kube.requests.clear()
            cpu_before = sum(process.cpu_times()[:2])
            started = time.perf_counter()
            results = await asyncio.gather(*(client.mount(r) for r in requests), return_exceptions=True)
            wall = (time.perf_counter() - started) * 1000
            cpu = sum(process.cpu_times()[:2]) - cpu_before
            failures = [r for r in results if isinstance(r, BaseException)]
            for failure in failures[:1]:
                text = str(failure) if isinstance(failure, MountFailure) else repr(failure)
                print(f"  {label}, {temperature}: {len(failures)} failed, e.g. {text[:400]}")
            kube = {name: world.kube.count(fragment, method) for name, (fragment, method) in KUBE_CALLS.items()}
            aws = world.proxy.count("BatchGetSecretValue") + world.proxy.count("GetSecretValue")
            sts = world.proxy.count("AssumeRoleWithWebIdentity")
            rounds.append(Round(f"{label}, {temperature}", pods - len(failures), wall, aws, sts, kube, peak_rss_mib(server.pid), cpu))
    return rounds, idle_rss


def print_identity_rounds(rounds: list[Round], idle: dict[str, float], args: argparse.Namespace) -> bool:
    print(f"{args.pods} pods x {args.secrets} Secrets Manager secrets, {args.latency_ms:g} ms per AWS call, default settings; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'round':<30}{'ok':>5}{'wall ms':>9}{'SM':>5}{'STS':>5}{'SA GET':>8}{'LIST':>6}{'WATCH':>7}{'peak RSS MiB':>14}{'CPU s':>7}{'CPU ms/pod':>11}")
    for r in rounds:
        print(
            f"{r.label:<30}{r.ok:>5}{r.wall_ms:>9.0f}{r.aws:>5}{r.sts:>5}{r.kube['SA GET']:>8}{r.kube['LIST']:>6}{r.kube['WATCH']:>7}"
            f"{r.peak_rss_mib:>14.1f}{r.cpu_seconds:>7.2f}{r.cpu_seconds * 1000 / args.pods:>11.1f}"
        )
    print("idle RSS before the first round: " + ", ".join(f"{label} {rss:.1f} MiB" for label, rss in idle.items()))
    print(f"({NO_WATCH}: --aws-kube-watch-max-accounts 0, one GET per ServiceAccount as before the watch; for reference, not a target)")
    met = all(r.ok == args.pods for r in rounds if NO_WATCH not in r.label)
    print(f"target {args.pods}/{args.pods} in every round on default settings:", "met" if met else "NOT met")
    return met


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=110)
    parser.add_argument("--secrets", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--stagger-ms", type=float, default=20.0, help="pod interval of the rollout runs (default 20)")
    parser.add_argument("--only", choices=("identities", "cache"), help="run only the identity rounds or only the cache runs")
    args = parser.parse_args()
    results = []
    identities_met = True
    with AwsWorld.isolated(latency=args.latency_ms / 1000) as world:
        for i in range(args.secrets):
            world.secret(f"burst/s{i:02d}", f'{{"user": "u{i}", "password": "p{i}"}}')
        await compile_bytecode(world)
        if args.only != "cache":
            rounds: list[Round] = []
            idle: dict[str, float] = {}
            runs = [(f"{args.pods} ServiceAccounts", args.pods, ()), ("1 shared ServiceAccount", 1, ()),
                    (f"{args.pods} SAs, {NO_WATCH}", args.pods, ("--aws-kube-watch-max-accounts", "0"))]  # fmt: skip
            for label, accounts, flags in runs:
                found, idle[label] = await identity_rounds(world, label, args.pods, accounts, args.secrets, *flags)
                rounds += found
            identities_met = print_identity_rounds(rounds, idle, args)
            if args.only == "identities":
                return 0 if identities_met else 1
            print()
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
    return 0 if met and identities_met else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
