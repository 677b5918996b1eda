"""Vault with core features: native secretArgs mappings, the node-local cache, vault-csi-provider classes."""

from __future__ import annotations

from dataclasses import replace

import gateway_vault.plugin
from gateway.testing import mount_request, running_gateway
from gateway_vault.testing import VaultWorld as World

ISSUE = {"objectType": "vault", "secretPath": "pki/issue/app", "method": "POST", "secretKey": "certificate"}
KV = {"objectType": "vault", "secretPath": "secret/data/app/db", "secretKey": "password"}


async def test_secret_args_may_be_a_native_yaml_mapping(world: World) -> None:
    objects = [{"objectName": "tls.crt", **ISSUE, "secretArgs": {"common_name": "native.example.com", "ttl": "1h"}}]
    async with world.gateway() as gw:
        result = await gw.mount(world.request(objects))
    assert b"BEGIN CERTIFICATE" in result.files[0].contents
    assert world.proxy.count("/v1/pki/issue/app", method="POST") == 1


async def test_cache_serves_kv_reads_but_never_issued_certificates(world: World) -> None:
    objects = [
        {"objectName": "tls.crt", **ISSUE, "secretArgs": {"common_name": "web.example.com", "ttl": "1h"}},
        {"objectName": "pw", **KV},
    ]
    settings = replace(world.settings(), cache_ttl=60)
    async with running_gateway([("vault", gateway_vault.plugin)], settings=settings) as gw:
        first = await gw.mount(world.request(objects))
        second = await gw.mount(world.request(objects))
    certificates = [{f.path: f.contents for f in r.files}["tls.crt"] for r in (first, second)]
    assert certificates[0] != certificates[1]  # each pod gets its own certificate
    assert world.proxy.count("/v1/pki/issue/app") == 2
    assert world.proxy.count("/v1/secret/data/app/db") == 1  # the KV read came from the cache


async def test_a_vault_csi_provider_class_works_unchanged_with_a_default_object_type(world: World) -> None:
    objects = [{"objectName": "pw", "secretPath": "secret/data/app/db", "secretKey": "password"}]  # no objectType
    settings = replace(world.settings(), default_object_type="vault", provider_name="vault")
    parameters = {"vaultAddress": world.proxy.address, "roleName": "app"}
    async with running_gateway([("vault", gateway_vault.plugin)], settings=settings) as gw:
        result = await gw.mount(mount_request(objects, parameters, pod=world.pod()))
    assert result.files[0].contents == world.values["db_v2"].encode()
