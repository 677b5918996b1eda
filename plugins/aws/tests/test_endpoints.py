"""Standard boto3 settings apply: per-service endpoint variables, FIPS, retry modes; the user agent names the gateway."""

from __future__ import annotations

import pytest

from gateway.metrics import Metrics
from gateway.settings import Settings
from gateway.testing import mount_request
from gateway_aws.options import AwsOptions
from gateway_aws.runtime import AwsRuntime
from gateway_aws.testing import PRIMARY, AwsWorld

OBJECTS = [{"objectName": "db", "objectType": "secretsmanager"}, {"objectName": "/p", "objectType": "ssmparameter"}]


async def test_service_specific_endpoint_variables(world: AwsWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    world.secret("db", "sm")
    world.parameter("/p", "ssm")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # would fail
    for service in ("SECRETS_MANAGER", "SSM", "STS"):
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", world.proxy.url)
    async with world.gateway() as gw:
        result = await gw.mount(mount_request(OBJECTS, {"region": PRIMARY}, pod=world.irsa_pod()))
    assert [f.contents for f in result.files] == [b"sm", b"ssm"]
    assert {c.operation for c in world.proxy.calls} == {"AssumeRoleWithWebIdentity", "BatchGetSecretValue", "GetParameters"}


async def test_user_agent_names_the_gateway(world: AwsWorld) -> None:
    world.secret("db", "sm")
    world.parameter("/p", "ssm")
    async with world.gateway() as gw:
        await gw.mount(mount_request(OBJECTS, {"region": PRIMARY}, pod=world.irsa_pod()))
    assert world.proxy.calls and all("secrets-gateway/" in c.user_agent for c in world.proxy.calls)


async def test_retries_then_success_are_counted(world: AwsWorld) -> None:
    world.secret("db", "sm")
    world.parameter("/p", "ssm")
    world.proxy.fail(operation="GetParameters", status=503, code="ServiceUnavailable", times=1)
    async with world.gateway(aws_max_attempts="2") as gw:
        result = await gw.mount(mount_request(OBJECTS, {"region": PRIMARY}, pod=world.irsa_pod()))
        retries = gw.metrics.retries.labels(backend="ssmparameter", operation="GetParameters")._value.get()
    assert [f.contents for f in result.files] == [b"sm", b"ssm"]
    assert world.proxy.count("GetParameters") == 2
    assert retries == 1


@pytest.mark.parametrize(
    ("options", "env", "endpoint"),
    [
        pytest.param({}, {}, "https://secretsmanager.eu-west-1.amazonaws.com", id="default"),
        pytest.param({"aws-use-fips-endpoint": "true"}, {}, "https://secretsmanager-fips.eu-west-1.amazonaws.com", id="fips-flag"),
        pytest.param({}, {"AWS_USE_FIPS_ENDPOINT": "true"}, "https://secretsmanager-fips.eu-west-1.amazonaws.com", id="fips-env"),
        pytest.param({}, {"AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://localstack:4566"}, "http://localstack:4566", id="service-env"),
    ],
)
async def test_client_configuration(monkeypatch: pytest.MonkeyPatch, options: dict[str, str], env: dict[str, str], endpoint: str) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    runtime = AwsRuntime(
        AwsOptions.from_settings(Settings(plugin_options={"aws-retry-mode": "adaptive", "aws-max-attempts": "5", **options}), env={}),
        Metrics(),
    )
    try:
        client = await runtime.clients.client("eu-west-1", "secretsmanager")
    finally:
        await runtime.aclose()
    assert client.meta.endpoint_url == endpoint
    assert client.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 5}
    assert "secrets-gateway/" in client.meta.config.user_agent_extra
