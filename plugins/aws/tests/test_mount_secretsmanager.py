"""End-to-end Secrets Manager mounts over the real gRPC socket: ASCP's fields, files, modes and versions."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from gateway.testing import MountFailure, mount_request
from gateway_aws.testing import ACCOUNT, PRIMARY, AwsWorld

DB = '{"username": "app", "api-key": "k-123", "port": 5432, "nested": {"host": "db.internal"}}'


@dataclass(frozen=True)
class Case:
    objects: list[dict[str, Any]]
    files: dict[str, bytes]  # path -> contents
    parameters: dict[str, str] = field(default_factory=dict)
    modes: dict[str, int] = field(default_factory=dict)  # path -> mode (default 0o644)
    versions: Callable[[dict[str, dict[str, str]]], dict[str, str]] | None = None  # seeded -> path -> version


def seed(world: AwsWorld) -> dict[str, dict[str, str]]:
    seeded = {
        "prod/db": world.secret("prod/db", DB),
        "plain": world.secret("plain", "hello world"),
        "cert": world.secret("cert", b"\x00\x01binary\xff"),
        "/app/cfg": world.secret("/app/cfg", "cfg-value"),
        "rotating": world.secret("rotating", "v1"),
    }
    seeded["rotating-v2"] = {"VersionId": world.rotate("rotating", "v2")}
    return seeded


CASES = [
    pytest.param(
        Case(
            [{"objectName": "plain", "objectType": "secretsmanager"}],
            {"plain": b"hello world"},
            versions=lambda s: {"plain": s["plain"]["VersionId"]},
        ),
        id="name",
    ),
    pytest.param(
        Case([{"objectName": "plain", "objectType": "secretsmanager", "objectAlias": "greeting.txt"}], {"greeting.txt": b"hello world"}),
        id="alias",
    ),
    pytest.param(Case([{"objectName": "cert", "objectType": "secretsmanager"}], {"cert": b"\x00\x01binary\xff"}), id="binary"),
    pytest.param(Case([{"objectName": "/app/cfg", "objectType": "secretsmanager"}], {"_app_cfg": b"cfg-value"}), id="translation-default"),
    pytest.param(
        Case(
            [{"objectName": "/app/cfg", "objectType": "secretsmanager"}], {"app/cfg": b"cfg-value"}, parameters={"pathTranslation": "False"}
        ),
        id="translation-off",
    ),
    pytest.param(
        Case([{"objectName": "/app/cfg", "objectType": "secretsmanager"}], {"-app-cfg": b"cfg-value"}, parameters={"pathTranslation": "-"}),
        id="translation-char",
    ),
    pytest.param(
        Case(
            [{"objectName": "plain", "objectType": "secretsmanager", "filePermission": "0400"}],
            {"plain": b"hello world"},
            modes={"plain": 0o400},
        ),
        id="file-permission",
    ),
    pytest.param(
        Case(
            [{"objectName": "rotating", "objectType": "secretsmanager"}],
            {"rotating": b"v2"},
            versions=lambda s: {"rotating": s["rotating-v2"]["VersionId"]},
        ),
        id="current-version",
    ),
    pytest.param(
        Case(
            [{"objectName": "rotating", "objectType": "secretsmanager", "objectVersionLabel": "AWSPREVIOUS"}],
            {"rotating": b"v1"},
            versions=lambda s: {"rotating": s["rotating"]["VersionId"]},
        ),
        id="version-label",
    ),
    pytest.param(
        Case(
            [{"objectName": "rotating", "objectType": "secretsmanager", "objectVersion": "{v1}"}],
            {"rotating": b"v1"},
            versions=lambda s: {"rotating": s["rotating"]["VersionId"]},
        ),
        id="version-id",
    ),
    pytest.param(
        Case(
            [{"objectName": "rotating", "objectType": "secretsmanager", "objectVersion": "{v1}", "objectVersionLabel": "AWSPREVIOUS"}],
            {"rotating": b"v1"},
        ),
        id="version-id-and-label",
    ),
    pytest.param(Case([{"objectName": "{arn:plain}", "objectAlias": "by-arn"}], {"by-arn": b"hello world"}), id="arn-without-type"),
    pytest.param(
        Case(
            [{"objectName": "{arn:plain}", "objectType": "secretsmanager"}],
            {f"arn:aws:secretsmanager:{PRIMARY}:{ACCOUNT}:secret:plain-XXXXXX": b"hello world"},
        ),
        id="arn-file-name",
    ),
    pytest.param(
        Case(
            [{"objectName": f"arn:aws:secretsmanager:{PRIMARY}:{ACCOUNT}:secret:plain", "objectAlias": "partial"}],
            {"partial": b"hello world"},
        ),
        id="partial-arn",
    ),
    pytest.param(
        Case(
            [
                {
                    "objectName": "prod/db",
                    "objectType": "secretsmanager",
                    "objectAlias": "db.json",
                    "jmesPath": [
                        {"path": "username", "objectAlias": "db-user"},
                        {"path": '"api-key"', "objectAlias": "api-key", "filePermission": "0600"},
                        {"path": "nested.host", "objectAlias": "host"},
                    ],
                }
            ],
            {"db.json": DB.encode(), "db-user": b"app", "api-key": b"k-123", "host": b"db.internal"},
            modes={"api-key": 0o600},
            versions=lambda s: {p: s["prod/db"]["VersionId"] for p in ("db.json", "db-user", "api-key", "host")},
        ),
        id="jmespath",
    ),
    pytest.param(
        Case(
            [{"objectName": n, "objectType": "secretsmanager"} for n in ("plain", "cert", "prod/db")]
            + [{"objectName": "rotating", "objectType": "secretsmanager", "objectVersionLabel": "AWSPREVIOUS", "objectAlias": "old"}],
            {"plain": b"hello world", "cert": b"\x00\x01binary\xff", "prod_db": DB.encode(), "old": b"v1"},
        ),
        id="mixed-batch-and-pinned",
    ),
    pytest.param(
        Case(
            [
                {"objectName": "plain", "objectType": "secretsmanager"},
                {"objectName": "plain", "objectType": "secretsmanager", "objectAlias": "again"},
            ],
            {"plain": b"hello world", "again": b"hello world"},
        ),
        id="same-secret-twice",
    ),
]


def substitute(objects: list[dict[str, Any]], seeded: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    text = json.dumps(objects).replace("{v1}", seeded["rotating"]["VersionId"])
    for name, values in seeded.items():
        if "ARN" in values:
            text = text.replace("{arn:" + name + "}", values["ARN"])
    return json.loads(text)


@pytest.mark.parametrize("case", CASES)
async def test_mount(world: AwsWorld, case: Case) -> None:
    seeded = seed(world)
    pod = world.irsa_pod()
    async with world.gateway() as gw:
        result = await gw.mount(mount_request(substitute(case.objects, seeded), {"region": PRIMARY, **case.parameters}, pod=pod))
    files = {f.path: f for f in result.files}
    expected = {path.replace("plain-XXXXXX", seeded["plain"]["ARN"].rsplit(":", 1)[1]): body for path, body in case.files.items()}
    assert {p: f.contents for p, f in files.items()} == expected
    for path, file in files.items():
        assert file.mode == case.modes.get(path, 0o644), path
    if case.versions is not None:
        assert {p: f.version for p, f in files.items()} == case.versions(seeded)


@dataclass(frozen=True)
class Failure:
    objects: list[dict[str, Any]]
    code: str
    message: str
    parameters: dict[str, str] = field(default_factory=dict)


FAILURES = [
    pytest.param(
        Failure(
            [{"objectName": "missing", "objectType": "secretsmanager"}],
            "NotFound",
            f'objects[0] "missing" (secretsmanager @ {PRIMARY}): Failed fetching secret missing: BatchGetSecretValue failed: ResourceNotFoundException',
        ),
        id="not-found",
    ),
    pytest.param(
        Failure(
            [{"objectName": "plain", "objectType": "secretsmanager", "objectVersionLabel": "NOPE"}],
            "NotFound",
            "GetSecretValue failed: ResourceNotFoundException",
        ),
        id="unknown-label",
    ),
    pytest.param(
        Failure(
            [{"objectName": "plain", "objectType": "secretsmanager", "objectVersion": "0" * 32}],
            "NotFound",
            "GetSecretValue failed: ResourceNotFoundException",
        ),
        id="unknown-version",
    ),
    pytest.param(
        Failure(
            [{"objectName": "plain", "objectType": "secretsmanager", "objectVersion": "v1"}],
            "InvalidArgument",
            "GetSecretValue: request refused before sending",
        ),
        id="malformed-version",
    ),
    pytest.param(
        Failure(
            [{"objectName": "plain", "objectType": "secretsmanager", "jmesPath": [{"path": "a", "objectAlias": "b"}]}],
            "InvalidArgument",
            "Invalid JSON used with jmesPath in secret: plain.",
        ),
        id="jmes-not-json",
    ),
    pytest.param(
        Failure(
            [{"objectName": "prod/db", "objectType": "secretsmanager", "jmesPath": [{"path": "nope", "objectAlias": "b"}]}],
            "InvalidArgument",
            "JMES Path - nope for object alias - b does not point to a valid object.",
        ),
        id="jmes-missing",
    ),
    pytest.param(
        Failure(
            [{"objectName": "prod/db", "objectType": "secretsmanager", "jmesPath": [{"path": "port", "objectAlias": "b"}]}],
            "InvalidArgument",
            "Invalid JMES search result type for path:port. Only string is allowed.",
        ),
        id="jmes-not-string",
    ),
    pytest.param(
        Failure(
            [{"objectName": "prod/db", "objectType": "secretsmanager", "jmesPath": [{"path": "[[", "objectAlias": "b"}]}],
            "InvalidArgument",
            "Invalid JMES Path: [[.",
        ),
        id="jmes-invalid",
    ),
    pytest.param(
        Failure(
            [{"objectName": "prod/db", "objectType": "secretsmanager", "jmesPath": [{"objectAlias": "b"}]}],
            "InvalidArgument",
            "Path must be specified for JMES object",
        ),
        id="jmes-no-path",
    ),
    pytest.param(
        Failure(
            [{"objectName": f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:plain-AbCdEf"}],
            "InvalidArgument",
            f"ARN region must match region {PRIMARY}",
        ),
        id="arn-region",
    ),
    pytest.param(
        Failure(
            [{"objectName": f"arn:aws:ssm:{PRIMARY}:{ACCOUNT}:parameter/x", "objectType": "secretsmanager"}],
            "InvalidArgument",
            "objectType does not match ARN",
        ),
        id="arn-type-mismatch",
    ),
    pytest.param(
        Failure([{"objectName": "plain"}], "InvalidArgument", "Must use objectType when a full ARN is not specified: plain"), id="no-type"
    ),
    pytest.param(
        Failure(
            [{"objectName": "plain", "objectType": "secretsmanager", "filePermission": "384"}],
            "InvalidArgument",
            "Invalid File Permission: 384",
        ),
        id="file-permission",
    ),
    pytest.param(
        Failure(
            [{"objectName": "plain", "objectType": "secretsmanager", "objectAlias": "x", "failoverObject": {"objectName": "plain"}}],
            "InvalidArgument",
            "failover object allowed only when failover region is defined: plain",
        ),
        id="failover-object-without-region",
    ),
    pytest.param(
        Failure(
            [{"objectName": "plain", "objectType": "secretsmanager"}],
            "InvalidArgument",
            f"{PRIMARY}: failover region cannot be the same as the primary region",
            parameters={"failoverRegion": PRIMARY},
        ),
        id="failover-same-region",
    ),
]


@pytest.mark.parametrize("case", FAILURES)
async def test_mount_failure(world: AwsWorld, case: Failure) -> None:
    seed(world)
    async with world.gateway() as gw:
        with pytest.raises(MountFailure) as caught:
            await gw.mount(mount_request(case.objects, {"region": PRIMARY, **case.parameters}, pod=world.irsa_pod()))
    assert caught.value.code_name == case.code
    assert case.message in caught.value.message


async def test_denied_secret_fails_alone_with_the_missing_iam_action(world: AwsWorld) -> None:
    """Per-secret denial: the batch is refused, the others come through GetSecretValue, the message names the action."""
    seed(world)
    world.proxy.deny(name="prod/db")
    objects = [{"objectName": n, "objectType": "secretsmanager"} for n in ("plain", "prod/db")]
    async with world.gateway() as gw:
        with pytest.raises(MountFailure) as caught:
            await gw.mount(mount_request(objects, {"region": PRIMARY}, pod=world.irsa_pod()))
    assert caught.value.code_name == "PermissionDenied"
    assert caught.value.message.startswith("Failed to fetch secret from all regions. Verify secret exists and required permissions are granted for: prod/db")
    assert f'objects[1] "prod/db" (secretsmanager @ {PRIMARY}): Failed fetching secret prod/db: GetSecretValue failed: AccessDeniedException' in caught.value.message
    assert "secretsmanager:GetSecretValue" in caught.value.message
    assert world.proxy.count("GetSecretValue", PRIMARY) == 2
