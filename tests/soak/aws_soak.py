"""Fault soak against moto behind the fault-injecting proxy, over the real socket.

    uv run python -m tests.soak.aws_soak [--mounts 10000] [--concurrency 32]

Pods of three identities mount 5 of 20 Secrets Manager secrets (some through jmesPath) with a
failover region. In the primary region the proxy answers 20% of calls with a 500
(retryable: the core fails over) and 2% with AccessDenied (not retryable: the mount fails),
with 0–10 ms of random latency on every call. Checked as in the fake soak: contents, clean
typed errors only, no leaked threads/fds/tasks, RSS growth between the 1,000th and the last mount.
"""

from __future__ import annotations

import json
import random

from gateway.testing import mount_request
from gateway_aws.testing import FAILOVER, PRIMARY, AwsWorld
from tests.soak.harness import Planned, SoakReport, command_line, drive

SECRETS = 20
IDENTITIES = ("web", "api", "worker")


def value(index: int) -> str:
    return json.dumps({"user": f"user-{index}", "password": f"pw-{index}"})


def seed(world: AwsWorld) -> None:
    for region in (PRIMARY, FAILOVER):
        for index in range(SECRETS):
            world.secret(f"soak/s{index}", value(index), region)


def expected_failure(failure) -> bool:  # type: ignore[no-untyped-def]
    return failure.code_name == "PermissionDenied" and "AccessDeniedException" in failure.message


async def soak(mounts: int = 10_000, concurrency: int = 32, first_mark: int = 1_000) -> SoakReport:
    with AwsWorld.isolated(jitter=0.010) as world:
        seed(world)
        pods = [world.irsa_pod(name=f"{sa}-0", service_account=sa) for sa in IDENTITIES]
        world.proxy.inject(region=PRIMARY, service="secretsmanager", status=500, code="InternalServiceError", rate=0.2)
        world.proxy.inject(region=PRIMARY, service="secretsmanager", status=400, code="AccessDeniedException", rate=0.025)

        planned = 0

        def plan(rng: random.Random) -> Planned:
            nonlocal planned
            planned += 1
            if planned % 500 == 0:  # the peers' own call logs must not count as the gateway's memory
                world.proxy.clear_calls()
                world.kube.requests.clear()
            objects, expected = [], {}
            for index in rng.sample(range(SECRETS), 5):
                entry: dict[str, object] = {"objectName": f"soak/s{index}", "objectType": "secretsmanager", "objectAlias": f"s{index}.json"}
                expected[f"s{index}.json"] = value(index).encode()
                if index % 2 == 0:
                    entry["jmesPath"] = [{"path": "user", "objectAlias": f"s{index}-user"}]
                    expected[f"s{index}-user"] = f"user-{index}".encode()
                objects.append(entry)
            request = mount_request(objects, {"region": PRIMARY, "failoverRegion": FAILOVER}, pod=rng.choice(pods))
            return request, expected

        # few workers: the thread and connection pools reach their bound during the warm-up, so any
        # growth after it is a leak, not a pool filling up
        async with world.gateway(aws_max_attempts="1", aws_max_workers="2") as gw:
            return await drive(gw.mount, plan, expected_failure, mounts=mounts, concurrency=concurrency, first_mark=first_mark)


if __name__ == "__main__":
    command_line(__doc__, soak)
