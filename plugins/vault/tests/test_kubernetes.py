"""What the vault plugin asks the Kubernetes API (the fake one, over HTTP): the HMAC key Secret that
keeps object versions stable across restarts, and TokenRequests when the driver sends no token."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

import gateway_vault.plugin
from gateway.client import MountFailure
from gateway.testing import running_gateway
from gateway.testing.kube import FakeKubernetes
from gateway_vault.testing import VaultWorld as World

HMAC = {"vault_hmac_secret_name": "vault-csi-provider-hmac-key", "vault_hmac_secret_namespace": "csi"}
KV1 = [{"objectName": "legacy", "secretPath": "kv1/app/legacy", "secretKey": "token"}]
SECRET_PATH = "/api/v1/namespaces/csi/secrets"
TOKEN_PATH = "/api/v1/namespaces/apps/serviceaccounts/web/token"


@pytest.fixture
def kube(world: World, tmp_path: Path) -> Iterator[tuple[FakeKubernetes, str]]:
    """The world's fake API server and a kubeconfig for it; objects and faults added here are removed after."""
    fake = world.kube
    with fake._lock:
        fake.requests.clear()
    yield fake, str(fake.write_kubeconfig(tmp_path / "kubeconfig"))
    with fake._lock:
        fake.secrets.clear()
        fake.faults.clear()
        fake.token_requests.clear()
        fake.service_accounts.clear()
        fake.pods.clear()
    fake.token_requester = None


# --------------------------------------------------------------------------- stable versions


async def test_versions_survive_a_restart_and_the_key_is_created_once(world: World, kube: tuple[FakeKubernetes, str]) -> None:
    fake, kubeconfig = kube
    versions = []
    for _ in range(2):  # two provider processes, one after the other
        async with world.gateway(provider_name="vault", vault_kubeconfig=kubeconfig, **HMAC) as gw:
            versions.append((await gw.mount(world.request(KV1))).files[0].version)
    assert versions[0] == versions[1]
    assert fake.count(SECRET_PATH, method="POST") == 1
    stored = fake.secrets[("csi", "vault-csi-provider-hmac-key")]
    assert stored["immutable"] is True and len(base64.b64decode(stored["data"]["key"])) == 32


async def test_concurrent_providers_agree_on_one_key(world: World, kube: tuple[FakeKubernetes, str]) -> None:
    _, kubeconfig = kube
    async with world.gateway(vault_kubeconfig=kubeconfig, **HMAC) as one, world.gateway(vault_kubeconfig=kubeconfig, **HMAC) as two:
        first, second = await asyncio.gather(one.mount(world.request(KV1)), two.mount(world.request(KV1)))
    assert first.files[0].version == second.files[0].version


async def test_without_a_secret_name_versions_change_on_restart(world: World, kube: tuple[FakeKubernetes, str]) -> None:
    fake, _ = kube
    versions = []
    for _ in range(2):
        async with world.gateway() as gw:
            versions.append((await gw.mount(world.request(KV1))).files[0].version)
    assert versions[0] != versions[1]
    assert fake.count("/secrets") == 0


@pytest.mark.parametrize(
    ("setup", "logged"),
    [
        pytest.param("forbidden", "HTTP 403", id="no-rbac"),
        pytest.param("broken", 'has no usable "key"; delete it', id="secret-without-key"),
    ],
)
async def test_an_unusable_key_never_fails_a_mount(
    world: World, kube: tuple[FakeKubernetes, str], setup: str, logged: str, caplog: pytest.LogCaptureFixture
) -> None:
    fake, kubeconfig = kube
    if setup == "forbidden":
        fake.inject("/api/v1/namespaces/csi/secrets", status=403)
    else:
        fake.secrets[("csi", "vault-csi-provider-hmac-key")] = {"metadata": {"name": "vault-csi-provider-hmac-key"}, "data": {"other": "eA=="}}
    with caplog.at_level(logging.WARNING, logger="gateway_vault"):
        async with world.gateway(vault_kubeconfig=kubeconfig, **HMAC) as gw:
            for _ in range(3):
                result = await gw.mount(world.request(KV1))
    assert result.files[0].contents == world.values["legacy"].encode() and result.files[0].version
    assert sum(logged in record.getMessage() for record in caplog.records) == 1  # retried after a pause, not on every mount
    assert fake.count(SECRET_PATH, method="POST") == 0 if setup == "broken" else True  # an existing Secret is never replaced


# --------------------------------------------------------------------------- TokenRequest fallback


def serve_tokens(world: World, fake: FakeKubernetes) -> None:
    fake.add_service_account("apps", "web")
    fake.token_requester = lambda namespace, account, audiences, lifetime: world.issuer.token(
        namespace, account, audiences[0] if audiences else world.issuer.issuer, lifetime
    )


async def test_a_token_is_requested_when_the_driver_sends_none(world: World, kube: tuple[FakeKubernetes, str]) -> None:
    fake, kubeconfig = kube
    serve_tokens(world, fake)
    pod = world.pod(audiences=())
    objects = [{"objectName": "pw", "secretPath": "secret/data/app/db", "secretKey": "password"}]
    async with world.gateway(provider_name="vault", vault_kubeconfig=kubeconfig) as gw:
        for _ in range(2):
            result = await gw.mount(world.request(objects, pod, audience="vault"))
            assert result.files[0].contents == world.values["db_v2"].encode()
    assert fake.token_requests == [{
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"audiences": ["vault"], "expirationSeconds": 900, "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": pod.name, "uid": pod.uid}},
    }]  # the second mount reuses the requested token
    assert world.proxy.logins() == 1  # ... so the Vault token cache hits


async def test_no_audience_requests_the_api_servers_default(world: World, kube: tuple[FakeKubernetes, str]) -> None:
    fake, kubeconfig = kube
    serve_tokens(world, fake)
    world.bao.kubernetes_role("any-audience", "apps", "web", ["app"], audience="")
    objects = [{"objectName": "pw", "secretPath": "secret/data/app/db", "secretKey": "password"}]
    async with world.gateway(provider_name="vault", vault_kubeconfig=kubeconfig) as gw:
        result = await gw.mount(world.request(objects, world.pod(audiences=()), roleName="any-audience"))
    assert result.files[0].contents == world.values["db_v2"].encode()
    assert fake.token_requests[0]["spec"]["audiences"] == []


@pytest.mark.parametrize(
    ("fault", "code", "message"),
    [
        pytest.param("forbidden", "PermissionDenied", "grant create on serviceaccounts/token", id="no-rbac"),
        pytest.param("other-pod", "PermissionDenied", "the bound pod does not match the service account", id="pod-of-another-account"),
        pytest.param("native", "InvalidArgument", "add tokenRequests", id="native-does-not-request"),
    ],
)
async def test_token_request_refusals(world: World, kube: tuple[FakeKubernetes, str], fault: str, code: str, message: str) -> None:
    fake, kubeconfig = kube
    serve_tokens(world, fake)
    pod = world.pod(audiences=())
    if fault == "forbidden":
        fake.inject(TOKEN_PATH, status=403)
    if fault == "other-pod":
        fake.add_pod("apps", pod.name, "node-1", service_account="other", uid=pod.uid)
    objects = [{"objectName": "pw", "secretPath": "secret/data/app/db", "secretKey": "password"}]
    provider_name = "secrets-gateway" if fault == "native" else "vault"
    async with world.gateway(provider_name=provider_name, vault_kubeconfig=kubeconfig) as gw:
        with pytest.raises(MountFailure) as failure:
            await gw.mount(world.request(objects, pod, audience="vault"))
    assert (failure.value.code_name, message in failure.value.message) == (code, True), failure.value.message
    assert world.proxy.logins() == 0
    assert fake.count(TOKEN_PATH, method="POST") == (0 if fault == "native" else 1)


async def test_native_requests_tokens_when_enabled(world: World, kube: tuple[FakeKubernetes, str]) -> None:
    fake, kubeconfig = kube
    serve_tokens(world, fake)
    objects = [{"objectName": "pw", "secretPath": "secret/app/db", "secretKey": "password"}]
    async with world.gateway(vault_kubeconfig=kubeconfig, vault_token_request="true") as gw:
        result = await gw.mount(world.request(objects, world.pod(audiences=()), audience="vault"))
    assert result.files[0].contents == world.values["db_v2"].encode()


async def test_the_fetch_cache_binds_requested_tokens_to_the_pod(world: World, kube: tuple[FakeKubernetes, str]) -> None:
    """With the core's fetch cache on, a pod without a driver token is served from the cache only when it
    is the same pod (its uid), as the TokenRequest a miss makes is bound to that pod."""
    fake, kubeconfig = kube
    serve_tokens(world, fake)
    objects = [{"objectName": "pw", "secretPath": "secret/data/app/db", "secretKey": "password"}]
    settings = replace(world.settings("vault", vault_kubeconfig=kubeconfig), cache_ttl=60)
    first, other = (world.issuer.pod("apps", "web", (), name=name) for name in ("web-a", "web-b"))  # same account, two pods
    async with running_gateway([("vault", gateway_vault.plugin)], settings=settings) as gw:
        for pod in (first, first, other):
            result = await gw.mount(world.request(objects, pod, audience="vault"))
            assert result.files[0].contents == world.values["db_v2"].encode()
    assert world.proxy.count("/v1/secret/data/app/db") == 2  # the first pod's second mount came from the cache
    assert [r["spec"]["boundObjectRef"]["uid"] for r in fake.token_requests] == [first.uid, other.uid]
