"""Failures as users read them (403/404/sealed/standby/5xx/unreachable/bad input), retries with
backoff, failover to ``vaultFailoverAddress``, and no secret or token in any message or log."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from gateway.client import MountFailure
from gateway_vault.testing import CountingProxy, OpenBao
from gateway_vault.testing import VaultWorld as World
from gateway_vault.testing.openbao import free_port

DB = {"objectName": "pw", "secretPath": "secret/app/db", "secretKey": "password"}
TOKEN_PATTERN = re.compile(r"\b(?:hvs|hvb|s|b)\.[A-Za-z0-9]{20,}")
JWT_PATTERN = re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.")


@dataclass
class Peers:
    """Addresses besides the healthy proxy: a real sealed OpenBao, a closed port, a faulty proxy."""

    sealed: str
    unreachable: str
    faulty: CountingProxy


@pytest.fixture(scope="module")
def sealed_address() -> Iterator[str]:
    with OpenBao() as bao:
        bao.seal()
        yield bao.address


@pytest.fixture
def peers(world: World, sealed_address: str) -> Iterator[Peers]:
    with CountingProxy(world.bao.address) as faulty:
        yield Peers(sealed_address, f"http://127.0.0.1:{free_port()}", faulty)


@dataclass(frozen=True)
class ErrorCase:
    id: str
    code: str
    message: str  # the whole cause after the core's "objects[i] ... (vault @ address): " prefix, or a part
    objects: list[dict[str, Any]] = field(default_factory=lambda: [DB])
    parameters: dict[str, str] = field(default_factory=dict)
    address: Callable[[World, Peers], str] = lambda world, peers: world.proxy.address
    fault: tuple[int, str] | None = None  # injected by the faulty proxy on every request
    planned: bool = False  # refused while planning: before any request to Vault


ERROR_CASES = [
    ErrorCase(
        "forbidden-path", "PermissionDenied",
        'permission denied (HTTP 403) for role "app" (auth/kubernetes) on "secret/data/other/x"',
        objects=[{"objectName": "v", "secretPath": "secret/other/x", "secretKey": "v"}],
    ),
    ErrorCase("missing-path", "NotFound", 'no secret at "secret/data/app/missing" (HTTP 404)', objects=[{"objectName": "m", "secretPath": "secret/app/missing"}]),
    ErrorCase("missing-version", "NotFound", 'no secret at "secret/data/app/db" version 99 (HTTP 404)', objects=[{**DB, "objectVersion": "99"}]),
    ErrorCase(
        "deleted-version", "NotFound", 'no secret at "secret/data/app/deleted" version 1 (HTTP 404): that version is deleted',
        objects=[{"objectName": "d", "secretPath": "secret/app/deleted", "objectVersion": "1"}],
    ),
    ErrorCase("missing-key", "NotFound", 'key "nope" does not exist at "secret/data/app/db"', objects=[{**DB, "secretKey": "nope"}]),
    ErrorCase(
        "version-on-kv1", "InvalidArgument", 'objectVersion 1 needs a KV v2 secret, but "kv1/app/legacy" is on the KV v1 mount "kv1/"',
        objects=[{"objectName": "l", "secretPath": "kv1/app/legacy", "objectVersion": "1"}],
    ),
    ErrorCase("bad-method", "InvalidArgument", 'method "DELETE" is not supported', objects=[{**DB, "method": "DELETE"}], planned=True),
    ErrorCase("secret-args-not-a-map", "InvalidArgument", "secretArgs must be a mapping", objects=[{**DB, "secretArgs": "[1, 2]"}], planned=True),
    ErrorCase("bad-object-version", "InvalidArgument", 'objectVersion "abc" is not a KV v2 version number', objects=[{**DB, "objectVersion": "abc"}], planned=True),
    ErrorCase("version-label", "InvalidArgument", "objectVersionLabel is not supported by Vault", objects=[{**DB, "objectVersionLabel": "x"}], planned=True),
    ErrorCase("bad-kv-version", "InvalidArgument", 'kvVersion "3" must be auto, 1 or 2', objects=[{**DB, "kvVersion": "3"}], planned=True),
    ErrorCase("unclean-path", "InvalidArgument", "is not a clean Vault path", objects=[{**DB, "secretPath": "secret/../sys/x"}], planned=True),
    ErrorCase("bad-address", "InvalidArgument", 'vault: vault address "ftp://x" must be http(s)://host[:port]', address=lambda w, p: "ftp://x", planned=True),
    ErrorCase("bad-skip-tls-verify", "InvalidArgument", 'vaultSkipTLSVerify must be "true" or "false", got "maybe"', parameters={"vaultSkipTLSVerify": "maybe"}, planned=True),
    ErrorCase("missing-ca-file", "InvalidArgument", 'vaultCACertPath "/nope/ca.pem" is not a readable file', parameters={"vaultCACertPath": "/nope/ca.pem"}, planned=True),
    ErrorCase("sealed", "Unavailable", "Vault is sealed (HTTP 503)", address=lambda w, p: p.sealed),
    ErrorCase("unreachable", "Unavailable", "cannot reach Vault: connection refused", address=lambda w, p: p.unreachable),
    ErrorCase(
        "standby", "Unavailable", "Vault node is a standby without an active leader (HTTP 500)",
        address=lambda w, p: p.faulty.address, fault=(500, "local node not active but active cluster node not found"),
    ),
    ErrorCase("bad-gateway", "Unavailable", "Vault answered HTTP 502: upstream down", address=lambda w, p: p.faulty.address, fault=(502, "upstream down")),
    ErrorCase("throttled", "Unavailable", "Vault is throttling requests (HTTP 429)", address=lambda w, p: p.faulty.address, fault=(429, "rate limited")),
]


@pytest.mark.parametrize("case", ERROR_CASES, ids=[c.id for c in ERROR_CASES])
async def test_error_message(world: World, peers: Peers, case: ErrorCase) -> None:
    if case.fault:
        peers.faulty.fail("/v1/", case.fault[0], case.fault[1])
    address = case.address(world, peers)
    async with world.gateway() as gw:
        with pytest.raises(MountFailure) as failure:
            await gw.mount(world.request(case.objects, vaultAddress=address, **case.parameters))
    assert failure.value.code_name == case.code
    assert case.message in failure.value.message
    if case.planned:
        assert world.proxy.count() == 0
    else:
        assert failure.value.message.startswith(f'objects[0] "{case.objects[0]["objectName"]}" (vault @ {address}): ')


async def test_retryable_failures_are_retried_with_backoff_then_reported(world: World, peers: Peers) -> None:
    peers.faulty.fail("/v1/", 503, "Vault is sealed")
    async with world.gateway(vault_retries="3") as gw:
        with pytest.raises(MountFailure):
            await gw.mount(world.request([DB], vaultAddress=peers.faulty.address))
        assert peers.faulty.logins() == 4
        retried = gw.metrics.registry.get_sample_value("secrets_gateway_retries_total", {"backend": "vault", "operation": "login"})
        assert retried == 3


async def test_non_retryable_failures_are_not_retried(world: World) -> None:
    async with world.gateway() as gw:
        with pytest.raises(MountFailure):
            await gw.mount(world.request([{**DB, "secretPath": "secret/app/missing"}]))
    assert world.proxy.count("/v1/secret/data/app/missing") == 1


@dataclass(frozen=True)
class FailoverCase:
    id: str
    primary: Callable[[World, Peers], str]
    fault: tuple[int, str] | None = None


FAILOVER_CASES = [
    FailoverCase("sealed-primary", lambda w, p: p.sealed),
    FailoverCase("unreachable-primary", lambda w, p: p.unreachable),
    FailoverCase("5xx-primary", lambda w, p: p.faulty.address, fault=(500, "internal error")),
]


@pytest.mark.parametrize("case", FAILOVER_CASES, ids=[c.id for c in FAILOVER_CASES])
async def test_failover_address(world: World, peers: Peers, case: FailoverCase) -> None:
    if case.fault:
        peers.faulty.fail("/v1/", *case.fault)
    async with world.gateway() as gw:
        result = await gw.mount(world.request([DB], vaultAddress=case.primary(world, peers), vaultFailoverAddress=world.proxy.address))
        assert gw.metrics.registry.get_sample_value("secrets_gateway_failovers_total", {"backend": "vault"}) == 1
    assert result.files[0].contents == world.values["db_v2"].encode()
    assert world.proxy.logins() == 1
    if case.fault:
        assert peers.faulty.logins() == 3  # the first try and two retries (--vault-retries=2)


async def test_failover_list_is_tried_in_order_until_one_answers(world: World, peers: Peers) -> None:
    async with world.gateway() as gw:
        result = await gw.mount(world.request([DB], vaultAddress=peers.sealed, vaultFailoverAddress=f"{peers.unreachable},{world.proxy.address}"))
    assert result.files[0].contents == world.values["db_v2"].encode()


async def test_denied_at_primary_does_not_fail_over(world: World, peers: Peers) -> None:
    forbidden = {"objectName": "v", "secretPath": "secret/other/x", "secretKey": "v"}
    async with world.gateway() as gw:
        with pytest.raises(MountFailure) as failure:
            await gw.mount(world.request([forbidden], vaultFailoverAddress=peers.faulty.address))
    assert failure.value.code_name == "PermissionDenied"
    assert peers.faulty.count() == 0


async def test_every_address_failing_names_each_cause(world: World, peers: Peers) -> None:
    async with world.gateway() as gw:
        with pytest.raises(MountFailure) as failure:
            await gw.mount(world.request([DB], vaultAddress=peers.sealed, vaultFailoverAddress=peers.unreachable))
    message = failure.value.message
    assert failure.value.code_name == "Unavailable"
    assert f"{peers.sealed}: Unavailable: Vault is sealed (HTTP 503)" in message
    assert f"{peers.unreachable}: Unavailable: cannot reach Vault: connection refused" in message


async def test_no_secret_or_token_in_any_message_or_log(world: World, peers: Peers, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    peers.faulty.fail("/v1/secret/", 500, "boom")
    pod = world.pod(audiences=("vault", "api"))
    jwts = [token for token in pod.tokens.values()]
    every_secret = [{"objectName": f"f{i}", "secretPath": "secret/app/db", "secretKey": key} for i, key in enumerate(["password", "username"])]
    attempts: list[tuple[list[dict[str, Any]], dict[str, str]]] = [
        (every_secret, {"audience": "vault"}),
        ([{**DB, "secretKey": "nope"}], {"audience": "vault"}),
        ([{**DB, "objectVersion": "99"}], {"audience": "vault"}),
        ([{"objectName": "v", "secretPath": "secret/other/x"}], {"audience": "vault"}),
        ([DB], {"audience": "api"}),
        ([DB], {"audience": "vault", "vaultAddress": peers.faulty.address}),
        ([DB], {"audience": "vault", "vaultAddress": peers.sealed}),
        ([DB], {"roleName": "nope", "audience": "vault"}),
        ([{"objectName": "legacy", "secretPath": "kv1/app/legacy", "secretKey": "nope"}], {"audience": "vault"}),
    ]
    messages = []
    async with world.gateway() as gw:
        for objects, parameters in attempts:
            try:
                result = await gw.mount(world.request(objects, pod, **parameters))
                messages += [f"{f.path} {f.version}" for f in result.files]
            except MountFailure as exc:
                messages.append(exc.message)
    text = "\n".join(messages) + "\n" + caplog.text
    assert len(messages) == len(attempts) + 1
    for secret in [*world.secret_strings, *jwts]:
        assert secret not in text
    assert not TOKEN_PATTERN.search(text)
    assert not JWT_PATTERN.search(text)


async def test_failover_object_names_the_path_at_failover_addresses(world: World, peers: Peers) -> None:
    obj = {"objectName": "secret/app/absent", "objectAlias": "db.json", "failoverObject": {"objectName": "secret/app/db"}}
    async with world.gateway() as gw:
        result = await gw.mount(world.request([obj], vaultAddress=peers.sealed, vaultFailoverAddress=world.proxy.address))
    assert result.files[0].path == "db.json"
    assert world.values["db_v2"].encode() in result.files[0].contents
    assert world.proxy.count("/v1/secret/data/app/db") == 1
