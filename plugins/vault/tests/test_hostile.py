"""Hostile Vault addresses against the real OpenBao: another tenant's healthy Vault keeps working,
failover leaves a broken address behind, and operators can restrict the addresses tenants name.
(The per-behaviour cases are in tests/adversarial/test_hostile_vault.py.)"""

from __future__ import annotations

import asyncio

import pytest

from gateway.client import MountFailure
from gateway.testing.hostile import HostileServer
from gateway_vault.testing import VaultWorld as World

DB = {"objectName": "pw", "secretPath": "secret/app/db", "secretKey": "password"}
ATTACKS = 16  # one dribbling login per roleName, as many as --vault-max-parallel


async def test_a_dribbling_tenant_endpoint_cannot_starve_another_tenants_vault(world: World) -> None:
    with HostileServer("dribble-body") as hostile:
        async with world.gateway(vault_request_timeout="3", vault_retries="0") as gw:
            attacker = world.issuer.pod("attacker", "x")
            attacks = [
                asyncio.ensure_future(gw.mount(world.request([DB], attacker, vaultAddress=hostile.address, roleName=f"r{i}")))
                for i in range(ATTACKS)
            ]
            while hostile.accepted < 4:  # the attacker's whole share is held by the dribbler
                await asyncio.sleep(0.05)
            victim = await gw.mount(world.request([DB]))
            outcomes = await asyncio.gather(*attacks, return_exceptions=True)
    assert victim.files[0].contents == world.values["db_v2"].encode()
    assert all(isinstance(o, MountFailure) and o.code_name == "Unavailable" for o in outcomes)
    messages = {o.message.split(": ", 1)[1] for o in outcomes if isinstance(o, MountFailure)}
    assert any("no complete answer from Vault within 3s" in m for m in messages)
    assert any("too many Vault requests in flight for namespace 'attacker'" in m for m in messages)


@pytest.mark.parametrize("behaviour", ["dribble-head", "html", "huge-chunked", "truncated"])
async def test_failover_leaves_a_broken_address_behind(world: World, behaviour: str) -> None:
    with HostileServer(behaviour) as hostile:
        async with world.gateway(vault_request_timeout="1", vault_retries="0") as gw:
            result = await gw.mount(world.request([DB], vaultAddress=hostile.address, vaultFailoverAddress=world.proxy.address))
    assert result.files[0].contents == world.values["db_v2"].encode()


@pytest.mark.parametrize(
    ("allowed", "parameters", "refused"),
    [
        pytest.param("{proxy}", {}, "", id="listed"),
        pytest.param("http://*.example.com,{proxy}", {"vaultFailoverAddress": "http://vault.example.com"}, "", id="wildcard-failover"),
        pytest.param("https://vault.example.com", {}, "{proxy}", id="not-listed"),
        pytest.param("{proxy}", {"vaultFailoverAddress": "http://evil.example.org:8200"}, "http://evil.example.org:8200", id="failover-not-listed"),
    ],
)
async def test_allowed_addresses(world: World, allowed: str, parameters: dict[str, str], refused: str) -> None:
    proxy = world.proxy.address
    async with world.gateway(vault_allowed_addresses=allowed.format(proxy=proxy)) as gw:
        if not refused:
            assert (await gw.mount(world.request([DB], **parameters))).files[0].contents == world.values["db_v2"].encode()
            return
        with pytest.raises(MountFailure) as failure:
            await gw.mount(world.request([DB], **parameters))
    assert failure.value.code_name == "PermissionDenied"
    assert f'vault address "{refused.format(proxy=proxy)}" is not allowed on this node (--vault-allowed-addresses)' in failure.value.message
    assert world.proxy.logins() == 0
