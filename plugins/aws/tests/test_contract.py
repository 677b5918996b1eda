"""Both AWS backends pass the backend contract every plugin must pass (against moto, via IRSA)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from gateway.model import MountRequest, PodIdentity, ServiceAccountToken, frozen_mapping
from gateway.testing.contract import BackendContract, BatchContext, Seeded
from gateway_aws.identity import IRSA_AUDIENCE
from gateway_aws.options import AwsOptions
from gateway_aws.runtime import AwsRuntime
from gateway_aws.secretsmanager import SecretsManagerBackend
from gateway_aws.ssm import SsmParameterBackend
from gateway_aws.testing import PRIMARY, AwsWorld, role_arn


def irsa_context(world: AwsWorld) -> BatchContext:
    world.kube.add_service_account("apps", "web", {"eks.amazonaws.com/role-arn": role_arn("web")})
    expires = datetime.now(UTC) + timedelta(hours=1)
    token = ServiceAccountToken(IRSA_AUDIENCE, "contract-token", expires)
    identity = PodIdentity("apps", "web-0", "uid-1", "web", frozen_mapping({IRSA_AUDIENCE: token}), True)  # type: ignore[arg-type]
    return BatchContext(location=PRIMARY, identity=identity, request=MountRequest(identity=identity))


def runtime(world: AwsWorld) -> AwsRuntime:
    return AwsRuntime(AwsOptions.from_settings(world.settings(), env={}))


class TestSecretsManagerContract(BackendContract):
    @pytest.fixture
    async def backend(self, world: AwsWorld) -> AsyncIterator[SecretsManagerBackend]:
        backend = SecretsManagerBackend(runtime(world))
        yield backend
        await backend.aclose()

    @pytest.fixture
    def seeded(self, world: AwsWorld) -> list[Seeded]:
        world.secret("app/one", "first value")
        world.secret("app/json", '{"json": true}')
        world.secret("app/binary", b"\x00\x01\x02\xff")
        return [Seeded("app/one", b"first value"), Seeded("app/json", b'{"json": true}'), Seeded("app/binary", b"\x00\x01\x02\xff")]

    @pytest.fixture
    def pinned(self, world: AwsWorld, seeded: list[Seeded]) -> Seeded:
        old = world.secret("app/versioned", "old")["VersionId"]
        world.rotate("app/versioned", "new")
        return Seeded("app/versioned", b"old", version=old)

    @pytest.fixture
    def missing_name(self) -> str:
        return "app/missing"

    @pytest.fixture
    def batch_context(self, world: AwsWorld) -> BatchContext:
        return irsa_context(world)


class TestSsmParameterContract(BackendContract):
    @pytest.fixture
    async def backend(self, world: AwsWorld) -> AsyncIterator[SsmParameterBackend]:
        backend = SsmParameterBackend(runtime(world))
        yield backend
        await backend.aclose()

    @pytest.fixture
    def seeded(self, world: AwsWorld) -> list[Seeded]:
        world.parameter("/app/one", "first value")
        world.parameter("/app/list", "a,b,c", kind="StringList")
        world.parameter("plain", "plain value", kind="String")
        return [Seeded("/app/one", b"first value"), Seeded("/app/list", b"a,b,c"), Seeded("plain", b"plain value")]

    @pytest.fixture
    def pinned(self, world: AwsWorld, seeded: list[Seeded]) -> Seeded:
        world.parameter("/app/versioned", "old")
        world.parameter("/app/versioned", "new")
        return Seeded("/app/versioned", b"old", version="1")

    @pytest.fixture
    def missing_name(self) -> str:
        return "/app/missing"

    @pytest.fixture
    def batch_context(self, world: AwsWorld) -> BatchContext:
        return irsa_context(world)
