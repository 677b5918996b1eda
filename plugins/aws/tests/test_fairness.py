"""Fairness between tenants on the shared Kubernetes API rate limit (against moto and the fake API server).

One namespace's burst of pods without ``region`` (a pod and a node read each) must not push another
namespace's mount past its deadline; the burst itself is answered explicitly once its reads have
waited ``max_wait``: a retryable Unavailable naming the gateway's Kubernetes rate limit — not a
timeout blamed on Secrets Manager.
"""

from __future__ import annotations

import asyncio

from gateway.testing import MountFailure, mount_request
from gateway_aws.testing import PRIMARY, AwsWorld

OBJECTS = [{"objectName": "db", "objectType": "secretsmanager"}]
BURST = 40  # pod reads at 5/s: beyond the 5 s a read may wait


async def test_a_namespaces_burst_does_not_starve_another_namespaces_lookups(world: AwsWorld) -> None:
    world.secret("db", "s3cr3t")
    attackers = [world.irsa_pod(name=f"burst-{i}", namespace="attacker", region_label=PRIMARY) for i in range(BURST)]
    victim = world.irsa_pod(name="web-0", namespace="victim", region_label=PRIMARY)
    async with world.gateway(aws_kube_qps="5", aws_kube_burst="2") as gw:
        bucket = gw.gateway.backends.get("secretsmanager").runtime.kube.bucket  # type: ignore[union-attr]
        burst = [asyncio.ensure_future(gw.mount(mount_request(OBJECTS, {}, pod=pod))) for pod in attackers]
        while bucket.waits < 10:  # the burst is queued
            await asyncio.sleep(0.01)
        served = await gw.mount(mount_request(OBJECTS, {}, pod=victim))
        outcomes = await asyncio.gather(*burst, return_exceptions=True)
    assert served.files[0].contents == b"s3cr3t"
    refused = [o for o in outcomes if isinstance(o, MountFailure)]
    assert refused and all(o.code_name == "Unavailable" for o in refused)
    assert all("Kubernetes API rate limit (5 requests/s, burst 2) kept this read queued for 5s" in o.message for o in refused)
    assert not any("secretsmanager within" in o.message for o in refused)


async def test_a_namespaces_slow_calls_hold_only_its_share_of_the_aws_threads(world: AwsWorld) -> None:
    """Four slow reads of one namespace on four threads: they hold its share of two (the other two wait their
    turn); another namespace's mount, with a deadline shorter than one slow read, still gets its answer."""
    world.secret("db", "s3cr3t")
    world.secret("slow", "later")
    world.proxy.inject(name="slow", latency=4.0)
    attackers = [world.irsa_pod(name=f"a-{i}", namespace="attacker", service_account=f"sa-{i}") for i in range(4)]
    victim = world.irsa_pod(name="web-0", namespace="victim")
    slow = [{"objectName": "slow", "objectType": "secretsmanager"}]
    async with world.gateway(aws_max_workers="4", aws_max_workers_per_namespace="2", aws_read_timeout="8") as gw:
        burst = [asyncio.ensure_future(gw.mount(mount_request(slow, {"region": PRIMARY}, pod=pod))) for pod in attackers]
        while world.proxy.count("BatchGetSecretValue") < 2:  # the attacker's share is busy
            await asyncio.sleep(0.01)
        served = await gw.mount(mount_request(OBJECTS, {"region": PRIMARY}, pod=victim), timeout=3)
        slow_results = await asyncio.gather(*burst, return_exceptions=True)
    assert served.files[0].contents == b"s3cr3t"
    assert all(not isinstance(r, BaseException) and r.files[0].contents == b"later" for r in slow_results)
