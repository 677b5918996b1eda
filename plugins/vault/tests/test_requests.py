"""How many Vault requests a mount makes: one per distinct (path, method, args, version),
independent paths in parallel, POST-issued secrets once per mount, KV mounts looked up once."""

from __future__ import annotations

import asyncio

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from gateway.client import MountFailure
from gateway_vault.testing import VaultWorld as World

PATHS = 5
KEYS = 4


def spread_objects() -> list[dict[str, str]]:
    """20 objects over 5 paths, as in the benchmark."""
    return [
        {"objectName": f"p{path}-k{key}", "secretPath": f"secret/data/app/p{path}", "secretKey": f"k{key}"}
        for path in range(PATHS)
        for key in range(KEYS)
    ]


async def test_each_distinct_path_is_read_once_per_mount(world: World) -> None:
    async with world.gateway() as gw:
        result = await gw.mount(world.request(spread_objects()))
        assert {f.path: f.contents for f in result.files} == {
            f"p{p}-k{k}": world.values[f"p{p}k{k}"].encode() for p in range(PATHS) for k in range(KEYS)
        }
        assert world.proxy.count("/v1/secret/data/app/p") == PATHS
        world.proxy.reset()
        await gw.mount(world.request(spread_objects()))
    assert world.proxy.count("/v1/secret/data/app/p") == PATHS
    assert world.proxy.logins() == 0  # the token is cached
    assert world.proxy.count("/v1/sys/internal/ui/mounts") == 0  # the mount is known


async def test_independent_paths_are_read_concurrently(world: World) -> None:
    async with world.gateway(vault_max_parallel_per_namespace=str(PATHS)) as gw:
        await gw.mount(world.request(spread_objects()[:1]))  # warm token and mount caches
        world.proxy.reset()
        with world.proxy.gate("/v1/secret/data/app/p", parties=PATHS):
            await gw.mount(world.request(spread_objects()))
    assert world.proxy.max_in_flight >= PATHS


async def test_concurrent_mounts_with_one_pod_token_log_in_once(world: World) -> None:
    pods = [world.pod(), world.pod(), world.issuer.pod("apps", "web", name="web-1"), world.issuer.pod("apps", "web", name="web-2")]
    async with world.gateway() as gw:
        await asyncio.gather(*(gw.mount(world.request(spread_objects()[:1], pod)) for pod in pods + pods))
    assert world.proxy.logins() == 3  # one per pod token: a cached Vault token is bound to the JWT that logged in


async def test_kv_mounts_are_looked_up_once(world: World) -> None:
    cli_style = [{"objectName": f"p{p}", "secretPath": f"secret/app/p{p}", "secretKey": "k0"} for p in range(PATHS)]
    other_mounts = [
        {"objectName": "team", "secretPath": "team/kv/app", "secretKey": "team"},
        {"objectName": "legacy", "secretPath": "kv1/app/legacy", "secretKey": "token"},
    ]
    async with world.gateway() as gw:
        await gw.mount(world.request(cli_style + other_mounts))  # cold: concurrent paths of one mount share a lookup
        assert world.proxy.count("/v1/sys/internal/ui/mounts/") == 3
        await gw.mount(world.request(cli_style + other_mounts))
    assert world.proxy.count("/v1/sys/internal/ui/mounts/") == 3
    assert world.proxy.count("/v1/secret/data/app/p") == 2 * PATHS


ISSUE = {"secretPath": "pki/issue/app", "method": "POST", "secretArgs": '{"common_name": "web.example.com", "ttl": "1h"}'}


async def test_post_issued_secret_is_requested_once_and_its_parts_match(world: World) -> None:
    objects = [
        {"objectName": "tls.crt", **ISSUE, "secretKey": "certificate"},
        {"objectName": "tls.key", **ISSUE, "secretKey": "private_key"},
        {"objectName": "ca.crt", **ISSUE, "secretKey": "issuing_ca", "method": "PUT"},
        {"objectName": "other.crt", **ISSUE, "secretKey": "certificate", "secretArgs": "{common_name: api.example.com, ttl: 1h}"},
    ]
    async with world.gateway() as gw:
        result = await gw.mount(world.request(objects))
    files = {f.path: f.contents for f in result.files}
    assert world.proxy.count("/v1/pki/issue/app", method="POST") == 2  # one per distinct argument set
    certificate = x509.load_pem_x509_certificate(files["tls.crt"])
    key = serialization.load_pem_private_key(files["tls.key"], password=None)
    assert certificate.public_key().public_numbers() == key.public_key().public_numbers()  # type: ignore[union-attr]
    assert "web.example.com" in certificate.subject.rfc4514_string()
    assert "api.example.com" in x509.load_pem_x509_certificate(files["other.crt"]).subject.rfc4514_string()
    assert world.proxy.count("/v1/sys/internal/ui/mounts") == 0  # POST paths are used as written


async def test_post_issues_anew_on_every_mount(world: World) -> None:
    objects = [{"objectName": "tls.crt", **ISSUE, "secretKey": "certificate"}]
    async with world.gateway() as gw:
        first = (await gw.mount(world.request(objects))).files[0]
        second = (await gw.mount(world.request(objects))).files[0]
    assert first.contents != second.contents and first.version != second.version
    assert world.proxy.count("/v1/pki/issue/app") == 2


async def test_server_kv_version_skips_the_mount_lookup(world: World) -> None:
    cli_style = [{"objectName": "pw", "secretPath": "secret/app/db", "secretKey": "password"}]
    async with world.gateway(vault_kv_version="2") as gw:
        result = await gw.mount(world.request(cli_style))
    assert result.files[0].contents == world.values["db_v2"].encode()
    assert world.proxy.count("/v1/sys/internal/ui/mounts/") == 0


async def test_mount_cache_ttl_zero_looks_up_on_every_mount(world: World) -> None:
    cli_style = [{"objectName": "pw", "secretPath": "secret/app/db", "secretKey": "password"}]
    async with world.gateway(vault_mount_cache_ttl="0") as gw:
        for _ in range(2):
            await gw.mount(world.request(cli_style))
    assert world.proxy.count("/v1/sys/internal/ui/mounts/") == 2


@pytest.mark.parametrize("option", ["vault_max_parallel", "vault_max_parallel_per_namespace"])
async def test_max_parallel_bounds_requests_in_flight(world: World, option: str) -> None:
    async with world.gateway(**{option: "1"}) as gw:
        await gw.mount(world.request(spread_objects()))
    assert world.proxy.count("/v1/secret/data/app/p") == PATHS
    assert world.proxy.max_in_flight == 1


async def test_request_timeout_gives_a_retryable_error(world: World) -> None:
    # generous: the first login and read of a cold OpenBao must fit, only the held read may not
    async with world.gateway(vault_request_timeout="2", vault_retries="0") as gw:
        await gw.mount(world.request(spread_objects()[:1]))  # log in first
        with world.proxy.gate("/v1/secret/", parties=1000), pytest.raises(MountFailure) as failure:  # reads held until the block ends
            await gw.mount(world.request(spread_objects()[:1]))
    assert failure.value.code_name == "Unavailable"
    assert failure.value.message.endswith("no complete answer from Vault within 2s (--vault-request-timeout)")
