"""A tenant's ``vaultAddress`` pointing at a hostile or broken server is bounded.

Whatever the server does — dribble its head or body a byte at a time, announce or stream 400 MiB,
answer HTML, garbage, a truncated or non-object body, a redirect, or nothing — the mount gets a
retryable ``Unavailable`` naming the cause within the request deadline (so failover applies),
never NotFound or Internal; the gateway closes its connection (nothing keeps working for the
server unless its answer was complete) and still answers ``Version`` at once. Both the login and the read go through the same
bounded client; both are attacked.
"""

from __future__ import annotations

import pytest

import gateway_vault.plugin
from gateway.client import MountFailure
from gateway.settings import Settings
from gateway.testing import mount_request, running_gateway
from gateway.testing.hostile import HostileServer
from gateway_vault.testing import ServiceAccountIssuer

EXPECTED = {
    "dribble-head": "no complete answer from Vault within 1s",
    "dribble-body": "no complete answer from Vault within 1s",
    "silent": "no complete answer from Vault within 1s",
    "huge-announced": "Vault's answer is too large: the answer announces 419430400 bytes",
    "huge-chunked": "Vault's answer is too large",
    "huge-unframed": "Vault's answer is too large",
    "html": "the answer (HTTP 200, 43 bytes) is not Vault's JSON",
    "html-404": "the answer (HTTP 404, 43 bytes) is not Vault's JSON",
    "json-list": "the answer (HTTP 200, 7 bytes) is not Vault's JSON",
    "garbage": "not a usable answer from Vault: the answer is not HTTP",
    "truncated": "not a usable answer from Vault: the answer is truncated",
    "redirect": "Vault redirects to its active node",
}
COMPLETE = {"html", "html-404", "json-list", "redirect"}  # well-framed answers: the connection may stay pooled
OBJECTS = [{"objectName": "pw", "objectType": "vault", "secretPath": "secret/app/db", "secretKey": "password"}]


def settings(address: str, stage: str) -> Settings:
    options = {"vault-request-timeout": "1", "vault-retries": "0", "vault-max-response-bytes": "1048576"}
    if stage == "read":  # the dev token skips the login, so the read meets the server
        options |= {"vault-address": address, "vault-allow-token-auth": "true", "vault-token": "dev", "vault-auth-method": "token"}
    return Settings(plugin_options=options, mount_timeout=30.0)


@pytest.mark.parametrize("stage", ["login", "read"])
@pytest.mark.parametrize("behaviour", list(EXPECTED))
async def test_hostile_vault_endpoint_is_bounded(behaviour: str, stage: str) -> None:
    pod = ServiceAccountIssuer().pod("apps", "web")
    with HostileServer(behaviour) as server:
        async with running_gateway([("vault", gateway_vault.plugin)], settings=settings(server.address, stage)) as gw:
            with pytest.raises(MountFailure) as failure:
                await gw.mount(mount_request(OBJECTS, {"vaultAddress": server.address, "roleName": "app"}, pod=pod))
            version = await gw.client.version(timeout=5)
            if behaviour not in COMPLETE:
                assert server.wait_all_closed(), "the gateway kept working for the hostile server past the deadline"
    assert failure.value.code_name == "Unavailable"
    assert EXPECTED[behaviour] in failure.value.message
    assert f'objects[0] "pw" (vault @ {server.address})' in failure.value.message
    assert version.runtime_name
