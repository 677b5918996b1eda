"""The vault backend passes the backend contract, against the real OpenBao.

Objects in the contract carry no descriptor options, so ``objectName`` doubles as ``secretPath``
and, without ``secretKey``, each value is the secret's whole data map as JSON.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from gateway.model import MountRequest, PodIdentity, ServiceAccountToken, frozen_mapping
from gateway.testing.contract import BackendContract, BatchContext, Seeded
from gateway_vault.backend import VaultBackend
from gateway_vault.options import VaultConfig
from gateway_vault.testing import VaultWorld as World


def whole_map(data: dict[str, str]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


class TestVaultBackendContract(BackendContract):
    @pytest.fixture
    async def backend(self, world: World) -> AsyncIterator[VaultBackend]:
        backend = VaultBackend(VaultConfig(address=world.proxy.address))
        yield backend
        await backend.aclose()

    @pytest.fixture
    def seeded(self, world: World) -> list[Seeded]:
        return [
            Seeded("secret/app/db", whole_map({"username": "app", "password": world.values["db_v2"]})),
            Seeded("secret/data/app/p0", whole_map({f"k{k}": world.values[f"p0k{k}"] for k in range(4)})),
            Seeded("kv1/app/legacy", whole_map({"token": world.values["legacy"]})),
        ]

    @pytest.fixture
    def pinned(self, world: World) -> Seeded:
        return Seeded("secret/app/db", whole_map({"username": "app", "password": world.values["db_v1"]}), version="1")

    @pytest.fixture
    def missing_name(self) -> str:
        return "secret/app/missing"

    @pytest.fixture
    def batch_context(self, world: World) -> BatchContext:
        jwt = world.issuer.token("apps", "web")
        identity = PodIdentity(
            namespace="apps", pod_name="web-0", service_account="web",
            tokens=frozen_mapping({"vault": ServiceAccountToken("vault", jwt)}),  # type: ignore[dict-item]
            tokens_provided=True,
        )
        return BatchContext(location=world.proxy.address, identity=identity, request=MountRequest(attributes=frozen_mapping({"roleName": "app"})))
