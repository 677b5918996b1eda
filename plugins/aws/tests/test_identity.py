"""Identity as ASCP: IRSA and Pod Identity from the request's tokens, assume-role chaining, dev-only ambient mode."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from gateway.testing import MountFailure, PodContext, mount_request
from gateway_aws.identity import IRSA_AUDIENCE, POD_IDENTITY_AUDIENCE
from gateway_aws.testing import PRIMARY, AwsWorld, role_arn

OBJECTS = [{"objectName": "db", "objectType": "secretsmanager"}]
CROSS = role_arn("reader")  # same account: moto scopes a cross-account role's credentials to that account


@pytest.fixture(autouse=True)
def secret(world: AwsWorld) -> None:
    world.secret("db", "s3cr3t")


async def mount(world: AwsWorld, pod: PodContext, parameters: dict[str, str] | None = None, **options: str) -> bytes:
    async with world.gateway(**options) as gw:
        result = await gw.mount(mount_request(OBJECTS, {"region": PRIMARY, **(parameters or {})}, pod=pod))
    return result.files[0].contents


async def failure(world: AwsWorld, pod: PodContext, parameters: dict[str, str] | None = None, **options: str) -> MountFailure:
    with pytest.raises(MountFailure) as caught:
        await mount(world, pod, parameters, **options)
    return caught.value


# --------------------------------------------------------------------------- IRSA


async def test_irsa_assumes_the_annotated_role(world: AwsWorld) -> None:
    assert await mount(world, world.irsa_pod()) == b"s3cr3t"
    assert world.proxy.count("AssumeRoleWithWebIdentity") == 1
    assert world.proxy.calls[0].names == (role_arn("web"),)
    assert world.proxy.count("BatchGetSecretValue", role=role_arn("web")) == 1


@pytest.mark.parametrize(
    ("pod_change", "code", "message"),
    [
        pytest.param(
            {"tokens": {}},
            "InvalidArgument",
            "CSI token error: serviceAccount.tokens not provided - ensure tokenRequests is configured in CSIDriver spec",
            id="no-tokens",
        ),
        pytest.param(
            {"tokens": {POD_IDENTITY_AUDIENCE: "other-audience"}},
            "InvalidArgument",
            'IRSA token extraction failed: token for audience "sts.amazonaws.com" not found - '
            "ensure tokenRequests includes this audience in CSIDriver",
            id="wrong-audience",
        ),
        pytest.param(
            {"tokens": {IRSA_AUDIENCE: "t0k3n-expired"}, "token_lifetime": timedelta(seconds=-5)},
            "PermissionDenied",
            'the service-account token for audience "sts.amazonaws.com" expired at',
            id="expired-token",
        ),
    ],
)
async def test_token_problems(world: AwsWorld, pod_change: dict[str, object], code: str, message: str) -> None:
    failed = await failure(world, replace(world.irsa_pod(), **pod_change))  # type: ignore[arg-type]
    assert failed.code_name == code
    assert failed.message.startswith(message) or message in failed.message
    assert world.proxy.count() == 0


@pytest.mark.parametrize(
    ("role", "code", "message"),
    [
        pytest.param(
            "", "PermissionDenied", "An IAM role must be associated with service account web (namespace: apps)", id="no-annotation"
        ),
        pytest.param(
            "web-role",
            "InvalidArgument",
            'service account web (namespace: apps) has an invalid eks.amazonaws.com/role-arn annotation "web-role"',
            id="bad-annotation",
        ),
    ],
)
async def test_role_annotation_problems(world: AwsWorld, role: str, code: str, message: str) -> None:
    failed = await failure(world, world.irsa_pod(role=role))
    assert failed.code_name == code
    assert failed.message.endswith(message) or message in failed.message
    assert world.proxy.count("AssumeRoleWithWebIdentity") == 0


async def test_service_account_missing(world: AwsWorld) -> None:
    pod = world.irsa_pod()
    world.kube.service_accounts.clear()
    failed = await failure(world, pod)
    assert failed.code_name == "NotFound"
    assert 'cannot read service account web (namespace: apps) to find its IAM role: serviceaccounts "web" not found' in failed.message


async def test_service_account_read_forbidden_names_the_rbac_fix(world: AwsWorld) -> None:
    pod = world.irsa_pod()
    world.kube.inject("/api/v1/serviceaccounts", status=403)  # no list/watch: the watch gives up, GETs decide
    world.kube.inject("/api/v1/namespaces/apps/serviceaccounts", status=403)
    failed = await failure(world, pod)
    assert failed.code_name == "PermissionDenied"
    assert "ClusterRole needs get on serviceaccounts" in failed.message


async def test_without_list_and_watch_the_role_comes_from_a_get(world: AwsWorld) -> None:
    world.kube.inject("/api/v1/serviceaccounts", status=403)
    await mount(world, world.irsa_pod())
    assert world.kube.count("/api/v1/namespaces/apps/serviceaccounts/web", method="GET") == 1


@pytest.mark.parametrize(
    ("fault", "outcome"),
    [
        pytest.param({"latency": 4.0}, None, id="slow-api-server-is-not-the-backends-timeout"),
        pytest.param({"status": 429}, "the Kubernetes API server answered HTTP 429: injected TooManyRequests", id="throttled-names-the-api-server"),
        pytest.param({"status": 503}, "the Kubernetes API server answered HTTP 503: injected ServiceUnavailable", id="unavailable-names-the-api-server"),
    ],
)
async def test_a_kubernetes_wait_is_never_charged_to_the_backend_timeout(world: AwsWorld, fault: dict[str, Any], outcome: str | None) -> None:
    """The ServiceAccount read takes longer than --backend-timeout (3 s) or fails: the mount succeeds, or fails naming
    the Kubernetes API — never "no answer from secretsmanager within 3s"."""
    world.kube.inject("/api/v1/namespaces/apps/serviceaccounts/web", **fault)
    options = {
        "backend_timeout": 3.0, "aws_kube_watch_max_accounts": "0",
        # AWS steps whose worst case fits the 3 s backend timeout (else the server refuses to start), with room for a
        # loaded machine's moto
        "aws_connect_timeout": "1", "aws_read_timeout": "1.5", "aws_pod_identity_timeout": "0.4", "aws_pod_identity_attempts": "1",
    }
    if outcome is None:
        assert await mount(world, world.irsa_pod(), **options) == b"s3cr3t"
        return
    failed = await failure(world, world.irsa_pod(), **options)
    assert failed.code_name == "Unavailable"
    assert "cannot read service account web (namespace: apps) to find its IAM role: " in failed.message
    assert outcome in failed.message and "no answer from secretsmanager" not in failed.message


async def test_a_mount_deadline_during_a_kubernetes_read_names_the_kubernetes_api(world: AwsWorld) -> None:
    world.kube.inject("/api/v1/namespaces/apps/serviceaccounts/web", latency=3.0)
    failed = await failure(world, world.irsa_pod(), mount_timeout=1.0, aws_kube_watch_max_accounts="0")
    assert failed.code_name == "DeadlineExceeded"
    assert "(secretsmanager @ us-east-1, waiting for the Kubernetes API)" in failed.message


async def test_with_the_watch_the_role_needs_no_get(world: AwsWorld) -> None:
    async with world.gateway() as gw:
        for number in range(3):
            await gw.mount(mount_request(OBJECTS, {"region": PRIMARY}, pod=world.irsa_pod(name=f"web-{number}")))
    assert world.kube.count("/api/v1/namespaces/apps/serviceaccounts/web", method="GET") == 0
    assert (world.kube.count(method="LIST"), world.kube.count(method="WATCH")) == (1, 1)


@pytest.mark.parametrize(
    ("code", "hint"),
    [
        pytest.param("AccessDenied", "trust policy must allow sts:AssumeRoleWithWebIdentity", id="trust-policy"),
        pytest.param("InvalidIdentityToken", "OIDC provider must be registered in IAM", id="oidc-provider"),
        pytest.param("ExpiredTokenException", "expired", id="expired"),
    ],
)
async def test_sts_refusals(world: AwsWorld, code: str, hint: str) -> None:
    world.proxy.inject(operation="AssumeRoleWithWebIdentity", status=403 if code == "AccessDenied" else 400, code=code, message="no")
    failed = await failure(world, world.irsa_pod())
    assert failed.code_name == "PermissionDenied"
    assert f"AssumeRoleWithWebIdentity failed: {code}: no (hint: " in failed.message and hint in failed.message
    assert world.proxy.count("BatchGetSecretValue") == 0


# --------------------------------------------------------------------------- Pod Identity


async def test_pod_identity_uses_the_agent(world: AwsWorld) -> None:
    assert await mount(world, world.pod_identity_pod(), {"usePodIdentity": "true"}) == b"s3cr3t"
    assert world.agent.requests == 1
    assert world.proxy.count("AssumeRoleWithWebIdentity") == 0
    assert world.proxy.count("BatchGetSecretValue", role=role_arn("api")) == 1


@pytest.mark.parametrize(
    ("setup", "code", "message"),
    [
        pytest.param(
            "no-audience",
            "InvalidArgument",
            'Pod Identity token extraction failed: token for audience "pods.eks.amazonaws.com" not found - '
            "ensure tokenRequests includes this audience in CSIDriver",
            id="no-audience",
        ),
        pytest.param("no-association", "PermissionDenied", "HTTP 400: Service account token cannot be verified", id="agent-refuses"),
        pytest.param("agent-down", "Unavailable", "cannot connect", id="agent-unreachable"),
        pytest.param("agent-5xx", "Unavailable", "HTTP 500", id="agent-keeps-failing"),
        pytest.param("agent-5xx-ipv6-down", "Unavailable", "HTTP 500", id="agent-5xx-not-hidden-by-ipv6-fallback"),
    ],
)
async def test_pod_identity_failures(world: AwsWorld, setup: str, code: str, message: str) -> None:
    pod = world.pod_identity_pod(role="" if setup == "no-association" else None)
    if setup == "no-audience":
        pod = replace(pod, tokens={IRSA_AUDIENCE: "irsa-only"})
    options = {}
    if setup == "agent-down":
        options = {
            "aws_pod_identity_endpoint": "http://127.0.0.1:9/v1/credentials",
            "aws_pod_identity_endpoint_ipv6": "http://127.0.0.1:9/v1/credentials",
        }
    if setup in ("agent-5xx", "agent-5xx-ipv6-down"):
        world.agent.fail(500, times=10)
    if setup == "agent-5xx-ipv6-down":
        options = {"aws_pod_identity_endpoint": world.agent.url, "aws_pod_identity_endpoint_ipv6": "http://127.0.0.1:9/v1/credentials"}
    failed = await failure(world, pod, {"usePodIdentity": "True"}, **options)
    assert failed.code_name == code
    assert message in failed.message
    if setup == "agent-5xx-ipv6-down":  # the IPv4 agent's cause first, then the fallback's
        assert failed.message.index("HTTP 500") < failed.message.index("cannot connect")
    if setup in ("agent-down", "agent-5xx", "agent-5xx-ipv6-down"):
        assert "EKS Pod Identity Agent" in failed.message or "HTTP 500" in failed.message
    assert all(token not in failed.message for token in pod.tokens.values())


@pytest.mark.parametrize(
    "fault",
    [pytest.param("500", id="agent-5xx-once"), pytest.param("slow", id="agent-timeout-once")],
)
async def test_pod_identity_agent_is_retried(world: AwsWorld, fault: str) -> None:
    if fault == "500":
        world.agent.fail(500, times=1)
    else:
        world.agent.delay(1.0, times=1)
    assert await mount(world, world.pod_identity_pod(), {"usePodIdentity": "true"}, aws_pod_identity_timeout="0.3") == b"s3cr3t"
    assert world.agent.requests == 2


@pytest.mark.parametrize(
    ("address_type", "works"),
    [
        pytest.param("auto", True, id="auto-falls-back-to-ipv6"),
        pytest.param("ipv6", True, id="ipv6-only"),
        pytest.param("ipv4", False, id="ipv4-only-fails"),
        pytest.param("invalid", True, id="unknown-is-auto-like-ascp"),
    ],
)
async def test_preferred_address_type(world: AwsWorld, address_type: str, works: bool, caplog: pytest.LogCaptureFixture) -> None:
    options = {"aws_pod_identity_endpoint": "http://127.0.0.1:9/v1/credentials", "aws_pod_identity_endpoint_ipv6": world.agent.url}
    parameters = {"usePodIdentity": "true", "preferredAddressType": address_type}
    pod = world.pod_identity_pod()
    if works:
        assert await mount(world, pod, parameters, **options) == b"s3cr3t"
    else:
        assert (await failure(world, pod, parameters, **options)).code_name == "Unavailable"
    warned = [r.getMessage() for r in caplog.records if "preferredAddressType" in r.getMessage()]
    assert warned == ([] if address_type in ("auto", "ipv6", "ipv4") else ['preferredAddressType "invalid" is not "ipv4", "ipv6" or "auto": using auto, as ASCP does'])


async def test_preferred_address_type_is_ignored_for_irsa(world: AwsWorld, caplog: pytest.LogCaptureFixture) -> None:
    assert await mount(world, world.irsa_pod(), {"preferredAddressType": "invalid"}) == b"s3cr3t"
    assert not [r for r in caplog.records if "preferredAddressType" in r.getMessage()]


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        pytest.param(
            {"usePodIdentity": "yes"},
            'failed to parse usePodIdentity value, error: strconv.ParseBool: parsing "yes": invalid syntax',
            id="use-pod-identity",
        ),
        pytest.param({"assumeRoleArn": "arn:aws:iam::1:role/x"}, "assumeRoleArn must be an IAM role ARN", id="assume-role-arn"),
        pytest.param(
            {"assumeRoleArn": CROSS, "assumeRoleDurationSeconds": "10"}, "assumeRoleDurationSeconds must be an integer", id="duration"
        ),
    ],
)
async def test_bad_auth_parameters_fail_before_any_call(world: AwsWorld, parameters: dict[str, str], message: str) -> None:
    failed = await failure(world, world.irsa_pod(), parameters)
    assert failed.code_name == "InvalidArgument"
    assert failed.message.startswith(message)
    assert world.proxy.count() == 0 and world.agent.requests == 0


# --------------------------------------------------------------------------- assume-role chaining


@pytest.mark.parametrize("source", ["irsa", "pod-identity"])
async def test_assume_role_chain_reads_as_the_target_role(world: AwsWorld, source: str) -> None:
    pod = world.irsa_pod() if source == "irsa" else world.pod_identity_pod()
    parameters = {"assumeRoleArn": CROSS, "assumeRoleExternalId": "ext-42", "assumeRoleDurationSeconds": "900"}
    if source == "pod-identity":
        parameters["usePodIdentity"] = "true"
    assert await mount(world, pod, parameters) == b"s3cr3t"
    base = role_arn("web" if source == "irsa" else "api")
    assert world.proxy.count("AssumeRole", role=base) == 1, "the chain step is signed with the pod's own role"
    assert world.proxy.count("BatchGetSecretValue", role=CROSS) == 1
    assert world.proxy.count("BatchGetSecretValue", role=base) == 0


async def test_assume_role_refused_names_the_trust_policy(world: AwsWorld) -> None:
    world.proxy.inject(operation="AssumeRole", status=403, code="AccessDenied", message="not allowed")
    failed = await failure(world, world.irsa_pod(), {"assumeRoleArn": CROSS})
    assert failed.code_name == "PermissionDenied"
    assert "AssumeRole failed: AccessDenied" in failed.message and "assumeRoleArn role's trust policy" in failed.message


# --------------------------------------------------------------------------- isolation and ambient mode


async def test_cached_answers_never_cross_identities(world: AwsWorld) -> None:
    """Pod B's role may not read the secret: B fails even while and after A (allowed) reads it."""
    world.proxy.deny(role=role_arn("b"), name="db")
    world.proxy.latency = 0.2  # keep A's call in flight while B asks
    pod_a = world.irsa_pod(name="a-0", service_account="a")
    pod_b = world.irsa_pod(name="b-0", service_account="b")
    async with world.gateway() as gw:
        together = await asyncio.gather(
            gw.mount(mount_request(OBJECTS, {"region": PRIMARY}, pod=pod_a)),
            gw.mount(mount_request(OBJECTS, {"region": PRIMARY}, pod=pod_b)),
            return_exceptions=True,
        )
        with pytest.raises(MountFailure) as after:
            await gw.mount(mount_request(OBJECTS, {"region": PRIMARY}, pod=pod_b))
    assert together[0].files[0].contents == b"s3cr3t"  # type: ignore[union-attr]
    assert isinstance(together[1], MountFailure) and together[1].code_name == "PermissionDenied"
    assert after.value.code_name == "PermissionDenied"


async def test_ambient_credentials_only_with_the_server_flag(world: AwsWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAAMBIENT")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "ambient-secret")
    no_tokens = replace(world.irsa_pod(), tokens={})
    spc_tries = {"allowAmbientCredentials": "true", "aws-allow-ambient-credentials": "true", "useAmbientCredentials": "true"}
    failed = await failure(world, no_tokens, spc_tries)
    assert failed.message.startswith("CSI token error")
    assert await mount(world, no_tokens, aws_allow_ambient_credentials="true") == b"s3cr3t"
    assert world.proxy.calls[-1].access_key == "AKIAAMBIENT"
    assert world.proxy.count("AssumeRoleWithWebIdentity") == 0
