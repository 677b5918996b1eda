"""One SecretProviderClass mixing Vault and fake objects, mounted through the real socket."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.client import MountFailure
from gateway_vault.testing import VaultWorld as World

STORE = """
secrets:
  app/one: first value
  app/two: '{"json": true}'
"""
VAULT = {"objectName": "db-password", "objectType": "vault", "secretPath": "secret/app/db", "secretKey": "password"}
FAKE = [{"objectName": "app/one", "objectType": "fake"}, {"objectName": "app/two", "objectType": "fake", "objectAlias": "two.json"}]


@pytest.fixture
def store(tmp_path: Path) -> str:
    path = tmp_path / "store.yaml"
    path.write_text(STORE, encoding="utf-8")
    return str(path)


async def test_vault_and_fake_objects_in_one_mount(world: World, store: str) -> None:
    async with world.gateway(fake_store=store) as gw:
        result = await gw.mount(world.request([VAULT, *FAKE]))
    assert {f.path: f.contents for f in result.files} == {
        "db-password": world.values["db_v2"].encode(),
        "app_one": b"first value",
        "two.json": b'{"json": true}',
    }
    assert {f.path: f.version for f in result.files}["db-password"] == "2"


async def test_a_vault_failure_names_the_vault_object_only(world: World, store: str) -> None:
    missing = {**VAULT, "objectName": "gone", "secretPath": "secret/app/missing"}
    async with world.gateway(fake_store=store) as gw:
        with pytest.raises(MountFailure) as failure:
            await gw.mount(world.request([missing, *FAKE]))
    assert failure.value.code_name == "NotFound"
    assert failure.value.message.startswith(f'objects[0] "gone" (vault @ {world.proxy.address}): no secret at "secret/data/app/missing"')
