"""Region: ``region`` parameter, else AWS_REGION, else the pod's node label (ASCP's messages), with bounded API load."""

from __future__ import annotations

import asyncio

import pytest

from gateway.testing import MountFailure, mount_request
from gateway_aws.testing import FAILOVER, PRIMARY, AwsWorld

OBJECTS = [{"objectName": "db", "objectType": "secretsmanager"}]


async def mount_value(world: AwsWorld, parameters: dict[str, str], **pod: object) -> bytes:
    async with world.gateway() as gw:
        result = await gw.mount(mount_request(OBJECTS, parameters, pod=world.irsa_pod(**pod)))  # type: ignore[arg-type]
    return result.files[0].contents


@pytest.fixture
def seeded(world: AwsWorld) -> AwsWorld:
    world.secret("db", "east", PRIMARY)
    world.secret("db", "west", FAILOVER)
    world.secret("db", "central", "eu-central-1")
    return world


async def test_region_parameter_wins_without_any_lookup(seeded: AwsWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", FAILOVER)
    assert await mount_value(seeded, {"region": "eu-central-1"}, region_label=PRIMARY) == b"central"
    assert seeded.kube.count("/pods/") == 0 and seeded.kube.count("/nodes/") == 0


async def test_process_aws_region_before_the_node(seeded: AwsWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", FAILOVER)
    assert await mount_value(seeded, {}, region_label=PRIMARY) == b"west"
    assert seeded.kube.count("/pods/") == 0


async def test_node_label_when_nothing_else(seeded: AwsWorld) -> None:
    assert await mount_value(seeded, {}, region_label="eu-central-1") == b"central"
    assert seeded.kube.count("/api/v1/namespaces/apps/pods/web-0") == 1
    assert seeded.kube.count("/api/v1/nodes/node-1") == 1


async def test_failover_region_with_the_node_region(seeded: AwsWorld) -> None:
    seeded.proxy.fail(region=PRIMARY)
    assert await mount_value(seeded, {"failoverRegion": FAILOVER}, region_label=PRIMARY) == b"west"


@pytest.mark.parametrize(
    ("setup", "code", "message"),
    [
        pytest.param("no-label", "NotFound", "failed to retrieve region from node. error Region not found", id="label-missing"),
        pytest.param("no-pod", "NotFound", 'failed to retrieve region from node. error pods "web-0" not found', id="pod-missing"),
        pytest.param("no-node", "NotFound", 'failed to retrieve region from node. error nodes "node-1" not found', id="node-missing"),
        pytest.param("forbidden", "PermissionDenied", "failed to retrieve region from node. error injected Forbidden", id="rbac"),
        pytest.param("api-down", "Unavailable", "failed to retrieve region from node. error injected InternalError", id="api-5xx"),
        pytest.param(
            "same-failover",
            "InvalidArgument",
            f"{PRIMARY}: failover region cannot be the same as the primary region",
            id="failover-equals-node-region",
        ),
    ],
)
async def test_node_region_failures(world: AwsWorld, setup: str, code: str, message: str) -> None:
    pod = world.irsa_pod(region_label=None if setup == "no-label" else PRIMARY)
    if setup == "no-pod":
        world.kube.pods.clear()
    if setup == "no-node":
        world.kube.nodes.clear()
    if setup == "forbidden":
        world.kube.inject("/api/v1/namespaces/apps/pods", status=403)
    if setup == "api-down":
        world.kube.inject("/api/v1/namespaces/apps/pods", status=500)
    parameters = {"failoverRegion": PRIMARY} if setup == "same-failover" else {}
    async with world.gateway() as gw:
        with pytest.raises(MountFailure) as caught:
            await gw.mount(mount_request(OBJECTS, parameters, pod=pod))
    assert caught.value.code_name == code
    assert caught.value.message == message
    assert world.proxy.count() == 0


async def test_rollout_of_100_pods_reads_each_node_once(seeded: AwsWorld) -> None:
    """100 pods on 2 nodes, mounting concurrently: 100 pod reads, 2 node reads, one ServiceAccount list + watch."""
    pods = [seeded.irsa_pod(name=f"web-{i}", node=f"node-{i % 2}") for i in range(100)]
    async with seeded.gateway(aws_kube_qps="0") as gw:
        results = await asyncio.gather(*(gw.mount(mount_request(OBJECTS, {}, pod=pod)) for pod in pods))
    assert {r.files[0].contents for r in results} == {b"east"}
    assert seeded.kube.count("/pods/web-") == 100
    assert seeded.kube.count("/api/v1/nodes/") == 2
    assert seeded.kube.count("/serviceaccounts/web") == 0
    assert (seeded.kube.count(method="LIST"), seeded.kube.count(method="WATCH")) == (1, 1)


async def test_kubernetes_reads_are_rate_limited(seeded: AwsWorld) -> None:
    """A burst beyond --aws-kube-burst waits for tokens (never fails); the bucket records the waits."""
    pods = [seeded.irsa_pod(name=f"web-{i}") for i in range(6)]
    async with seeded.gateway(aws_kube_qps="5", aws_kube_burst="2") as gw:  # ~8 reads need ~1 s of refill: waits are certain
        await asyncio.gather(*(gw.mount(mount_request(OBJECTS, {}, pod=pod)) for pod in pods))
        bucket = gw.gateway.backends.get("secretsmanager").runtime.kube.bucket  # type: ignore[union-attr]
    assert bucket.waits >= 1
    assert seeded.kube.count("/pods/web-") == 6
