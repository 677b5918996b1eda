"""Node-scale burst: 110 pods of one Deployment mount the same SecretProviderClass at once.

    uv run python benchmarks/node_burst.py [--pods 110] [--secrets 20] [--latency-ms 20] [--only identities|cache]
                                           [--moto-per-service 2]

Identities (issue 14): the gateway on default settings (only the socket directory and kubeconfig given), 110 pods
with 110 distinct ServiceAccounts (IRSA, spread over 10 namespaces as on a mixed node) and 110 pods of one shared
ServiceAccount, each mounting once cold (a fresh process) and once more warm (the same process, fresh tokens).
Printed per round: successes, wall time, AWS calls (BatchGetSecretValue + GetSecretValue), STS calls, Kubernetes
calls (ServiceAccount GETs, LIST, WATCH), the gateway's peak RSS so far and its CPU seconds (per pod too). The
Kubernetes API is the in-process FakeKubernetes (LIST + WATCH like the real one; the watch itself is tested against
the real kube-apiserver in tests/e2e). Targets: 110/110 in every round; for 110 distinct identities, wall <= 1 s and
CPU per new-identity mount <= 5 ms.

The peers are kept apart as on a node: the driver's gRPC client runs in a process of its own (the real driver is a
Go process), and STS and Secrets Manager are moto servers of their own, ``--moto-per-service`` each, the counting
proxy sending each service's calls to its servers in turn — AWS serves every service from a fleet of its own,
where one moto process for both serves each call of the burst in turn on one interpreter lock, at several ms of
CPU per call. Those servers list moto's service directories once instead of on every request (a third of moto's
CPU per call, nothing it answers; ``--moto-as-shipped`` for moto as it ships). Every peer still shares this machine's CPUs with the gateway, so the split of each round's CPU
seconds is printed too — the gateway (and its event loop alone), moto (and its busiest server), the driver, and
this process (the proxy adding the 20 ms, the Kubernetes API) — with the floor those seconds put under the wall
time, and moto's own CPU per call of each kind a new identity makes.

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
import multiprocessing
import os
import secrets as tokens
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import psutil
from startup import bytecode_environment  # benchmarks/startup.py: the image's compiled bytecode

from gateway.client import DriverClient, MountFailure
from gateway.model import MountResult
from gateway.request import RawMountRequest
from gateway.testing import PodContext, mount_request
from gateway_aws.identity import IRSA_AUDIENCE
from gateway_aws.testing import PRIMARY, AwsWorld, MotoServer


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
class Cpu:
    """CPU seconds (utime + stime) of each process of a round."""

    gateway: float  # all its threads
    gateway_loop: float  # its main thread: the event loop, where its own AWS calls and every mount run
    motos: tuple[float, ...]  # each moto server
    driver: float  # the driver's gRPC client, a process of its own
    harness: float  # this process: the counting proxy (20 ms per call) and the Kubernetes API

    @property
    def moto(self) -> float:
        return sum(self.motos)

    @property
    def moto_busiest(self) -> float:
        """The busiest moto server's (one interpreter lock: its CPU is a floor of the round's wall)."""
        return max(self.motos)

    @property
    def total(self) -> float:
        return self.gateway + self.moto + self.driver + self.harness

    def since(self, before: Cpu) -> Cpu:
        return Cpu(
            self.gateway - before.gateway, self.gateway_loop - before.gateway_loop,
            tuple(a - b for a, b in zip(self.motos, before.motos, strict=True)), self.driver - before.driver,
            self.harness - before.harness,
        )  # fmt: skip


@dataclass
class Round:
    label: str
    ok: int
    wall_ms: float
    aws: int  # BatchGetSecretValue + GetSecretValue
    sts: int
    kube: dict[str, int]
    peak_rss_mib: float
    cpu: Cpu

    @property
    def cpu_seconds(self) -> float:
        return self.cpu.gateway


NO_WATCH = "no watch"
KUBE_CALLS = {"SA GET": ("/serviceaccounts/", "GET"), "LIST": ("/api/v1/serviceaccounts", "LIST"), "WATCH": ("/api/v1/serviceaccounts", "WATCH")}


def cpu_of(pid: int, thread: int | None = None) -> float:
    """CPU seconds of a process (or of one of its threads) from /proc."""
    stat = Path(f"/proc/{pid}/task/{thread}/stat" if thread else f"/proc/{pid}/stat").read_text()
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drive(socket_path: str, requests: list[RawMountRequest]) -> tuple[float, list[str]]:
    """The driver's side of a round, in a process of its own (the real driver is a Go process of its own, not this
    benchmark's): every request at once over one channel; the wall time in ms and the failures' texts."""

    async def mount_all() -> tuple[float, list[str]]:
        async with DriverClient(socket_path) as client:
            await client.version()  # the channel is up before the clock starts
            started = time.perf_counter()
            results = await asyncio.gather(*(client.mount(r) for r in requests), return_exceptions=True)
            wall = (time.perf_counter() - started) * 1000
        return wall, [str(r) if isinstance(r, MountFailure) else repr(r) for r in results if isinstance(r, BaseException)]

    return asyncio.run(mount_all())


class Peers:
    """The round's peers as apart as on a node: the driver in its own process, and moto as servers per AWS service
    (``per_service`` each: STS and Secrets Manager are fleets of their own, serving calls side by side, where one moto
    process for both serves every call of the burst in turn on one interpreter lock), each seeded with ``secrets``;
    ``light``: moto lists its service directories once, not on every request (``MotoServer(list_services_once=True)``)."""

    def __init__(self, world: AwsWorld, per_service: int, secrets: dict[str, str], light: bool = True) -> None:
        self.world = world
        self.sts = [MotoServer(list_services_once=light).start() for _ in range(per_service)]
        self.secretsmanager = [MotoServer(list_services_once=light).start() for _ in range(per_service)]
        for server in self.secretsmanager:
            seeding = direct_client(server, "secretsmanager")
            for name, value in secrets.items():
                seeding.create_secret(Name=name, SecretString=value)
        for server in self.sts:  # moto loads a service's code with its first call: not in a measured round
            web_identity(direct_client(server, "sts"), "warm-up")
        for server in self.secretsmanager:
            direct_client(server, "secretsmanager").batch_get_secret_value(SecretIdList=list(secrets))
        world.proxy.route("sts", *(server.url for server in self.sts))
        world.proxy.route("secretsmanager", *(server.url for server in self.secretsmanager))
        self.driver = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        self.driver_pid = self.driver.submit(os.getpid).result()

    @property
    def motos(self) -> list[MotoServer]:
        return [*self.sts, *self.secretsmanager]

    def moto_call_cpu(self, secret_ids: list[str], calls: int = 50) -> dict[str, float]:
        """moto's CPU ms per call of the two kinds a new identity's mount makes (sequential, straight to one server)."""
        sts, sm = self.sts[0], self.secretsmanager[0]
        sts_client, sm_client = direct_client(sts, "sts"), direct_client(sm, "secretsmanager")
        figures = {}
        for label, server, call in (
            ("AssumeRoleWithWebIdentity", sts, lambda n: web_identity(sts_client, f"probe-{n}")),
            (f"BatchGetSecretValue ({len(secret_ids)} secrets)", sm, lambda n: sm_client.batch_get_secret_value(SecretIdList=secret_ids)),
        ):
            before = cpu_of(server.pid)
            for n in range(calls):
                call(n)
            figures[label] = (cpu_of(server.pid) - before) / calls * 1000
        return figures

    def snapshot(self, gateway: int) -> Cpu:
        motos = tuple(cpu_of(server.pid) for server in self.motos)
        return Cpu(cpu_of(gateway), cpu_of(gateway, gateway), motos, cpu_of(self.driver_pid), cpu_of(os.getpid()))

    def close(self) -> None:
        self.driver.shutdown()
        self.world.proxy.route("sts")
        self.world.proxy.route("secretsmanager")
        for server in self.motos:
            server.stop()


def web_identity(client: Any, role: str) -> None:
    client.assume_role_with_web_identity(RoleArn=f"arn:aws:iam::123456789012:role/{role}", RoleSessionName=role, WebIdentityToken=f"token-{role}")


def direct_client(server: MotoServer, service: str) -> Any:
    """A boto3 client straight to one moto server (not through the proxy, so not counted)."""
    return boto3.client(service, region_name=PRIMARY, endpoint_url=server.url, aws_access_key_id="seed", aws_secret_access_key="seed")


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
    world: AwsWorld, peers: Peers, label: str, pods: int, accounts: int, secrets: int, *flags: str
) -> tuple[list[Round], float]:
    """One gateway process on default settings (plus ``flags``): a cold round, then a warm one; and its idle RSS before them."""
    placed = identity_pods(world, pods, accounts)
    rounds = []
    async with world.serve_process(*flags, env=bytecode_environment()) as (server, socket_path):
        await asyncio.sleep(0.5)
        idle_rss = psutil.Process(server.pid).memory_info().rss / 2**20
        for temperature in ("cold", "warm"):
            world.proxy.clear_calls()
            world.kube.requests.clear()
            rounds.append(await identity_round(world, peers, server.pid, socket_path, placed, secrets, f"{label}, {temperature}"))
    return rounds, idle_rss


async def identity_round(
    world: AwsWorld, peers: Peers, provider: int, socket_path: Path, placed: list[tuple[str, str, str]], secrets: int, label: str
) -> Round:
    """The ``placed`` pods (fresh tokens) mounting ``secrets`` secrets at once through the driver's process, against the
    provider process ``provider``; the calls counted are those since the caller last cleared the counters."""
    objects = [{"objectName": f"burst/s{i:02d}", "objectType": "secretsmanager"} for i in range(secrets)]
    requests = [
        mount_request(objects, {"region": PRIMARY}, pod=PodContext(
            name=name, namespace=namespace, service_account=account, tokens={IRSA_AUDIENCE: f"irsa-{tokens.token_hex(8)}"}))
        for namespace, name, account in placed
    ]  # fmt: skip
    before = peers.snapshot(provider)
    wall, failures = await asyncio.get_running_loop().run_in_executor(peers.driver, drive, str(socket_path), requests)
    cpu = peers.snapshot(provider).since(before)
    for failure in failures[:1]:
        print(f"  {label}: {len(failures)} failed, e.g. {failure[:400]}")
    kube = {name: world.kube.count(fragment, method) for name, (fragment, method) in KUBE_CALLS.items()}
    aws = world.proxy.count("BatchGetSecretValue") + world.proxy.count("GetSecretValue")
    sts = world.proxy.count("AssumeRoleWithWebIdentity")
    return Round(label, len(placed) - len(failures), wall, aws, sts, kube, peak_rss_mib(provider), cpu)


def print_identity_rounds(rounds: list[Round], idle: dict[str, float], moto_calls: dict[str, float], args: argparse.Namespace) -> bool:
    print(f"{args.pods} pods x {args.secrets} Secrets Manager secrets, {args.latency_ms:g} ms per AWS call, default settings; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; moto: {args.moto_per_service} server(s) per service "
          f"(STS, Secrets Manager){', as shipped' if args.moto_as_shipped else ', listing its services once'}; the driver in a process of its own")
    print(f"{'round':<30}{'ok':>5}{'wall ms':>9}{'SM':>5}{'STS':>5}{'SA GET':>8}{'LIST':>6}{'WATCH':>7}{'peak RSS MiB':>14}{'CPU s':>7}{'CPU ms/pod':>11}")
    for r in rounds:
        print(
            f"{r.label:<30}{r.ok:>5}{r.wall_ms:>9.0f}{r.aws:>5}{r.sts:>5}{r.kube['SA GET']:>8}{r.kube['LIST']:>6}{r.kube['WATCH']:>7}"
            f"{r.peak_rss_mib:>14.1f}{r.cpu_seconds:>7.2f}{r.cpu_seconds * 1000 / args.pods:>11.1f}"
        )
    cores = os.cpu_count() or 1
    print(f"\nwhere the CPU of each round went (seconds; the floor is the least wall time those CPU seconds allow on {cores} "
          "CPUs: all of them spread over every CPU, the gateway's event loop or the busiest moto server, whichever is most)")
    print(f"{'round':<30}{'gateway':>9}{'its loop':>9}{'moto':>7}{'busiest':>9}{'driver':>8}{'proxy+kube':>11}{'all':>7}{'floor ms':>10}{'wall ms':>9}")
    for r in rounds:
        c = r.cpu
        floor = max(c.total / cores, c.gateway_loop, c.moto_busiest) * 1000
        print(f"{r.label:<30}{c.gateway:>9.2f}{c.gateway_loop:>9.2f}{c.moto:>7.2f}{c.moto_busiest:>9.2f}{c.driver:>8.2f}"
              f"{c.harness:>11.2f}{c.total:>7.2f}{floor:>10.0f}{r.wall_ms:>9.0f}")
    print("moto's CPU per call (sequential, one server): " + ", ".join(f"{name} {ms:.2f} ms" for name, ms in moto_calls.items()))
    print("idle RSS before the first round: " + ", ".join(f"{label} {rss:.1f} MiB" for label, rss in idle.items()))
    print(f"({NO_WATCH}: --aws-kube-watch-max-accounts 0, one GET per ServiceAccount as before the watch; for reference, not a target)")
    met = all(r.ok == args.pods for r in rounds if NO_WATCH not in r.label)
    print(f"target {args.pods}/{args.pods} in every round on default settings:", "met" if met else "NOT met")
    distinct = [r for r in rounds if r.label.startswith(f"{args.pods} ServiceAccounts")]
    print(f"target wall <= 1,000 ms for {args.pods} distinct identities: "
          + ", ".join(f"{r.label.rpartition(', ')[2]} {r.wall_ms:,.0f} ms ({'met' if r.wall_ms <= 1000 else 'NOT met'})" for r in distinct))
    print("target CPU per new-identity mount <= 5 ms: "
          + ", ".join(f"{r.label.rpartition(', ')[2]} {r.cpu_seconds * 1000 / args.pods:.1f} ms "
                      f"({'met' if r.cpu_seconds * 1000 / args.pods <= 5 else 'NOT met'})" for r in distinct))
    return met


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=110)
    parser.add_argument("--secrets", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--stagger-ms", type=float, default=20.0, help="pod interval of the rollout runs (default 20)")
    parser.add_argument("--only", choices=("identities", "cache"), help="run only the identity rounds or only the cache runs")
    parser.add_argument("--moto-per-service", type=int, default=2,
                        help="identity rounds: moto servers per AWS service (STS, Secrets Manager), calls spread over them (default 2)")
    parser.add_argument("--moto-as-shipped", action="store_true",
                        help="identity rounds: moto lists its ~200 service directories on every request, as it ships (a third of its CPU)")
    args = parser.parse_args()
    results = []
    identities_met = True
    with AwsWorld.isolated(latency=args.latency_ms / 1000) as world:
        seeded = {f"burst/s{i:02d}": f'{{"user": "u{i}", "password": "p{i}"}}' for i in range(args.secrets)}
        for name, value in seeded.items():
            world.secret(name, value)
        await compile_bytecode(world)
        if args.only != "cache":
            rounds: list[Round] = []
            idle: dict[str, float] = {}
            runs = [(f"{args.pods} ServiceAccounts", args.pods, ()), ("1 shared ServiceAccount", 1, ()),
                    (f"{args.pods} SAs, {NO_WATCH}", args.pods, ("--aws-kube-watch-max-accounts", "0"))]  # fmt: skip
            peers = Peers(world, args.moto_per_service, seeded, light=not args.moto_as_shipped)
            try:
                moto_calls = peers.moto_call_cpu(list(seeded))
                for label, accounts, flags in runs:
                    found, idle[label] = await identity_rounds(world, peers, label, args.pods, accounts, args.secrets, *flags)
                    rounds += found
            finally:
                peers.close()
            identities_met = print_identity_rounds(rounds, idle, moto_calls, args)
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
