"""End-to-end Parameter Store mounts over the real gRPC socket: names, versions, labels, ARNs, errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from gateway.testing import MountFailure, mount_request
from gateway_aws.testing import ACCOUNT, PRIMARY, AwsWorld

ARN = f"arn:aws:ssm:{PRIMARY}:{ACCOUNT}:parameter"


def seed(world: AwsWorld) -> None:
    world.parameter("/app/flags", "one")
    world.parameter("/app/flags", "two")
    world.client("ssm").label_parameter_version(Name="/app/flags", ParameterVersion=1, Labels=["stable"])
    world.parameter("/app/list", "a,b,c", kind="StringList")
    world.parameter("/app/json", '{"user": "svc", "n": 1}')
    world.parameter("plain", "plain value", kind="String")


@dataclass(frozen=True)
class Case:
    objects: list[dict[str, Any]]
    files: dict[str, tuple[bytes, str]]  # path -> (contents, version)
    parameters: dict[str, str] = field(default_factory=dict)


CASES = [
    pytest.param(Case([{"objectName": "/app/flags", "objectType": "ssmparameter"}], {"_app_flags": (b"two", "2")}), id="current"),
    pytest.param(
        Case([{"objectName": "/app/flags", "objectType": "ssmparameter", "objectVersion": "1"}], {"_app_flags": (b"one", "1")}),
        id="version",
    ),
    pytest.param(
        Case([{"objectName": "/app/flags", "objectType": "ssmparameter", "objectVersionLabel": "stable"}], {"_app_flags": (b"one", "1")}),
        id="label",
    ),
    pytest.param(
        Case([{"objectName": "/app/list", "objectType": "ssmparameter"}], {"_app_list": (b"a,b,c", "1")}), id="string-list-verbatim"
    ),
    pytest.param(
        Case([{"objectName": "plain", "objectType": "ssmparameter", "objectAlias": "p.txt"}], {"p.txt": (b"plain value", "1")}), id="alias"
    ),
    pytest.param(Case([{"objectName": f"{ARN}/app/flags", "objectAlias": "flags"}], {"flags": (b"two", "2")}), id="arn-without-type"),
    pytest.param(
        Case(
            [{"objectName": f"{ARN}/app/flags", "objectType": "ssmparameter", "objectVersion": "1", "objectAlias": "f"}],
            {"f": (b"one", "1")},
        ),
        id="arn-with-version",
    ),
    pytest.param(
        Case(
            [{"objectName": "/app/flags", "objectType": "ssmparameter"}],
            {"app/flags": (b"two", "2")},
            parameters={"pathTranslation": "false"},
        ),
        id="translation-off",
    ),
    pytest.param(
        Case(
            [
                {
                    "objectName": "/app/json",
                    "objectType": "ssmparameter",
                    "objectAlias": "j",
                    "jmesPath": [{"path": "user", "objectAlias": "user"}],
                }
            ],
            {"j": (b'{"user": "svc", "n": 1}', "1"), "user": (b"svc", "1")},
        ),
        id="jmespath",
    ),
    pytest.param(
        Case(
            [
                {"objectName": "/app/flags", "objectType": "ssmparameter", "objectAlias": "cur"},
                {"objectName": "/app/flags", "objectType": "ssmparameter", "objectVersion": "1", "objectAlias": "v1"},
                {"objectName": "/app/flags", "objectType": "ssmparameter", "objectVersionLabel": "stable", "objectAlias": "st"},
                {"objectName": f"{ARN}/app/flags", "objectAlias": "by-arn"},
            ],
            {"cur": (b"two", "2"), "v1": (b"one", "1"), "st": (b"one", "1"), "by-arn": (b"two", "2")},
        ),
        id="one-parameter-four-ways",
    ),
]


@pytest.mark.parametrize("case", CASES)
async def test_mount(world: AwsWorld, case: Case) -> None:
    seed(world)
    async with world.gateway() as gw:
        result = await gw.mount(mount_request(case.objects, {"region": PRIMARY, **case.parameters}, pod=world.irsa_pod()))
    assert {f.path: (f.contents, f.version) for f in result.files} == case.files


@pytest.mark.parametrize(
    ("objects", "code", "message"),
    [
        pytest.param(
            [{"objectName": "/app/missing", "objectType": "ssmparameter"}],
            "NotFound",
            f'objects[0] "/app/missing" (ssmparameter @ {PRIMARY}): Failed fetching parameters: invalid parameters: /app/missing (GetParameters',
            id="missing",
        ),
        pytest.param(
            [{"objectName": "/app/flags", "objectType": "ssmparameter", "objectVersion": "9"}],
            "NotFound",
            'invalid parameters: /app/flags:9 (GetParameters listed them in InvalidParameters',
            id="missing-version",
        ),
        pytest.param(
            [{"objectName": "/app/flags", "objectType": "ssmparameter", "objectVersionLabel": "gone"}],
            "NotFound",
            'invalid parameters: /app/flags:gone (GetParameters listed them in InvalidParameters',
            id="missing-label",
        ),
        pytest.param(
            [{"objectName": "/app/flags", "objectType": "ssmparameter", "objectVersion": "1", "objectVersionLabel": "stable"}],
            "InvalidArgument",
            'objects[0] "/app/flags": ssm parameters can not specify both objectVersion and objectVersionLabel: /app/flags',
            id="version-and-label",
        ),
        pytest.param(
            [
                {
                    "objectName": "/app/flags",
                    "objectType": "ssmparameter",
                    "objectVersion": "1",
                    "objectAlias": "x",
                    "failoverObject": {"objectName": "/other", "objectVersion": "1", "objectVersionLabel": "stable"},
                }
            ],
            "InvalidArgument",
            "ssm parameters can not specify both objectVersion and objectVersionLabel: /other",
            id="failover-version-and-label",
        ),
        pytest.param(
            [{"objectName": "/app/flags", "objectType": "SSMParameter"}],
            "InvalidArgument",
            "Invalid objectType: SSMParameter",
            id="type-is-case-sensitive",
        ),
    ],
)
async def test_mount_failure(world: AwsWorld, objects: list[dict[str, Any]], code: str, message: str) -> None:
    seed(world)
    async with world.gateway() as gw:
        with pytest.raises(MountFailure) as caught:
            await gw.mount(mount_request(objects, {"region": PRIMARY, "failoverRegion": "us-west-2"}, pod=world.irsa_pod()))
    assert caught.value.code_name == code
    assert message in caught.value.message


async def test_several_invalid_parameters_are_each_named(world: AwsWorld) -> None:
    seed(world)
    objects = [{"objectName": n, "objectType": "ssmparameter"} for n in ("/app/flags", "/nope/a", "/nope/b")]
    async with world.gateway() as gw:
        with pytest.raises(MountFailure) as caught:
            await gw.mount(mount_request(objects, {"region": PRIMARY}, pod=world.irsa_pod()))
    assert caught.value.message.startswith("2 of 3 objects failed")
    assert 'objects[1] "/nope/a"' in caught.value.message and 'objects[2] "/nope/b"' in caught.value.message
    assert "invalid parameters: /nope/a, /nope/b (" in caught.value.message
    assert world.proxy.count("GetParameters") == 1


async def test_denied_names_the_ssm_action(world: AwsWorld) -> None:
    seed(world)
    world.proxy.deny(operation="GetParameters")
    async with world.gateway() as gw:
        with pytest.raises(MountFailure) as caught:
            await gw.mount(
                mount_request([{"objectName": "plain", "objectType": "ssmparameter"}], {"region": PRIMARY}, pod=world.irsa_pod())
            )
    assert caught.value.code_name == "PermissionDenied"
    assert "GetParameters failed: AccessDeniedException" in caught.value.message and "ssm:GetParameters" in caught.value.message
