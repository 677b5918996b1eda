"""Every cache proves identity as a miss would (docs/reliability.md, "Caches prove identity").

Against moto and the Pod Identity agent, with the fetch cache on (``--cache-ttl``): pod B of the
same ServiceAccount as pod A never gets what A fetched unless B's own request would have got it.
Credential caches (STS, Pod Identity) and the ServiceAccount lookups of IRSA are keyed alike.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from gateway.testing import MountFailure, PodContext, mount_request
from gateway_aws.identity import IRSA_AUDIENCE
from gateway_aws.testing import PRIMARY, AwsWorld, role_arn

OBJECTS = [{"objectName": "db", "objectType": "secretsmanager"}]
POD_IDENTITY = {"region": PRIMARY, "usePodIdentity": "true"}
IRSA = {"region": PRIMARY}


@pytest.fixture(autouse=True)
def secret(world: AwsWorld) -> None:
    world.secret("db", "s3cr3t")


def irsa_twin(world: AwsWorld, **change: object) -> PodContext:
    """Pod b-1 of apps/web (pod web-0's ServiceAccount), with ``change`` applied."""
    return replace(world.irsa_pod(name="b-1"), **change)  # type: ignore[arg-type]


CASES = [
    # id, parameters, pod B, status (None: served), message
    pytest.param(POD_IDENTITY, lambda w: w.pod_identity_pod(name="api-1", role=""), "PermissionDenied", "HTTP 400", id="pod-identity-refused-for-pod-b"),
    pytest.param(POD_IDENTITY, lambda w: w.pod_identity_pod(name="api-1"), None, "", id="pod-identity-pod-b-allowed"),
    pytest.param(IRSA, lambda w: irsa_twin(w, tokens={}), "InvalidArgument", "serviceAccount.tokens not provided", id="irsa-no-token"),
    pytest.param(IRSA, lambda w: irsa_twin(w, token_lifetime=timedelta(seconds=-5)), "PermissionDenied", "expired", id="irsa-expired-token"),
    pytest.param(IRSA, lambda w: irsa_twin(w, tokens={"other": "x"}), "InvalidArgument", IRSA_AUDIENCE, id="irsa-wrong-audience"),
    pytest.param(IRSA, lambda w: irsa_twin(w), None, "", id="irsa-same-account-shares"),
]


@pytest.mark.parametrize(("parameters", "pod_b", "code", "message"), CASES)
async def test_pod_b_gets_only_what_its_own_request_would_get(world: AwsWorld, parameters, pod_b, code, message) -> None:  # type: ignore[no-untyped-def]
    pod_a = world.pod_identity_pod() if "usePodIdentity" in parameters else world.irsa_pod()
    async with world.gateway(cache_ttl=60) as gw:
        first = await gw.mount(mount_request(OBJECTS, parameters, pod=pod_a))
        if code is None:
            second = await gw.mount(mount_request(OBJECTS, parameters, pod=pod_b(world)))
            assert second.files[0].contents == b"s3cr3t"
        else:
            with pytest.raises(MountFailure) as refused:
                await gw.mount(mount_request(OBJECTS, parameters, pod=pod_b(world)))
            assert refused.value.code_name == code and message in refused.value.message
            assert "s3cr3t" not in refused.value.message
    assert first.files[0].contents == b"s3cr3t"


async def test_pod_identity_credentials_and_values_are_per_pod(world: AwsWorld) -> None:
    """Pods of one ServiceAccount whose tokens the agent maps to different roles read as their own role."""
    pod_a, pod_b = world.pod_identity_pod(), world.pod_identity_pod(name="api-1", role=role_arn("reader"))
    world.proxy.deny(role=role_arn("reader"), name="db")
    async with world.gateway(cache_ttl=60) as gw:
        for _ in range(2):
            assert (await gw.mount(mount_request(OBJECTS, POD_IDENTITY, pod=pod_a))).files[0].contents == b"s3cr3t"
        with pytest.raises(MountFailure) as refused:
            await gw.mount(mount_request(OBJECTS, POD_IDENTITY, pod=pod_b))
    assert refused.value.code_name == "PermissionDenied"
    assert world.agent.requests == 2  # one per pod: credentials are cached per pod uid
    assert world.proxy.count("BatchGetSecretValue", role=role_arn("api")) == 1  # A's second mount was a hit


async def test_irsa_lookups_and_credentials_are_per_service_account(world: AwsWorld) -> None:
    """The ServiceAccount lookup and STS credentials of one account never serve another account."""
    world.proxy.deny(role=role_arn("b"), name="db")
    pod_a, pod_b = world.irsa_pod(name="a-0", service_account="a"), world.irsa_pod(name="b-0", service_account="b")
    async with world.gateway(cache_ttl=60) as gw:
        await gw.mount(mount_request(OBJECTS, IRSA, pod=pod_a))
        with pytest.raises(MountFailure) as refused:
            await gw.mount(mount_request(OBJECTS, IRSA, pod=pod_b))
    assert refused.value.code_name == "PermissionDenied"
    assert world.proxy.count("AssumeRoleWithWebIdentity") == 2
    # both roles from the ServiceAccount watch's one list: each account's own annotation, no GET
    assert (world.kube.count(method="LIST"), world.kube.count("/serviceaccounts/", method="GET")) == (1, 0)


IRSA_TOKEN_CASES = [
    # id, pod B (from the world and pod A), STS refuses B's token, status (None: served), STS calls in all
    pytest.param(lambda w, a: a, False, None, 1, id="same-token-served-from-cache"),
    pytest.param(lambda w, a: irsa_twin(w), True, "PermissionDenied", 2, id="other-pods-token-refused-by-sts"),
    pytest.param(lambda w, a: irsa_twin(w), False, None, 2, id="other-pods-token-accepted-by-sts"),
    pytest.param(lambda w, a: replace(a, tokens={IRSA_AUDIENCE: "forged-token-of-web"}), True, "PermissionDenied", 2, id="forged-token-same-pod"),
]


@pytest.mark.parametrize("cache_ttl", [0, 60], ids=["fetch-cache-off", "fetch-cache-on"])
@pytest.mark.parametrize(("pod_b", "sts_refuses", "code", "sts_calls"), IRSA_TOKEN_CASES)
async def test_irsa_credentials_are_served_only_to_the_token_that_obtained_them(  # type: ignore[no-untyped-def]
    world: AwsWorld, cache_ttl, pod_b, sts_refuses, code, sts_calls
) -> None:
    """STS's answer is keyed on the digest of the token (and the role): another token of the same
    ServiceAccount is shown to STS itself, so a token STS refuses is refused, whatever is cached."""
    pod_a = world.irsa_pod()
    async with world.gateway(cache_ttl=cache_ttl) as gw:
        assert (await gw.mount(mount_request(OBJECTS, IRSA, pod=pod_a))).files[0].contents == b"s3cr3t"
        if sts_refuses:
            world.proxy.inject(operation="AssumeRoleWithWebIdentity", status=400, code="InvalidIdentityToken", message="signature invalid")
        pod = pod_b(world, pod_a)
        if code is None:
            assert (await gw.mount(mount_request(OBJECTS, IRSA, pod=pod))).files[0].contents == b"s3cr3t"
        else:
            with pytest.raises(MountFailure) as refused:
                await gw.mount(mount_request(OBJECTS, IRSA, pod=pod))
            assert refused.value.code_name == code and "InvalidIdentityToken" in refused.value.message
            assert "s3cr3t" not in refused.value.message
        assert (await gw.mount(mount_request(OBJECTS, IRSA, pod=pod_a))).files[0].contents == b"s3cr3t"  # A's own token still served
    assert world.proxy.count("AssumeRoleWithWebIdentity") == sts_calls
