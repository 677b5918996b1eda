"""The gateway beside the real ASCP (AWS's provider, v3.1.1, Go): 110 pods with 110 distinct ServiceAccounts mounting
at once, both providers on the same peers, runs alternating.

    scripts/build-ascp.sh     # once: builds ASCP into the user's cache (see the script for where its source comes from)
    uv run python benchmarks/versus_ascp.py [--runs 3] [--quick] [--pods 110] [--secrets 20] [--latency-ms 20]
                                            [--moto-per-service 2] [--ascp <binary>]

Per provider and run: a fresh process on its default settings; the time from its start until ``Version`` answers on its
socket; its idle RSS (2 s after that); a cold round (110 pods of 110 ServiceAccounts in 10 namespaces, IRSA, each
mounting ``--secrets`` Secrets Manager secrets, all at once) and, 2 s later, a warm one (the same pods again in the
same process, fresh tokens); per round: successes, wall time, Secrets Manager / STS / Kubernetes calls, the peak RSS so far (VmHWM)
and the provider's CPU seconds (utime + stime from /proc, all its threads) per mount — in the cold round every mount is
a new identity's. Then the medians per provider over ``--runs`` (the order of the two alternates between runs).

The same peers for both, as node_burst.py keeps them (its functions are imported): the driver's gRPC client in a
process of its own; STS and Secrets Manager on moto servers of their own (``--moto-per-service`` each) behind the one
counting proxy adding ``--latency-ms`` to every AWS call; the Kubernetes API is FakeKubernetes (ServiceAccounts GET,
LIST and WATCH), both clients at their default rate limits (ASCP: qps 5, burst 10; the gateway: its defaults).

Both reach them the same way, the way ASCP must be run outside a cluster (its in-cluster Kubernetes configuration is
the only one it takes, and its IRSA STS client always calls ``https://sts.<region>.amazonaws.com``): this script
re-runs itself inside ``unshare --mount --net`` (root) with only ``lo`` up, so nothing can leave the machine; a tmpfs
over ``/run`` holds ``secrets/kubernetes.io/serviceaccount/{token,ca.crt,namespace}`` and ``KUBERNETES_SERVICE_HOST`` /
``_PORT`` name a TLS front (gateway_aws.testing.TlsFront) before FakeKubernetes; AWS's real host names are reached
through ``HTTPS_PROXY`` = the counting proxy, which ends the CONNECT tunnels with TLS. One throwaway CA signs both
certificates and is given as ``SSL_CERT_FILE`` (Go) and ``AWS_CA_BUNDLE`` (boto3 and the gateway). Neither provider
gets an endpoint variable: both decide AWS's endpoints themselves.

Wall times share the 2 CPUs with every peer (moto, the proxy's TLS, the driver), so the CPU split of each round is
printed too; the provider's CPU per mount, call counts and RSS hardly move with the load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from node_burst import Peers, Round, identity_pods, identity_round
from startup import bytecode_environment, stopping, until_version_answers

from gateway.client import DriverClient
from gateway.testing import mount_request
from gateway_aws.testing import PRIMARY, AwsWorld, TlsFront
from gateway_vault.testing.certs import ThrowawayPki  # a throwaway CA (the vault plugin's test kit)

INSIDE = "SECRETS_GATEWAY_VERSUS_ASCP_INSIDE"  # set once this script runs inside its namespaces
ACCOUNT_DIR = Path("/run/secrets/kubernetes.io/serviceaccount")
IDLE_SECONDS = 2.0  # after start-up, before the idle RSS and the cold round; and again before the warm round
REPO = Path(__file__).resolve().parent.parent


@dataclass
class Run:
    provider: str
    number: int  # 1, 2, ... per provider
    start_s: float
    idle_rss_mib: float
    rounds: dict[str, Round] = field(default_factory=dict)  # "cold", "warm"; the provider's CPU in Round.cpu.gateway
    kube_requests: dict[str, int] = field(default_factory=dict)  # every Kubernetes request of each round


@dataclass
class Provider:
    """How to start one provider: its command (given the socket directory), environment, and socket's name."""

    name: str
    command: Callable[[Path], list[str]]
    env: dict[str, str]
    socket_name: str

    @asynccontextmanager
    async def running(self) -> AsyncIterator[tuple[subprocess.Popen[bytes], Path, float]]:
        """A fresh process; yields it, its socket and the seconds from its start until Version answered."""
        directory = Path(tempfile.mkdtemp(prefix=f"versus-{self.name}-", dir="/tmp"))
        socket_path = directory / self.socket_name
        log_path = directory / "provider.log"
        try:
            with log_path.open("wb") as log:
                started = time.perf_counter()
                server = subprocess.Popen(self.command(directory), env=self.env, stdout=log, stderr=log)
            with stopping(server):
                try:
                    await until_version_answers(server, socket_path)
                except SystemExit:
                    raise SystemExit(f"{self.name} exited during start-up:\n{log_path.read_text(errors='replace')[-2000:]}") from None
                yield server, socket_path, time.perf_counter() - started
        finally:
            shutil.rmtree(directory, ignore_errors=True)


def enter_namespaces(ascp: Path) -> None:
    """Re-run this script inside new mount and network namespaces (only ``lo``, private mounts)."""
    if os.geteuid() != 0:
        raise SystemExit("versus_ascp.py runs the providers inside unshare --mount --net: run it as root")
    command = ["unshare", "--mount", "--net", "--propagation", "private", "--", sys.executable, *sys.argv, "--ascp", str(ascp)]
    os.execvpe("unshare", command, {**os.environ, INSIDE: "1"})


def pod_files(ca: Path, kube_token: str) -> None:
    """The pod's service-account files, on a tmpfs over /run (this mount namespace's only)."""
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", "/run"], check=True)
    ACCOUNT_DIR.mkdir(parents=True)
    (ACCOUNT_DIR / "token").write_text(kube_token)
    (ACCOUNT_DIR / "ca.crt").write_bytes(ca.read_bytes())
    (ACCOUNT_DIR / "namespace").write_text("kube-system")


def providers(ascp: Path, world: AwsWorld, front: TlsFront, ca: Path) -> list[Provider]:
    """Both providers on their defaults, with one environment: the peers reached as from a pod of a cluster."""
    env = {name: value for name, value in bytecode_environment().items() if name != "AWS_ENDPOINT_URL"}
    env.update({
        "KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(front.port),
        "HTTPS_PROXY": world.proxy.url, "NO_PROXY": "127.0.0.1,localhost",
        "SSL_CERT_FILE": str(ca), "AWS_CA_BUNDLE": str(ca),
    })  # fmt: skip
    gateway = [sys.executable, "-m", "gateway", "--log-level", "error", "serve", "--plugins", "aws", "--http-address", ""]
    return [
        Provider("gateway", lambda directory: [*gateway, "--providers-dir", str(directory)], env, "secrets-gateway.sock"),
        Provider("ASCP", lambda directory: [str(ascp), "--provider-volume", str(directory), "--driver-writes-secrets=true"], env, "aws.sock"),
    ]


async def measure(world: AwsWorld, peers: Peers, provider: Provider, number: int, placed: list[tuple[str, str, str]], secrets: int) -> Run:
    """One fresh process of ``provider``: start, idle RSS, a cold round and a warm one."""
    world.proxy.clear_calls()
    world.kube.requests.clear()  # the cold round counts what the process read at start-up too
    async with provider.running() as (server, socket_path, start_s):
        await asyncio.sleep(IDLE_SECONDS)
        run = Run(provider.name, number, start_s, psutil.Process(server.pid).memory_info().rss / 2**20)
        for temperature in ("cold", "warm"):
            if temperature == "warm":
                await asyncio.sleep(IDLE_SECONDS)  # both Kubernetes clients' rate limits refill (10 reads at 5 per second)
            label = f"{provider.name} #{number}, {temperature}"
            run.rounds[temperature] = await identity_round(world, peers, server.pid, socket_path, placed, secrets, label)
            run.kube_requests[temperature] = len(world.kube.requests)
            world.proxy.clear_calls()
            world.kube.requests.clear()
    return run


async def warm_up(provider: Provider, world: AwsWorld) -> None:
    """One uncounted process and mount (bytecode compiled, the binary and moto's code paged in)."""
    pod = world.irsa_pod(name="warm-up-0", namespace="warm-up", service_account="warm-up")
    async with provider.running() as (_, socket_path, _), DriverClient(socket_path) as client:
        await client.mount(mount_request([{"objectName": "burst/s00", "objectType": "secretsmanager"}], {"region": PRIMARY}, pod=pod))


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: list[float], form: str) -> str:
    """The median, with the range when runs differ."""
    low, high = min(values), max(values)
    return format(median(values), form) if low == high else f"{median(values):{form}} ({low:{form}}-{high:{form}})"


def print_runs(runs: list[Run], args: argparse.Namespace, loads: tuple[float, float]) -> None:
    pods = args.pods
    print(f"\n{pods} pods of {pods} ServiceAccounts (10 namespaces, IRSA) x {args.secrets} Secrets Manager secrets, "
          f"{args.latency_ms:g} ms per AWS call; each provider on its defaults; moto: {args.moto_per_service} server(s) per service; "
          f"load average {loads[0]:.1f} before, {loads[1]:.1f} after, on {os.cpu_count()} CPUs")  # fmt: skip
    print(f"{'run':<14}{'round':<6}{'ok':>5}{'wall ms':>9}{'SM':>6}{'STS':>5}{'SA GET':>8}{'LIST':>6}{'WATCH':>7}{'other':>7}"
          f"{'peak MiB':>10}{'CPU s':>7}{'ms/mount':>9}{'moto s':>8}{'driver s':>9}{'proxy+kube s':>13}")  # fmt: skip
    for run in runs:
        for temperature, r in run.rounds.items():
            other = run.kube_requests[temperature] - sum(r.kube.values())
            print(f"{run.provider + ' #' + str(run.number):<14}{temperature:<6}{r.ok:>5}{r.wall_ms:>9.0f}{r.aws:>6}{r.sts:>5}"
                  f"{r.kube['SA GET']:>8}{r.kube['LIST']:>6}{r.kube['WATCH']:>7}{other:>7}{r.peak_rss_mib:>10.1f}"
                  f"{r.cpu.gateway:>7.2f}{per_mount(r, pods):>9.2f}{r.cpu.moto:>8.2f}{r.cpu.driver:>9.2f}{r.cpu.harness:>13.2f}")  # fmt: skip
    names = list(dict.fromkeys(run.provider for run in runs))
    by_name = {name: [run for run in runs if run.provider == name] for name in names}

    width = 26 + 14 * (len(by_name[names[0]]) - 1)  # room for every run's figure

    def row(label: str, figure: Callable[[Run], str]) -> None:
        print(f"{label:<52}" + "".join(f"  {' | '.join(figure(run) for run in by_name[name]):>{width}}" for name in names))

    print(f"\nper run (runs alternate; {len(by_name[names[0]])} per provider)")
    print(f"{'figure (defaults)':<52}" + "".join(f"  {name:>{width}}" for name in names))
    for temperature in ("cold", "warm"):
        row(f"{pods} distinct ServiceAccounts, {temperature}: ok", lambda run, t=temperature: f"{run.rounds[t].ok}/{pods}")
        row("  wall s", lambda run, t=temperature: f"{run.rounds[t].wall_ms / 1000:.2f}")
        row(f"  CPU ms per mount{' (new identity)' if temperature == 'cold' else ''}",
            lambda run, t=temperature: f"{per_mount(run.rounds[t], pods):.1f}")  # fmt: skip
        row("  SM / STS / Kubernetes calls", lambda run, t=temperature: calls(run, t))
    row("start until Version answers, s", lambda run: f"{run.start_s:.2f}")
    row("RSS idle / peak in the burst, MiB", lambda run: f"{run.idle_rss_mib:.0f}/{max(r.peak_rss_mib for r in run.rounds.values()):.0f}")
    print("\nmedians over the runs")
    print(f"{'figure (defaults)':<52}" + "".join(f"{name:>26}" for name in names))
    for label, value, form in (
        ("cold: ok", lambda run: run.rounds["cold"].ok, ".0f"),
        ("cold: wall s", lambda run: run.rounds["cold"].wall_ms / 1000, ".2f"),
        ("cold: CPU ms per mount (new identity)", lambda run: per_mount(run.rounds["cold"], pods), ".1f"),
        ("warm: ok", lambda run: run.rounds["warm"].ok, ".0f"),
        ("warm: wall s", lambda run: run.rounds["warm"].wall_ms / 1000, ".2f"),
        ("warm: CPU ms per mount", lambda run: per_mount(run.rounds["warm"], pods), ".1f"),
        ("start until Version answers, s", lambda run: run.start_s, ".2f"),
        ("idle RSS, MiB", lambda run: run.idle_rss_mib, ".1f"),
        ("peak RSS in the burst, MiB", lambda run: max(r.peak_rss_mib for r in run.rounds.values()), ".1f"),
    ):
        print(f"{label:<52}" + "".join(f"{spread([float(value(run)) for run in by_name[name]], form):>26}" for name in names))


def calls(run: Run, temperature: str) -> str:
    """Secrets Manager / STS / Kubernetes calls of a round (Kubernetes: every request)."""
    r = run.rounds[temperature]
    return f"{r.aws} / {r.sts} / {run.kube_requests[temperature]}"


def per_mount(r: Round, pods: int) -> float:
    """The provider's CPU ms per mount."""
    return r.cpu.gateway * 1000 / pods


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="processes per provider, alternating (default 3)")
    parser.add_argument("--quick", action="store_true", help="one run of 30 pods x 5 secrets (a smoke run)")
    parser.add_argument("--pods", type=int, default=110)
    parser.add_argument("--secrets", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--moto-per-service", type=int, default=2)
    parser.add_argument("--ascp", type=Path, help="the ASCP binary (default: what scripts/build-ascp.sh builds or finds)")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.pods, args.secrets = 1, 30, 5
    return args


def ascp_binary(given: Path | None) -> Path:
    if given is not None:
        return given.resolve()
    built = subprocess.run([str(REPO / "scripts" / "build-ascp.sh")], check=True, capture_output=True, text=True).stdout
    return Path(built.strip().rpartition("ascp=")[2])


def inside_namespaces(args: argparse.Namespace) -> Path:
    """ASCP's binary, once this process runs inside the namespaces with ``lo`` up."""
    ascp = ascp_binary(args.ascp)  # built (or found) outside the namespaces: the build may need the network
    if os.environ.get(INSIDE) != "1":
        enter_namespaces(ascp)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    return ascp


async def main(args: argparse.Namespace, ascp: Path) -> int:
    loads = [os.getloadavg()[0]]
    scratch = Path(tempfile.mkdtemp(prefix="versus-ascp-"))
    pki = ThrowawayPki.create(scratch / "pki", server_name=f"*.{PRIMARY}.amazonaws.com", loopback=True)
    runs: list[Run] = []
    try:
        with AwsWorld.isolated(latency=args.latency_ms / 1000) as world, \
                TlsFront(world.kube.url, str(pki.server_cert), str(pki.server_key)) as front:  # fmt: skip
            pod_files(pki.ca, world.kube.bearer_token)
            world.proxy.terminate_tunnels(str(pki.server_cert), str(pki.server_key))
            seeded = {f"burst/s{i:02d}": f'{{"user": "u{i}", "password": "p{i}"}}' for i in range(args.secrets)}
            peers = Peers(world, args.moto_per_service, seeded)
            try:
                both = providers(ascp, world, front, pki.ca)
                for provider in both:
                    await warm_up(provider, world)
                placed = identity_pods(world, args.pods, args.pods)
                for number in range(args.runs):
                    for provider in both if number % 2 == 0 else both[::-1]:
                        runs.append(await measure(world, peers, provider, number + 1, placed, args.secrets))
                        print(f"  run {number + 1}: {provider.name} done", flush=True)
                tunnels = sorted(set(world.proxy.tunnels))
            finally:
                peers.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    loads.append(os.getloadavg()[0])
    runs.sort(key=lambda run: (run.provider != "gateway", run.number))
    print_runs(runs, args, (loads[0], loads[1]))
    print(f"AWS hosts reached through the proxy's TLS tunnels: {', '.join(tunnels)}")
    return 0 if all(r.ok == args.pods for run in runs for r in run.rounds.values()) else 1


if __name__ == "__main__":
    arguments = parse_args()
    sys.exit(asyncio.run(main(arguments, inside_namespaces(arguments))))
