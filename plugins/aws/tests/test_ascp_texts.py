"""ASCP's per-object texts that users grep for, inside our messages, as the driver receives them.

Every case goes through the real gRPC server with the ``aws`` plugin (provider ``aws``, the
ASCP dialect) and moto behind the fault proxy. Each checks the ASCP text, that our message still
names the object and the cause, and that no secret value appears.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from gateway.request import TOKENS
from gateway.testing import MountFailure, RawMountRequest, mount_request
from gateway_aws.testing import FAILOVER, PRIMARY, AwsWorld

VALUE = "hunter2-s3cr3t-value"
ACCOUNT = "123456789012"
S3_ARN = f"arn:aws:s3:{FAILOVER}:{ACCOUNT}:bucket/key"


@dataclass(frozen=True)
class Case:
    objects: list[dict[str, Any]]
    texts: tuple[str, ...]  # ASCP's texts and our detail, each must appear
    code: str = "NotFound"
    parameters: dict[str, str] = field(default_factory=lambda: {"region": PRIMARY})
    faults: tuple[dict[str, Any], ...] = ()


def sm(name: str, **fields: Any) -> dict[str, Any]:
    return {"objectName": name, "objectType": "secretsmanager", **fields}


def ssm(name: str, **fields: Any) -> dict[str, Any]:
    return {"objectName": name, "objectType": "ssmparameter", **fields}


FETCH_CASES = [
    pytest.param(
        Case(
            [sm("missing")],
            (
                "Failed to fetch secret from all regions. Verify secret exists and required permissions are granted for: missing — ",
                f'objects[0] "missing" (secretsmanager @ {PRIMARY}): Failed fetching secret missing: ',
                "ResourceNotFoundException",
            ),
        ),
        id="sm-not-found-batched",
    ),
    pytest.param(
        Case([sm("db", objectVersionLabel="NOPE")], ("Failed fetching secret db: GetSecretValue failed: ResourceNotFoundException",)),
        id="sm-label-not-found-single-call",
    ),
    pytest.param(
        Case(
            [sm("db")],
            ("Failed fetching secret db: GetSecretValue failed: AccessDeniedException", "secretsmanager:GetSecretValue"),
            code="PermissionDenied",
            faults=({"service": "secretsmanager", "status": 400, "code": "AccessDeniedException"},),
        ),
        id="sm-denied",
    ),
    pytest.param(
        Case(
            [sm("db")],
            (
                "Failed to fetch secret from all regions. Verify secret exists and required permissions are granted for: db — ",
                "Failed fetching secret db: ",
                "InternalServiceError",
            ),
            code="Unavailable",
            faults=({"service": "secretsmanager", "status": 500, "code": "InternalServiceError"},),
        ),
        id="sm-server-error-single-region",
    ),
    pytest.param(
        Case(
            [ssm("/app/gone-1"), ssm("/app/flag"), ssm("/app/gone-2")],
            (
                "Failed to fetch parameters from all regions.",
                "Failed fetching parameters: invalid parameters: ",
                "GetParameters listed them in InvalidParameters",
            ),
        ),
        id="ssm-invalid-parameters",
    ),
    pytest.param(
        Case([ssm("/app/flag", objectVersion="7")], ("Failed fetching parameters: invalid parameters: /app/flag:7",)),
        id="ssm-invalid-version-selector",
    ),
    pytest.param(
        Case(
            [ssm("/app/flag")],
            ("Failed to fetch parameters from all regions.", "Failed fetching parameters: GetParameters failed: ThrottlingException"),
            code="Unavailable",
            faults=({"service": "ssm", "status": 400, "code": "ThrottlingException"},),
        ),
        id="ssm-call-fails",
    ),
    pytest.param(
        Case(
            [sm("db", objectAlias="db")],
            (
                "Failed to fetch secret from all regions. Verify secret exists and required permissions are granted for: db — ",
                f"{PRIMARY}: Unavailable: Failed fetching secret db: ",
                f"{FAILOVER}: Unavailable: Failed fetching secret db: ",
            ),
            code="Unavailable",
            parameters={"region": PRIMARY, "failoverRegion": FAILOVER},
            faults=({"service": "secretsmanager", "status": 503, "code": "ServiceUnavailable"},),
        ),
        id="sm-every-region-fails",
    ),
    pytest.param(
        Case(
            [ssm("/app/flag", objectAlias="flag")],
            ("Failed to fetch parameters from all regions.", f"{PRIMARY}: Unavailable: Failed fetching parameters: "),
            code="Unavailable",
            parameters={"region": PRIMARY, "failoverRegion": FAILOVER},
            faults=({"service": "ssm", "status": 503, "code": "ServiceUnavailable"},),
        ),
        id="ssm-every-region-fails",
    ),
    pytest.param(
        Case(
            [sm("missing", objectAlias="m")],
            (f'objects[0] "missing" (secretsmanager @ {PRIMARY}): Failed fetching secret missing: ',),
            parameters={"region": PRIMARY, "failoverRegion": FAILOVER},
        ),
        id="no-headline-when-a-region-was-not-tried",
    ),
    pytest.param(
        Case(
            [sm("db", objectType="secretsmanager", objectAlias="db", failoverObject={"objectName": S3_ARN})],
            (f"failoverObject: objectType does not match ARN: {S3_ARN}",),
            code="InvalidArgument",
            parameters={"region": PRIMARY, "failoverRegion": FAILOVER},
        ),
        id="failover-arn-service-with-object-type",
    ),
    pytest.param(
        Case(
            [{"objectName": f"arn:aws:secretsmanager:{PRIMARY}:{ACCOUNT}:secret:db", "objectAlias": "db", "failoverObject": {"objectName": S3_ARN}}],
            ("failoverObject: Invalid service in ARN: s3",),
            code="InvalidArgument",
            parameters={"region": PRIMARY, "failoverRegion": FAILOVER},
        ),
        id="failover-arn-service",
    ),
    pytest.param(
        Case(
            [{"objectName": f"arn:aws:s3:{PRIMARY}:{ACCOUNT}:bucket/key"}],
            ('objects[0] "arn:aws:s3:', "Invalid service in ARN: s3"),
            code="InvalidArgument",
        ),
        id="primary-arn-service",
    ),
]


def seed(world: AwsWorld) -> None:
    for region in (PRIMARY, FAILOVER):
        world.secret("db", VALUE, region)
        world.parameter("/app/flag", VALUE, region)


@pytest.mark.parametrize("case", FETCH_CASES)
async def test_ascp_texts_reach_the_driver(world: AwsWorld, case: Case) -> None:
    seed(world)
    for fault in case.faults:
        world.proxy.inject(**fault)
    async with world.gateway() as gw:
        with pytest.raises(MountFailure) as caught:
            await gw.mount(mount_request(case.objects, case.parameters, pod=world.irsa_pod()))
    message = caught.value.message
    assert caught.value.code_name == case.code, message
    for text in case.texts:
        assert text in message
    assert VALUE not in message


async def test_invalid_parameters_are_listed_as_ascp_lists_them(world: AwsWorld) -> None:
    """``invalid parameters: <name>, <name>``: every invalid name of the call, each once."""
    seed(world)
    objects = [ssm("/app/gone-1"), ssm("/app/flag"), ssm("/app/gone-2", objectVersionLabel="x"), ssm("/app/gone-1", objectAlias="again")]
    async with world.gateway() as gw:
        with pytest.raises(MountFailure) as caught:
            await gw.mount(mount_request(objects, {"region": PRIMARY}, pod=world.irsa_pod()))
    lists = re.findall(r"invalid parameters: (.*?) \(GetParameters", caught.value.message)
    assert lists and all(sorted(found.split(", ")) == ["/app/gone-1", "/app/gone-2:x"] for found in lists), caught.value.message


async def test_combined_error_names_every_failing_object(world: AwsWorld) -> None:
    seed(world)
    names = [f"missing-{n}" for n in range(8)]
    objects = [sm("db", objectAlias="db"), *(sm(name) for name in names), ssm("/app/nope")]
    async with world.gateway() as gw:
        with pytest.raises(MountFailure) as caught:
            await gw.mount(mount_request(objects, {"region": PRIMARY}, pod=world.irsa_pod()))
    message = caught.value.message
    assert message.startswith("9 of 10 objects failed: ")
    for name in [*names, "/app/nope"]:
        assert f'"{name}"' in message
    assert '"db"' not in message and VALUE not in message


def envelope(request: RawMountRequest, tokens: str | None = None, **changes: str) -> RawMountRequest:
    """``request`` with fields replaced; ``tokens`` replaces the serviceAccount.tokens attribute."""
    if tokens is not None:
        changes["attributes"] = json.dumps({**json.loads(request.attributes), TOKENS: tokens})
    return replace(request, **changes)


ENVELOPE_CASES = [
    pytest.param({"target_path": ""}, "Missing mount path: target_path is empty", id="missing-mount-path"),
    pytest.param({"attributes": "{not json"}, "failed to unmarshal attributes: attributes is not valid JSON", id="attributes"),
    pytest.param({"permission": "0644"}, 'failed to unmarshal file permission: permission "0644" is not a JSON number', id="permission"),
    pytest.param({"permission": ""}, "failed to unmarshal file permission: permission is empty", id="permission-empty"),
    pytest.param(
        {"tokens": "{oops"},
        "failed to parse serviceAccount.tokens: csi.storage.k8s.io/serviceAccount.tokens is not valid JSON",
        id="service-account-tokens",
    ),
]


@pytest.mark.parametrize(("changes", "text"), ENVELOPE_CASES)
async def test_envelope_texts_reach_the_driver(world: AwsWorld, changes: dict[str, str], text: str) -> None:
    request = mount_request([sm("db")], {"region": PRIMARY}, pod=world.irsa_pod())
    async with world.gateway() as gw:
        with pytest.raises(MountFailure) as caught:
            await gw.mount(envelope(request, **changes))
    assert caught.value.code_name == "InvalidArgument"
    assert text in caught.value.message
