"""One real OpenBao for the whole session, configured through its HTTP API, behind a counting proxy.

The world: KV v2 at ``secret/`` (two versions of ``app/db``), KV v1 at ``kv1/``, a two-segment
KV v2 mount ``team/kv/``, PKI at ``pki/``, a namespace ``team1`` with its own KV and auth; the
``kubernetes`` auth method reviewing tokens through :class:`FakeKubernetes`, a second one at
``k8s-b`` and the ``jwt`` method trusting the test issuer. Secret values are random per session,
so the leak checks search for strings that cannot occur by chance.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator

import pytest

from gateway_vault.testing import VaultWorld

APP_POLICY = """
path "secret/data/app/*" { capabilities = ["read"] }
path "secret/metadata/app/" { capabilities = ["list"] }
path "kv1/app/*" { capabilities = ["read"] }
path "team/kv/data/*" { capabilities = ["read"] }
path "pki/issue/app" { capabilities = ["update"] }
"""
OTHER_POLICY = 'path "secret/data/other/*" { capabilities = ["read"] }'
DISTINCT_PATHS = 5  # secret/app/p0..p4, four keys each


def planted(label: str) -> str:
    return f"{label}-{secrets.token_hex(8)}"


def _configure(world: VaultWorld) -> None:
    bao, v = world.bao, world.values
    v.update(
        db_v1=planted("db-password-v1"), db_v2=planted("db-password-v2"), other=planted("other"),
        legacy=planted("legacy-token"), team=planted("team"), ns=planted("namespaced"), blob=secrets.token_bytes(24),
        deleted_v1=planted("deleted-v1"), deleted_v2=planted("deleted-v2"), markup=f"<{planted('a')}&b>\u2028é",
        hex_plain=planted("hex"),
    )
    bao.kv2_put("secret", "app/db", {"username": "app", "password": v["db_v1"]})
    bao.kv2_put("secret", "app/db", {"username": "app", "password": v["db_v2"]})
    bao.kv2_put("secret", "app/config", {"url": "https://db.example", "limits": {"max": 5}, "tags": ["a", "b"]})
    bao.kv2_put("secret", "app/binary", {"blob": base64.b64encode(v["blob"]).decode()})
    bao.kv2_put("secret", "other/x", {"v": v["other"]})
    bao.kv2_put("secret", "app/encoded", {
        "hex": v["hex_plain"].encode().hex(), "markup": v["markup"], "nested": {"html": v["markup"], "n": 1.50},
        "yes": "key-named-yes", "0600": "key-named-0600",
    })
    bao.kv2_put("secret", "app/deleted", {"v": v["deleted_v1"]})
    bao.kv2_put("secret", "app/deleted", {"v": v["deleted_v2"]})
    bao.api("POST", "secret/delete/app/deleted", {"versions": [1]})
    for index in range(DISTINCT_PATHS):
        values = {f"k{key}": planted(f"p{index}k{key}") for key in range(4)}
        v.update({f"p{index}k{key}": value for key, value in enumerate(values.values())})
        bao.kv2_put("secret", f"app/p{index}", values)
    bao.enable_secrets("kv1", "kv", options={"version": "1"})
    bao.api("POST", "kv1/app/legacy", {"token": v["legacy"]})
    bao.enable_secrets("team/kv", "kv", options={"version": "2"})
    bao.kv2_put("team/kv", "app", {"team": v["team"]})
    bao.enable_secrets("pki", "pki")
    bao.api("POST", "sys/mounts/pki/tune", {"max_lease_ttl": "87600h"})
    bao.api("POST", "pki/root/generate/internal", {"common_name": "example.com", "ttl": "8760h"})
    bao.api("POST", "pki/roles/app", {"allowed_domains": ["example.com"], "allow_subdomains": True, "max_ttl": "72h"})
    bao.put_policy("app", APP_POLICY)
    bao.put_policy("other", OTHER_POLICY)

    world.enable_kubernetes_auth("k8s-b")
    for mount in ("kubernetes", "k8s-b"):
        bao.kubernetes_role("app", "apps", "web", ["app"], mount=mount)
    bao.kubernetes_role("other", "apps", "other", ["other"])
    bao.kubernetes_role("revocable", "apps", "revocable", ["app"])
    bao.configure_jwt_auth(world.issuer.public_pem, world.issuer.issuer)
    bao.jwt_role("app", "apps", "web", ["app"])

    bao.create_namespace("team1")
    bao.enable_secrets("kv", "kv", options={"version": "2"}, namespace="team1")
    bao.kv2_put("kv", "app", {"ns": v["ns"]}, namespace="team1")
    bao.put_policy("app", 'path "kv/data/*" { capabilities = ["read"] }', namespace="team1")
    world.enable_kubernetes_auth(namespace="team1")
    bao.kubernetes_role("app", "apps", "web", ["app"], vault_namespace="team1")


@pytest.fixture(scope="session")
def vault_world() -> Iterator[VaultWorld]:
    with VaultWorld.running() as world:
        _configure(world)
        yield world


@pytest.fixture
def world(vault_world: VaultWorld) -> VaultWorld:
    """The session's world with the proxy's counters and faults cleared."""
    vault_world.proxy.reset()
    return vault_world
