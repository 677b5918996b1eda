"""vault-csi-provider's own end-to-end classes, mounted unchanged (provider name ``vault``) against a
real OpenBao whose listener requires client certificates, as in vault-csi-provider's e2e setup.

The classes and the Vault setup are written here from vault-csi-provider's documented e2e behaviour
(KV v2, ``/v1/`` paths and base64, PKI by PUT with the whole response, database credentials read
once for username and password, a namespace, JWT auth, a custom audience, two volumes of one pod).
Only what is specific to a machine is substituted: the Vault address and the node paths of the
CA and client certificate. The database class needs a real PostgreSQL from the distribution's
packages (``apt-get install postgresql``); without it those cases are skipped, saying so.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from gateway.testing import mount_request
from gateway_vault.testing import OpenBao
from gateway_vault.testing import VaultWorld as World
from gateway_vault.testing.postgres import INSTALL_HINT, Postgres, installed_binaries

POD_NAMESPACE, SERVICE_ACCOUNT = "test", "nginx"
KV_POLICY = 'path "secret/data/kv1" { capabilities = ["read"] }\npath "secret/data/kv2" { capabilities = ["read"] }\n' + "".join(
    f'path "secret/data/kv-sync{n}" {{ capabilities = ["read"] }}\n' for n in (1, 2, 3)
)
POLICIES = {
    "kv-policy": KV_POLICY,
    "pki-policy": 'path "pki/issue/example-dot-com" { capabilities = ["create", "update"] }',
    "db-policy": 'path "database/creds/test-role" { capabilities = ["read"] }',
    "kv-custom-audience-policy": 'path "secret/data/kv-custom-audience" { capabilities = ["read"] }',
}
ROLES = {  # kubernetes auth roles: policies, audience
    "kv-role": (["kv-policy"], "vault"),
    "pki-role": (["pki-policy"], "vault"),
    "db-role": (["db-policy"], "vault"),
    "all-role": (["db-policy", "kv-policy", "pki-policy"], "vault"),
    "kv-custom-audience-role": (["kv-custom-audience-policy"], "custom-audience"),
}


@dataclass
class AnchorVault:
    bao: OpenBao
    postgres: Postgres | None

    def paths(self) -> dict[str, str]:
        pki = self.bao.pki
        assert pki is not None
        return {"/mnt/tls/ca.crt": str(pki.ca), "/mnt/tls/client.crt": str(pki.client_cert), "/mnt/tls/client.key": str(pki.client_key)}


def _configure(world: World, bao: OpenBao, postgres: Postgres | None) -> None:
    for name, rules in POLICIES.items():
        bao.put_policy(name, rules)
    bao.configure_kubernetes_auth(world.kube.url, world.kube.bearer_token, world.issuer.ca_pem())
    for role, (policies, audience) in ROLES.items():
        bao.kubernetes_role(role, POD_NAMESPACE, SERVICE_ACCOUNT, policies, audience=audience)
    bao.configure_jwt_auth(world.issuer.public_pem, world.issuer.issuer)
    bao.jwt_role("jwt-kv-role", POD_NAMESPACE, SERVICE_ACCOUNT, ["kv-policy"])
    bao.enable_secrets("pki", "pki")
    bao.api("POST", "sys/mounts/pki/tune", {"max_lease_ttl": "87600h"})
    bao.api("POST", "pki/root/generate/internal", {"common_name": "example.com", "ttl": "8760h"})
    bao.api("POST", "pki/roles/example-dot-com", {"allowed_domains": "example.com", "allow_subdomains": True, "max_ttl": "72h"})
    for path, data in {
        "kv1": {"bar1": "hello1"}, "kv2": {"bar2": "hello2"}, "kv-sync1": {"bar1": "hello-sync1"}, "kv-sync2": {"bar2": "hello-sync2"},
        "kv-sync3": {"bar3": "aGVsbG8tc3luYzM="}, "kv-custom-audience": {"bar": "hello-custom-audience"},
    }.items():
        bao.kv2_put("secret", path, data)
    bao.create_namespace("acceptance")
    bao.enable_secrets("secret", "kv", options={"version": "2"}, namespace="acceptance")
    bao.kv2_put("secret", "kv1-namespace", {"greeting": "hello-namespaces"}, namespace="acceptance")
    bao.put_policy("kv-namespace-policy", 'path "secret/data/kv1-namespace" { capabilities = ["read"] }', namespace="acceptance")
    bao.configure_kubernetes_auth(world.kube.url, world.kube.bearer_token, world.issuer.ca_pem(), namespace="acceptance")
    bao.kubernetes_role("kv-namespace-role", POD_NAMESPACE, SERVICE_ACCOUNT, ["kv-namespace-policy"], vault_namespace="acceptance")
    if postgres is not None:
        bao.enable_secrets("database", "database")
        bao.api("POST", "database/config/postgres", {
            "plugin_name": "postgresql-database-plugin", "allowed_roles": "test-role",
            "connection_url": postgres.url("{{username}}", "{{password}}"),
            "username": postgres.admin_user, "password": postgres.admin_password,
        })
        bao.api("POST", "database/roles/test-role", {
            "db_name": "postgres", "default_ttl": "1h", "max_ttl": "24h",
            "creation_statements": ["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"],
        })


@pytest.fixture(scope="module")
def anchor(vault_world: World) -> Iterator[AnchorVault]:
    binaries = installed_binaries()
    with OpenBao(mutual_tls=True, mtls_loopback=True) as bao:
        if binaries is None:
            _configure(vault_world, bao, None)
            yield AnchorVault(bao, None)
            return
        with Postgres(binaries) as postgres:
            _configure(vault_world, bao, postgres)
            yield AnchorVault(bao, postgres)


MTLS = {"vaultCACertPath": "/mnt/tls/ca.crt", "vaultTLSClientCertPath": "/mnt/tls/client.crt", "vaultTLSClientKeyPath": "/mnt/tls/client.key"}
DB_OBJECTS = """\
- objectName: "dbUsername"
  secretPath: "database/creds/test-role"
  secretKey: "username"
- objectName: "dbPassword"
  secretPath: "database/creds/test-role"
  secretKey: "password"
"""
PKI_OBJECT = """\
- objectName: "certs"
  secretPath: "pki/issue/example-dot-com"
  secretArgs:
    common_name: "test.example.com"
    ttl: "24h"
  method: "PUT"
"""


@dataclass(frozen=True)
class AnchorClass:
    id: str
    parameters: dict[str, str]
    objects: str
    files: dict[str, str] = field(default_factory=dict)  # plain expected contents
    modes: dict[str, int] = field(default_factory=dict)
    audiences: tuple[str, ...] = ("vault",)
    database: bool = False
    certificate: bool = False


CLASSES = [
    pytest.param(AnchorClass(
        "kv", {"roleName": "kv-role", "audience": "vault"},
        '- objectName: "secret-1"\n  secretPath: "secret/data/kv1"\n  secretKey: "bar1"\n  filePermission: 0624\n'
        '- objectName: "secret-2"\n  secretPath: "secret/data/kv2"\n  secretKey: "bar2"\n',
        {"secret-1": "hello1", "secret-2": "hello2"}, {"secret-1": 0o624},
    ), id="kv"),
    pytest.param(AnchorClass(
        "kv-sync", {"roleName": "kv-role", "audience": "vault", "vaultAddress": "{address}", **MTLS},
        '- objectName: "secret-1"\n  secretPath: "/v1/secret/data/kv-sync1"\n  secretKey: "bar1"\n'
        '- objectName: "secret-2"\n  secretPath: "v1/secret/data/kv-sync2"\n  secretKey: "bar2"\n'
        '- objectName: "secret-3"\n  secretPath: "/v1/secret/data/kv-sync3"\n  secretKey: "bar3"\n  encoding: "base64"\n',
        {"secret-1": "hello-sync1", "secret-2": "hello-sync2", "secret-3": "hello-sync3"},
    ), id="kv-sync"),
    pytest.param(AnchorClass(
        "kv-namespace", {"roleName": "kv-namespace-role", "audience": "vault", "vaultAddress": "{address}", "vaultNamespace": "acceptance", **MTLS},
        '- objectName: "secret-1"\n  secretPath: "secret/data/kv1-namespace"\n  secretKey: "greeting"\n', {"secret-1": "hello-namespaces"},
    ), id="kv-namespace"),
    pytest.param(AnchorClass(
        "kv-custom-audience", {"audience": "custom-audience", "roleName": "kv-custom-audience-role"},
        '- objectName: "secret"\n  secretPath: "secret/data/kv-custom-audience"\n  secretKey: "bar"\n', {"secret": "hello-custom-audience"},
        audiences=("custom-audience",),
    ), id="kv-custom-audience"),
    pytest.param(AnchorClass(
        "kv-jwt-auth", {"roleName": "jwt-kv-role", "vaultAuthMountPath": "jwt", "audience": "vault"},
        '- objectName: "secret-1"\n  secretPath: "secret/data/kv1"\n  secretKey: "bar1"\n  filePermission: 0644\n', {"secret-1": "hello1"}, {"secret-1": 0o644},
    ), id="kv-jwt-auth"),
    pytest.param(AnchorClass(
        "pki", {"roleName": "pki-role", "audience": "vault", "vaultAddress": "{address}", "vaultCACertPath": "/mnt/tls/ca.crt",
                "vaultTLSClientCertPath": "/mnt/tls/client.crt", "vaultTLSClientKeyPath": "/mnt/tls/client.key"},
        PKI_OBJECT, certificate=True,
    ), id="pki"),
    pytest.param(AnchorClass(
        "db", {"roleName": "db-role", "audience": "vault", "vaultAddress": "{address}", **MTLS}, DB_OBJECTS, database=True,
    ), id="db"),
    pytest.param(AnchorClass(
        "all", {"roleName": "all-role", "audience": "vault", "vaultAddress": "{address}", **MTLS},
        DB_OBJECTS + PKI_OBJECT + '- objectName: "secret-1"\n  secretPath: "secret/data/kv1"\n  secretKey: "bar1"\n',
        {"secret-1": "hello1"}, database=True, certificate=True,
    ), id="all"),
]


async def mount_class(world: World, anchor: AnchorVault, case: AnchorClass, pod_name: str = "nginx-0") -> dict[str, tuple[bytes, int]]:
    paths = {**anchor.paths(), "{address}": anchor.bao.mtls_address}
    parameters = {k: paths.get(v, v) for k, v in case.parameters.items()}
    pod = world.issuer.pod(POD_NAMESPACE, SERVICE_ACCOUNT, case.audiences, name=pod_name)
    request = mount_request(case.objects, parameters, pod=pod)
    pki = anchor.bao.pki
    assert pki is not None
    server = {  # what vault-csi-provider's e2e passes as flags: the address and TLS of the Vault it runs against
        "vault_address": anchor.bao.mtls_address, "vault_ca_cert": str(pki.ca),
        "vault_tls_client_cert": str(pki.client_cert), "vault_tls_client_key": str(pki.client_key),
    }
    async with world.gateway(provider_name="vault", **server) as gw:  # the provider name alone: no --default-object-type
        result = await gw.mount(request)
    return {f.path: (f.contents, f.mode) for f in result.files}


@pytest.mark.parametrize("case", CLASSES)
async def test_anchor_class_mounts_unchanged(world: World, anchor: AnchorVault, case: AnchorClass) -> None:
    if case.database and anchor.postgres is None:
        pytest.skip(INSTALL_HINT)
    files = await mount_class(world, anchor, case)
    for name, contents in case.files.items():
        assert files[name][0] == contents.encode()
    for name, mode in case.modes.items():
        assert files[name][1] == mode
    if case.database:
        assert anchor.postgres is not None
        username, password = files["dbUsername"][0].decode(), files["dbPassword"][0].decode()
        assert anchor.postgres.can_log_in(username, password)  # one read: the two files are one credential
    if case.certificate:
        response = json.loads(files["certs"][0])  # no secretKey: the whole Vault response
        assert list(response)[:6] == ["request_id", "lease_id", "lease_duration", "renewable", "data", "warnings"]
        certificate = x509.load_pem_x509_certificate(response["data"]["certificate"].encode())
        key = serialization.load_pem_private_key(response["data"]["private_key"].encode(), password=None)
        assert certificate.public_key().public_numbers() == key.public_key().public_numbers()  # type: ignore[union-attr]
        assert "test.example.com" in certificate.subject.rfc4514_string()


async def test_two_volumes_of_one_pod(world: World, anchor: AnchorVault) -> None:
    """vault-csi-provider's multiple-volumes case: one pod mounts two classes."""
    sync, namespace = (next(p.values[0] for p in CLASSES if p.id == name) for name in ("kv-sync", "kv-namespace"))
    first = await mount_class(world, anchor, sync, pod_name="nginx-multi")
    second = await mount_class(world, anchor, namespace, pod_name="nginx-multi")
    assert first["secret-1"][0] == b"hello-sync1" and second["secret-1"][0] == b"hello-namespaces"
