"""What a new pod identity costs the gateway: CPU and memory per first mount of a new identity.

    uv run python benchmarks/aws_identity_cost.py [--identities 200] [--warm 100] [--pod-identity]
                                                  [--secrets 1] [--at-once] [--rounds 1] [--profile FILE]
                                                  [--callgrind DIR]

A cold gateway process (`secrets-gateway serve --plugins aws`) against moto behind the counting
proxy, no added latency. After a warm-up (10 identities, so imports and first clients are paid),
one pod remounts ``--warm`` times (its credentials cached: the cost of a mount), then
``--identities`` pods of as many ServiceAccounts (IRSA, a role each) mount once each, one after
the other (``--at-once``: all at once, as benchmarks/node_burst.py's rounds do); ``--rounds N``: N times over, each
round the same ServiceAccounts with fresh tokens (so as many new identities again, as in node_burst's warm round). Printed: the gateway's CPU
(utime+stime) per warm mount and per new-identity mount, and the share of its event-loop thread, their
difference (what the identity itself costs: an STS call plus whatever is built for it), and the growth of its
resident memory per new identity. These figures do not depend on the machine's load as wall time does. Target
(issue 14): CPU per new-identity mount <= 5 ms. ``--pod-identity``: the new pods use EKS Pod Identity (credentials
from the node agent, one pod each) instead of IRSA. ``--secrets N``: each mount names N Secrets Manager secrets (one
``BatchGetSecretValue``; node_burst's rounds use 20).

``--profile FILE``: a deterministic profile (cProfile) of the gateway's event-loop thread over the new-identity mounts
only, written to FILE (pstats) and summed up per mount in µs — the functions costing most of their own time, and
the cumulative time of the steps of a mount. The profile is started by signal through benchmarks/profiling (put on
the child's PYTHONPATH only here); it slows the gateway, so the CPU figures of a profiled run are not the ones to quote.

``--callgrind DIR``: the gateway runs under valgrind's callgrind, instrumented over the new-identity mounts only
(``callgrind_control -i on/off``), its output per thread in DIR; printed: instructions per new-identity mount, of the
event-loop thread and of all threads — a count that does not depend on the machine's load at all, for comparing two
versions side by side (use it without ``--at-once``: under valgrind a burst outlasts the mounts' deadlines).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pstats
import secrets as tokens
import signal
import sys
from dataclasses import replace
from pathlib import Path

import psutil
from node_burst import cpu_of

from gateway.client import DriverClient
from gateway.testing import PodContext, mount_request
from gateway_aws.identity import IRSA_AUDIENCE
from gateway_aws.testing import PRIMARY, AwsWorld

TARGET_MS = 5.0
CALLGRIND = ("valgrind", "--tool=callgrind", "--instr-atstart=no", "--separate-threads=yes")
PROFILING = Path(__file__).parent / "profiling"  # its sitecustomize starts and stops cProfile on SIGUSR1 / SIGUSR2
#: the steps of a mount whose cumulative time the profile prints (function names as pstats gives them)
STEPS = (
    "Mount", "mount", "resolve", "role_arn", "credentials", "assume", "signed_headers", "call", "_attempt", "request",
    "_exchange", "_prepare", "_read_answer", "read_answer", "build_files", "record_backend_call",
)  # fmt: skip


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def loop_seconds(pid: int) -> float:
    """CPU seconds of the process's main thread (its event loop)."""
    return cpu_of(pid, pid)


def world_flags(world: AwsWorld) -> tuple[str, ...]:
    """The world's Pod Identity agent as the gateway's."""
    return ("--aws-pod-identity-endpoint", world.agent.url, "--aws-pod-identity-endpoint-ipv6", world.agent.url)


async def mount_each(client: DriverClient, pods: list[PodContext], parameters: dict[str, str], objects: list[dict[str, str]], at_once: bool = False) -> None:
    requests = [mount_request(objects, {"region": PRIMARY, **parameters}, pod=pod) for pod in pods]
    if at_once:
        await asyncio.gather(*(client.mount(request) for request in requests))
        return
    for request in requests:
        await client.mount(request)


def renewed(pod: PodContext, pod_identity: bool, world: AwsWorld) -> PodContext:
    """The same pod with a fresh token (a new identity to the gateway: its credentials are obtained anew)."""
    if pod_identity:
        return world.pod_identity_pod(name=pod.name, namespace=pod.namespace, service_account=pod.service_account)
    return replace(pod, tokens={IRSA_AUDIENCE: f"irsa-{tokens.token_hex(8)}"})


def profile_environment(output: Path) -> dict[str, str]:
    path = os.pathsep.join(filter(None, (str(PROFILING), os.environ.get("PYTHONPATH"))))
    return {**os.environ, "PYTHONPATH": path, "SGW_PROFILE": str(output)}


async def profiled(pid: int, output: Path, signum: int) -> None:
    """Start (SIGUSR1) or stop and write (SIGUSR2) the gateway's profile; waits until it took effect."""
    output.unlink(missing_ok=True)
    os.kill(pid, signum)
    if signum == signal.SIGUSR2:
        while not output.exists():
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # written whole
    else:
        await asyncio.sleep(0.2)


async def measure(world: AwsWorld, args: argparse.Namespace, objects: list[dict[str, str]]) -> dict[str, float]:
    new_pod = world.pod_identity_pod if args.pod_identity else world.irsa_pod
    parameters = {"usePodIdentity": "true", "preferredAddressType": "ipv4"} if args.pod_identity else {}
    profile = Path(args.profile).resolve() if args.profile else None
    # measure the AWS side, not the Kubernetes client's rate limit
    env = profile_environment(profile) if profile else None
    callgrind = Path(args.callgrind).resolve() if args.callgrind else None
    wrapper = (*CALLGRIND, f"--callgrind-out-file={callgrind / 'callgrind.out'}") if callgrind else ()
    if callgrind:
        callgrind.mkdir(parents=True, exist_ok=True)
        for old in callgrind.glob("callgrind.out*"):
            old.unlink()
    async with world.serve_process("--aws-kube-qps", "0", *world_flags(world), env=env, wrapper=wrapper) as (server, socket_path):
        process = psutil.Process(server.pid)
        warmup = [new_pod(name=f"warmup-{n}", service_account=f"warmup-{n}") for n in range(10)]
        fresh = [new_pod(name=f"pod-{n}", namespace=f"team-{n % 10}", service_account=f"sa-{n}") for n in range(args.identities)]
        rounds = [fresh] + [[renewed(pod, args.pod_identity, world) for pod in fresh] for _ in range(args.rounds - 1)]
        async with DriverClient(socket_path) as client:
            await mount_each(client, warmup, parameters, objects)
            before_warm, loop_before_warm = cpu_seconds(process), loop_seconds(server.pid)
            await mount_each(client, [warmup[0]] * args.warm, parameters, objects)
            if profile:
                await profiled(server.pid, profile, signal.SIGUSR1)
            if callgrind:
                await instrumented(server.pid, "on")
            before_new, loop_before_new, rss_before = cpu_seconds(process), loop_seconds(server.pid), process.memory_info().rss
            for pods in rounds:
                await mount_each(client, pods, parameters, objects, args.at_once)
            after, loop_after, rss_after = cpu_seconds(process), loop_seconds(server.pid), process.memory_info().rss
            if profile:
                await profiled(server.pid, profile, signal.SIGUSR2)
            if callgrind:
                await instrumented(server.pid, "off")
        return {
            "warm_ms": (before_new - before_warm) / args.warm * 1000,
            "warm_loop_ms": (loop_before_new - loop_before_warm) / args.warm * 1000,
            "new_ms": (after - before_new) / len(rounds) / args.identities * 1000,
            "new_loop_ms": (loop_after - loop_before_new) / len(rounds) / args.identities * 1000,
            "kib_per_identity": (rss_after - rss_before) / len(rounds) / args.identities / 1024,
        }


async def instrumented(pid: int, state: str) -> None:
    """Switch callgrind's instrumentation of the gateway ``on`` or ``off``."""
    control = await asyncio.create_subprocess_exec("callgrind_control", f"--instr={state}", str(pid), stdout=asyncio.subprocess.DEVNULL)
    if await control.wait() != 0:
        raise RuntimeError(f"callgrind_control --instr={state} failed")


def instructions(directory: Path) -> tuple[int, int]:
    """Instructions counted by callgrind in the event-loop thread (its first) and in all threads."""
    counts = {}
    for path in directory.glob("callgrind.out*"):
        totals = [line for line in path.read_text().splitlines() if line.startswith(("summary:", "totals:"))]
        counts[path.name] = int(totals[-1].split()[1]) if totals else 0
    loop = next((count for name, count in counts.items() if name.endswith("-01")), 0)
    return loop, sum(counts.values())


def print_profile(path: Path, mounts: int, top: int = 30) -> None:
    """The profile per mount in µs: the functions costing most of their own time, then the steps of a mount."""
    stats = pstats.Stats(str(path))
    rows = stats.stats  # type: ignore[attr-defined]  # {(file, line, name): (calls, ncalls, tottime, cumtime, callers)}
    total = sum(row[2] for row in rows.values())
    print(f"\nprofile of the event loop over the new-identity mounts ({path}): {total / mounts * 1e6:,.0f} µs per mount in all")
    print(f"{'own µs/mount':>13}{'cum µs/mount':>13}{'calls/mount':>12}  function")
    for (file, line, name), (_, calls, own, cumulative, _) in sorted(rows.items(), key=lambda item: -item[1][2])[:top]:
        print(f"{own / mounts * 1e6:>13.1f}{cumulative / mounts * 1e6:>13.1f}{calls / mounts:>12.1f}  {name} ({short(file)}:{line})")
    print("\nsteps of a mount (cumulative µs per mount)")
    for (file, line, name), (_, calls, _own, cumulative, _) in sorted(rows.items(), key=lambda item: -item[1][3]):
        if name in STEPS and ("gateway" in file or "plugins" in file):
            print(f"{cumulative / mounts * 1e6:>13.1f}{calls / mounts:>12.1f}  {name} ({short(file)}:{line})")


def short(file: str) -> str:
    parts = Path(file).parts
    return "/".join(parts[-3:]) if len(parts) > 3 else file


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--identities", type=int, default=200)
    parser.add_argument("--warm", type=int, default=100)
    parser.add_argument("--pod-identity", action="store_true", help="new pods use EKS Pod Identity instead of IRSA")
    parser.add_argument("--secrets", type=int, default=1, help="Secrets Manager secrets per mount (default 1)")
    parser.add_argument("--at-once", action="store_true", help="the new-identity pods mount all at once, not in turn")
    parser.add_argument("--rounds", type=int, default=1, help="the new-identity mounts this many times, fresh tokens each round")
    parser.add_argument("--profile", metavar="FILE", help="profile the event loop over the new-identity mounts into FILE")
    parser.add_argument("--callgrind", metavar="DIR", help="count instructions of the new-identity mounts with callgrind (output in DIR)")
    args = parser.parse_args()
    objects = [{"objectName": f"identity-cost/s{n:02d}", "objectType": "secretsmanager"} for n in range(args.secrets)]
    with AwsWorld.isolated() as world:
        for n in range(args.secrets):
            world.secret(f"identity-cost/s{n:02d}", f'{{"user": "u{n}", "password": "p{n}"}}')
        figures = await measure(world, args, objects)
    kind = "Pod Identity" if args.pod_identity else "IRSA"
    how = "all at once" if args.at_once else "one after the other"
    print(f"{args.identities} new {kind} identities x {args.rounds} round(s), one mount each ({args.secrets} Secrets Manager secret(s)), {how}, "
          f"after {args.warm} warm mounts; load average {os.getloadavg()[0]:.1f}")
    print(f"gateway CPU per warm mount:          {figures['warm_ms']:7.2f} ms   (event loop {figures['warm_loop_ms']:.2f} ms)")
    print(f"gateway CPU per new-identity mount:  {figures['new_ms']:7.2f} ms   (event loop {figures['new_loop_ms']:.2f} ms; "
          f"target <= {TARGET_MS:g} ms)")
    print(f"  of which the new identity:         {figures['new_ms'] - figures['warm_ms']:7.2f} ms")
    print(f"gateway RSS growth per new identity: {figures['kib_per_identity']:7.1f} KiB")
    if args.profile:
        print_profile(Path(args.profile), args.identities * args.rounds)
    if args.callgrind:
        loop, total = instructions(Path(args.callgrind))
        mounts = args.identities * args.rounds
        print(f"instructions per new-identity mount (callgrind): event loop {loop / mounts / 1e6:.3f} M, all threads {total / mounts / 1e6:.3f} M")
    met = figures["new_ms"] <= TARGET_MS
    print("target (CPU per new-identity mount <= 5 ms):", "met" if met else "NOT met")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
