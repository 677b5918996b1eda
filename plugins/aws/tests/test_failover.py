"""failoverRegion / failoverObject through the core's failover, with faults injected per region and calls counted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from gateway.testing import MountFailure, mount_request
from gateway_aws.testing import FAILOVER, PRIMARY, AwsWorld

BACKENDS = {"secretsmanager": "BatchGetSecretValue", "ssmparameter": "GetParameters"}
#: ASCP's headline when every region failed, per backend
HEADLINES = {
    "secretsmanager": "Failed to fetch secret from all regions. Verify secret exists and required permissions are granted for: db",
    "ssmparameter": "Failed to fetch parameters from all regions. Verify the parameter exists and required permissions are granted for: db",
}


@dataclass(frozen=True)
class Case:
    faults: list[dict[str, Any]] = field(default_factory=list)
    parameters: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    name: str = "db"
    value: bytes | None = b"primary-value"  # None: the mount fails
    code: str = ""
    message: tuple[str, ...] = ()
    calls: tuple[int, int] = (1, 0)  # fetch calls in (primary, failover)


CASES = [
    pytest.param(Case(), id="primary-ok-failover-untouched"),
    pytest.param(
        Case(faults=[{"region": PRIMARY, "status": 500, "code": "InternalServiceError"}], value=b"failover-value", calls=(1, 1)),
        id="primary-5xx",
    ),
    pytest.param(
        Case(faults=[{"region": PRIMARY, "status": 400, "code": "ThrottlingException"}], value=b"failover-value", calls=(1, 1)),
        id="primary-throttled",
    ),
    pytest.param(
        Case(faults=[{"region": PRIMARY, "latency": 1.5}], options={"aws-read-timeout": "0.3"}, value=b"failover-value", calls=(1, 1)),
        id="primary-timeout",
    ),
    pytest.param(
        Case(
            faults=[{"region": PRIMARY, "status": 500, "code": "InternalServiceError"}],
            options={"aws-max-attempts": "2"},
            value=b"failover-value",
            calls=(2, 1),
        ),
        id="primary-5xx-retried-then-failover",
    ),
    pytest.param(
        Case(
            faults=[{"region": PRIMARY, "status": 400, "code": "AccessDeniedException"}],
            value=None,
            code="PermissionDenied",
            message=(f"(BACKEND @ {PRIMARY})", "AccessDeniedException"),
        ),
        id="primary-4xx-no-failover",
    ),
    pytest.param(
        Case(name="only-in-failover", value=None, code="NotFound", message=(f'"only-in-failover" (BACKEND @ {PRIMARY})',)),
        id="primary-not-found-no-failover",
    ),
    pytest.param(
        Case(
            faults=[{"status": 500, "code": "InternalServiceError"}],
            value=None,
            code="Unavailable",
            calls=(1, 1),
            message=(
                "HEADLINE",
                f"{PRIMARY}: Unavailable:",
                f"{FAILOVER}: Unavailable:",
                "InternalServiceError",
            ),
        ),
        id="both-fail",
    ),
    pytest.param(Case(parameters={"failoverMode": "all"}, calls=(1, 1)), id="mode-all-uses-primary"),
    pytest.param(
        Case(
            parameters={"failoverMode": "all"},
            faults=[{"region": PRIMARY, "status": 503, "code": "ServiceUnavailable"}],
            value=b"failover-value",
            calls=(1, 1),
        ),
        id="mode-all-primary-5xx",
    ),
    pytest.param(
        Case(
            parameters={"failoverMode": "all"},
            faults=[{"region": FAILOVER, "status": 400, "code": "AccessDeniedException"}],
            value=None,
            code="PermissionDenied",
            calls=(1, 1),
            message=(f"(BACKEND @ {FAILOVER})", "AccessDeniedException"),
        ),
        id="mode-all-failover-4xx-after-primary-answered-fails",
    ),
    pytest.param(
        Case(parameters={"failoverMode": "all"}, faults=[{"region": FAILOVER, "status": 503, "code": "ServiceUnavailable"}], calls=(1, 1)),
        id="mode-all-failover-5xx-uses-primary",
    ),
    pytest.param(
        Case(
            parameters={"failoverMode": "all"},
            faults=[{"status": 400, "code": "AccessDeniedException"}],
            value=None,
            code="PermissionDenied",
            calls=(1, 1),
            message=("HEADLINE",),
        ),
        id="mode-all-every-region-4xx-headline",
    ),
]


def seed(world: AwsWorld, backend: str) -> None:
    for region, value in ((PRIMARY, "primary-value"), (FAILOVER, "failover-value")):
        if backend == "secretsmanager":
            world.secret("db", value, region)
        else:
            world.parameter("db", value, region)
    if backend == "secretsmanager":
        world.secret("only-in-failover", "x", FAILOVER)
    else:
        world.parameter("only-in-failover", "x", FAILOVER)


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("case", CASES)
async def test_failover(world: AwsWorld, backend: str, case: Case) -> None:
    seed(world, backend)
    for fault in case.faults:
        world.proxy.inject(service={"secretsmanager": "secretsmanager", "ssmparameter": "ssm"}[backend], **fault)
    parameters = {"region": PRIMARY, "failoverRegion": FAILOVER, **case.parameters}
    async with world.gateway(**{k.replace("-", "_"): v for k, v in case.options.items()}) as gw:
        request = mount_request(
            [{"objectName": case.name, "objectType": backend, "objectAlias": "value"}], parameters, pod=world.irsa_pod()
        )
        if case.value is None:
            with pytest.raises(MountFailure) as caught:
                await gw.mount(request)
            assert caught.value.code_name == case.code
            for fragment in case.message:
                assert fragment.replace("BACKEND", backend).replace("HEADLINE", HEADLINES[backend]) in caught.value.message
        else:
            result = await gw.mount(request)
            assert [(f.path, f.contents) for f in result.files] == [("value", case.value)]
    operation = BACKENDS[backend]
    assert (world.proxy.count(operation, PRIMARY), world.proxy.count(operation, FAILOVER)) == case.calls
    if case.calls[1] == 0:
        assert world.proxy.count(region=FAILOVER) == 0, "nothing at all may reach the failover region"


async def test_failover_object_is_fetched_by_its_own_name(world: AwsWorld) -> None:
    world.secret("db", "primary-value", PRIMARY)
    dr = world.secret("db-dr", "dr-value", FAILOVER)
    world.proxy.fail(region=PRIMARY)
    objects = [{"objectName": "db", "objectType": "secretsmanager", "objectAlias": "db", "failoverObject": {"objectName": dr["ARN"]}}]
    async with world.gateway() as gw:
        result = await gw.mount(mount_request(objects, {"region": PRIMARY, "failoverRegion": FAILOVER}, pod=world.irsa_pod()))
    assert [(f.path, f.contents, f.version) for f in result.files] == [("db", b"dr-value", dr["VersionId"])]
    assert world.proxy.calls[-1].names == (dr["ARN"],)


async def test_failover_object_arn_must_be_in_the_failover_region(world: AwsWorld) -> None:
    objects = [
        {
            "objectName": "db",
            "objectType": "secretsmanager",
            "objectAlias": "db",
            "failoverObject": {"objectName": f"arn:aws:secretsmanager:{PRIMARY}:123456789012:secret:db-AbCdEf"},
        }
    ]
    async with world.gateway() as gw:
        with pytest.raises(MountFailure) as caught:
            await gw.mount(mount_request(objects, {"region": PRIMARY, "failoverRegion": FAILOVER}, pod=world.irsa_pod()))
    assert f"ARN region must match region {FAILOVER}" in caught.value.message
