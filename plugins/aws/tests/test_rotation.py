"""Rotation as the driver does it: v1.6 remounts without versions, v1.5 sends the current ones; always the full set."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from gateway.testing import mount_request
from gateway_aws.testing import PRIMARY, AwsWorld

Step = Callable[[AwsWorld, dict[str, str]], None]  # changes AWS; may record version ids by name


@dataclass(frozen=True)
class Sequence:
    objects: list[dict[str, Any]]
    setup: Step
    steps: list[tuple[Step, dict[str, tuple[bytes, str]]]]  # (change, expected path -> (contents, version or {id}))


def sm_setup(world: AwsWorld, ids: dict[str, str]) -> None:
    ids["v1"] = world.secret("db", "one")["VersionId"]
    ids["other"] = world.secret("other", "unchanged")["VersionId"]


def sm_rotate(value: str, key: str, stages: list[str] | None = None) -> Step:
    """A new version; ``stages=["AWSPENDING"]`` is how a rotation function starts."""

    def step(world: AwsWorld, ids: dict[str, str]) -> None:
        ids[key] = world.rotate("db", value, stages=stages)

    return step


def sm_move_stage(stage: str, to: str, frm: str) -> Step:
    def step(world: AwsWorld, ids: dict[str, str]) -> None:
        world.client("secretsmanager").update_secret_version_stage(
            SecretId="db", VersionStage=stage, MoveToVersionId=ids[to], RemoveFromVersionId=ids[frm]
        )

    return step


def sm_add_stage(stage: str, on: str) -> Step:
    def step(world: AwsWorld, ids: dict[str, str]) -> None:
        world.client("secretsmanager").update_secret_version_stage(SecretId="db", VersionStage=stage, MoveToVersionId=ids[on])

    return step


def sm_setup_with_stable(world: AwsWorld, ids: dict[str, str]) -> None:
    sm_setup(world, ids)
    sm_add_stage("stable", "v1")(world, ids)


def ssm_setup(world: AwsWorld, ids: dict[str, str]) -> None:
    world.parameter("/app/flag", "one")
    world.client("ssm").label_parameter_version(Name="/app/flag", ParameterVersion=1, Labels=["stable"])


def ssm_put(value: str) -> Step:
    def step(world: AwsWorld, ids: dict[str, str]) -> None:
        world.parameter("/app/flag", value)

    return step


def ssm_move_label(version: int) -> Step:
    def step(world: AwsWorld, ids: dict[str, str]) -> None:
        world.client("ssm").label_parameter_version(Name="/app/flag", ParameterVersion=version, Labels=["stable"])

    return step


def nothing(world: AwsWorld, ids: dict[str, str]) -> None:
    return None


SM = [{"objectName": "db", "objectType": "secretsmanager"}, {"objectName": "other", "objectType": "secretsmanager"}]
SEQUENCES = [
    pytest.param(
        Sequence(
            SM,
            sm_setup,
            [
                (nothing, {"db": (b"one", "{v1}"), "other": (b"unchanged", "{other}")}),
                (sm_rotate("two", "v2"), {"db": (b"two", "{v2}"), "other": (b"unchanged", "{other}")}),
                (sm_rotate("three", "v3"), {"db": (b"three", "{v3}"), "other": (b"unchanged", "{other}")}),
            ],
        ),
        id="sm-rotate",
    ),
    pytest.param(
        Sequence(
            [
                {"objectName": "db", "objectType": "secretsmanager", "objectAlias": "current"},
                {"objectName": "db", "objectType": "secretsmanager", "objectVersionLabel": "stable", "objectAlias": "stable"},
            ],
            sm_setup_with_stable,
            [
                (nothing, {"current": (b"one", "{v1}"), "stable": (b"one", "{v1}")}),
                (sm_rotate("two", "v2", stages=["AWSPENDING"]), {"current": (b"one", "{v1}"), "stable": (b"one", "{v1}")}),
                # (moto does not serve a moved AWSCURRENT as the default version, so only the custom stage moves here)
                (sm_move_stage("stable", "v2", "v1"), {"current": (b"one", "{v1}"), "stable": (b"two", "{v2}")}),
            ],
        ),
        id="sm-move-stage",
    ),
    pytest.param(
        Sequence(
            [{"objectName": "db", "objectType": "secretsmanager", "objectVersion": "{v1}"}],
            sm_setup,
            [
                (nothing, {"db": (b"one", "{v1}")}),
                (sm_rotate("two", "v2"), {"db": (b"one", "{v1}")}),
            ],
        ),
        id="sm-pin-version",
    ),
    pytest.param(
        Sequence(
            [{"objectName": "/app/flag", "objectType": "ssmparameter"}],
            ssm_setup,
            [
                (nothing, {"_app_flag": (b"one", "1")}),
                (ssm_put("two"), {"_app_flag": (b"two", "2")}),
            ],
        ),
        id="ssm-rotate",
    ),
    pytest.param(
        Sequence(
            [{"objectName": "/app/flag", "objectType": "ssmparameter", "objectVersionLabel": "stable"}],
            ssm_setup,
            [
                (nothing, {"_app_flag": (b"one", "1")}),
                (ssm_put("two"), {"_app_flag": (b"one", "1")}),
                (ssm_move_label(2), {"_app_flag": (b"two", "2")}),
            ],
        ),
        id="ssm-move-label",
    ),
    pytest.param(
        Sequence(
            [{"objectName": "/app/flag", "objectType": "ssmparameter", "objectVersion": "1"}],
            ssm_setup,
            [
                (nothing, {"_app_flag": (b"one", "1")}),
                (ssm_put("two"), {"_app_flag": (b"one", "1")}),
            ],
        ),
        id="ssm-pin-version",
    ),
]


def resolve(text: str, ids: dict[str, str]) -> str:
    for key, value in ids.items():
        text = text.replace("{" + key + "}", value)
    return text


@pytest.mark.parametrize("driver", ["v1.6", "v1.5"])
@pytest.mark.parametrize("sequence", SEQUENCES)
async def test_rotation(world: AwsWorld, sequence: Sequence, driver: str) -> None:
    ids: dict[str, str] = {}
    sequence.setup(world, ids)
    pod = world.irsa_pod()
    current: list[tuple[str, str]] = []
    async with world.gateway() as gw:
        for change, expected in sequence.steps:
            change(world, ids)
            objects = [{k: resolve(v, ids) if isinstance(v, str) else v for k, v in o.items()} for o in sequence.objects]
            request = mount_request(objects, {"region": PRIMARY}, pod=pod, current_versions=current if driver == "v1.5" else ())
            result = await gw.mount(request)
            assert {f.path: (f.contents, f.version) for f in result.files} == {
                path: (body, resolve(version, ids)) for path, (body, version) in expected.items()
            }
            assert result.object_versions, "the driver fails a mount without object versions"
            current = list(result.object_versions)
