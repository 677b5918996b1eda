"""API cost: batching, one STS call per identity, singleflight, and what happens when batching is refused."""

from __future__ import annotations

import asyncio

import pytest

from gateway.testing import mount_request
from gateway_aws.testing import FAILOVER, PRIMARY, AwsWorld, role_arn


def sm_objects(count: int) -> list[dict[str, str]]:
    return [{"objectName": f"app/secret-{i:02d}", "objectType": "secretsmanager"} for i in range(count)]


def ssm_objects(count: int) -> list[dict[str, str]]:
    return [{"objectName": f"/app/param-{i:02d}", "objectType": "ssmparameter"} for i in range(count)]


def seed_sm(world: AwsWorld, count: int) -> None:
    for i in range(count):
        world.secret(f"app/secret-{i:02d}", f"value-{i}")


def seed_ssm(world: AwsWorld, count: int) -> None:
    for i in range(count):
        world.parameter(f"/app/param-{i:02d}", f"value-{i}")


async def test_40_secrets_take_at_most_2_batch_calls_and_no_single_gets(world: AwsWorld) -> None:
    seed_sm(world, 40)
    async with world.gateway() as gw:
        result = await gw.mount(mount_request(sm_objects(40), {"region": PRIMARY}, pod=world.irsa_pod()))
    assert len(result.files) == 40
    assert world.proxy.count("BatchGetSecretValue") <= 2
    assert world.proxy.count("GetSecretValue") == 0
    assert all(len(c.names) <= 20 for c in world.proxy.calls if c.operation == "BatchGetSecretValue")


async def test_25_parameters_take_3_get_parameters_calls(world: AwsWorld) -> None:
    seed_ssm(world, 25)
    async with world.gateway() as gw:
        result = await gw.mount(mount_request(ssm_objects(25), {"region": PRIMARY}, pod=world.irsa_pod()))
    assert len(result.files) == 25
    assert world.proxy.count("GetParameters") == 3
    assert sorted(len(c.names) for c in world.proxy.calls if c.operation == "GetParameters") == [5, 10, 10]


async def test_healthy_primary_means_no_call_to_the_failover_region(world: AwsWorld) -> None:
    seed_sm(world, 5)
    seed_ssm(world, 5)
    async with world.gateway() as gw:
        await gw.mount(mount_request(sm_objects(5) + ssm_objects(5), {"region": PRIMARY, "failoverRegion": FAILOVER}, pod=world.irsa_pod()))
    assert world.proxy.count(region=FAILOVER) == 0
    assert world.proxy.count(region=PRIMARY) == 2


async def test_100_sequential_mounts_by_one_identity_make_one_sts_call(world: AwsWorld) -> None:
    seed_sm(world, 2)
    pod = world.irsa_pod()
    async with world.gateway() as gw:
        for _ in range(100):
            await gw.mount(mount_request(sm_objects(2), {"region": PRIMARY}, pod=pod))
        refreshes = gw.metrics.credential_refreshes.labels(backend="irsa", outcome="OK")._value.get()
    assert world.proxy.count("AssumeRoleWithWebIdentity") == 1
    assert world.proxy.count("BatchGetSecretValue") == 100
    assert refreshes == 1
    assert world.kube.count("/serviceaccounts/web") <= 2  # cached for --aws-kube-cache-ttl


async def test_one_sts_call_serves_both_backends_and_both_regions(world: AwsWorld) -> None:
    seed_sm(world, 1)
    seed_ssm(world, 1)
    world.proxy.fail(region=PRIMARY, operation="GetParameters")
    world.parameter("/app/param-00", "dr", FAILOVER)
    async with world.gateway() as gw:
        await gw.mount(mount_request(sm_objects(1) + ssm_objects(1), {"region": PRIMARY, "failoverRegion": FAILOVER}, pod=world.irsa_pod()))
    assert world.proxy.count("AssumeRoleWithWebIdentity") == 1


async def test_identities_get_their_own_credentials(world: AwsWorld) -> None:
    seed_sm(world, 1)
    pods = [world.irsa_pod(name=f"{sa}-0", service_account=sa) for sa in ("a", "b", "c")]
    async with world.gateway() as gw:
        for pod in pods * 3:
            await gw.mount(mount_request(sm_objects(1), {"region": PRIMARY}, pod=pod))
    assert world.proxy.count("AssumeRoleWithWebIdentity") == 3
    for sa in ("a", "b", "c"):
        assert world.proxy.count("BatchGetSecretValue", role=role_arn(sa)) == 3


async def test_refresh_margin_beyond_lifetime_renews_every_mount(world: AwsWorld) -> None:
    """moto's web-identity credentials last 1 h: with a margin above that they are never reused."""
    seed_sm(world, 1)
    pod = world.irsa_pod()
    async with world.gateway(aws_credential_refresh_margin="3700") as gw:
        for _ in range(3):
            await gw.mount(mount_request(sm_objects(1), {"region": PRIMARY}, pod=pod))
    assert world.proxy.count("AssumeRoleWithWebIdentity") == 3


async def test_credentials_refused_as_expired_are_renewed(world: AwsWorld) -> None:
    seed_sm(world, 1)
    pod = world.irsa_pod()
    world.proxy.inject(operation="BatchGetSecretValue", status=400, code="ExpiredTokenException", message="expired", times=1)
    async with world.gateway() as gw:
        with pytest.raises(Exception, match="ExpiredTokenException"):
            await gw.mount(mount_request(sm_objects(1), {"region": PRIMARY}, pod=pod))
        await gw.mount(mount_request(sm_objects(1), {"region": PRIMARY}, pod=pod))
    assert world.proxy.count("AssumeRoleWithWebIdentity") == 2


async def test_pod_identity_credentials_are_cached_per_pod(world: AwsWorld) -> None:
    seed_sm(world, 1)
    first, second = world.pod_identity_pod(name="api-0"), world.pod_identity_pod(name="api-1")
    async with world.gateway() as gw:
        for pod in (first, first, first, second, second):
            await gw.mount(mount_request(sm_objects(1), {"region": PRIMARY, "usePodIdentity": "true"}, pod=pod))
    assert world.agent.requests == 2  # session tags name the pod, so pods do not share credentials


async def test_identical_concurrent_mounts_of_one_pod_are_coalesced(world: AwsWorld) -> None:
    """10 mounts of one pod (one token) at once: one STS call, one batch call."""
    seed_sm(world, 3)
    pod = world.irsa_pod()
    world.proxy.latency = 0.2  # every call stays in flight long enough for the others to join it
    async with world.gateway() as gw:
        results = await asyncio.gather(*(gw.mount(mount_request(sm_objects(3), {"region": PRIMARY}, pod=pod)) for _ in range(10)))
    assert all(len(r.files) == 3 for r in results)
    assert world.proxy.count("AssumeRoleWithWebIdentity") == 1
    assert world.proxy.count("BatchGetSecretValue") == 1


async def test_pods_of_one_service_account_prove_their_own_tokens_then_share_calls(world: AwsWorld) -> None:
    """10 pods of one Deployment at once: each token goes to STS itself (a cached answer proves identity
    as a miss would); holding the same role's credentials, their identical calls in flight are shared."""
    seed_sm(world, 3)
    pods = [world.irsa_pod(name=f"web-{i}") for i in range(10)]
    world.proxy.inject(operation="BatchGetSecretValue", latency=1.0)  # in flight while the other pods' STS calls end
    async with world.gateway(aws_max_workers_per_namespace="16") as gw:
        results = await asyncio.gather(*(gw.mount(mount_request(sm_objects(3), {"region": PRIMARY}, pod=pod)) for pod in pods))
    assert all(len(r.files) == 3 for r in results)
    assert world.proxy.count("AssumeRoleWithWebIdentity") == 10
    assert world.proxy.count("BatchGetSecretValue") <= 2


async def test_role_without_batch_permission_falls_back_and_remembers(world: AwsWorld) -> None:
    """IAM policies written for ASCP grant GetSecretValue only: one refused batch, then single gets."""
    seed_sm(world, 3)
    world.proxy.deny(operation="BatchGetSecretValue")
    pod = world.irsa_pod()
    async with world.gateway() as gw:
        for _ in range(3):
            result = await gw.mount(mount_request(sm_objects(3), {"region": PRIMARY}, pod=pod))
            assert [f.contents for f in result.files] == [b"value-0", b"value-1", b"value-2"]
    assert world.proxy.count("BatchGetSecretValue") == 1
    assert world.proxy.count("GetSecretValue") == 9


async def test_batching_can_be_switched_off(world: AwsWorld) -> None:
    seed_sm(world, 3)
    async with world.gateway(aws_secretsmanager_batch="false") as gw:
        await gw.mount(mount_request(sm_objects(3), {"region": PRIMARY}, pod=world.irsa_pod()))
    assert (world.proxy.count("BatchGetSecretValue"), world.proxy.count("GetSecretValue")) == (0, 3)


async def test_per_secret_server_error_in_a_batch_is_retried_alone(world: AwsWorld) -> None:
    """A batch answer with a per-id InternalServiceError: that id alone goes through GetSecretValue."""
    seed_sm(world, 3)
    async with world.gateway() as gw:
        backend = gw.gateway.backends.get("secretsmanager")
        original = backend._pages  # type: ignore[union-attr]

        async def with_server_error(session, names):  # type: ignore[no-untyped-def]
            answer = await original(session, names)
            victim = names[1]
            return {
                "SecretValues": [v for v in answer["SecretValues"] if v["Name"] != victim],
                "Errors": [{"SecretId": victim, "ErrorCode": "InternalServiceError", "Message": "try again"}],
            }

        backend._pages = with_server_error  # type: ignore[union-attr]
        result = await gw.mount(mount_request(sm_objects(3), {"region": PRIMARY}, pod=world.irsa_pod()))
    assert [f.contents for f in result.files] == [b"value-0", b"value-1", b"value-2"]
    assert world.proxy.count("GetSecretValue") == 1
