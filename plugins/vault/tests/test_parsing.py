"""Parsing without a server: server options, connection parameters, object descriptors, error texts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import InvalidArgument, StartupError
from gateway.model import ObjectRef
from gateway.settings import Settings
from gateway_vault import allowlist
from gateway_vault.auth import cache_lifetime
from gateway_vault.backend import VaultBackend
from gateway_vault.connection import AuthSpec, resolve
from gateway_vault.dialect import NATIVE, VAULT_CSI_PROVIDER, VaultDialect
from gateway_vault.errors import error_detail
from gateway_vault.options import VaultConfig
from gateway_vault.query import QueryError, SecretQuery, parse_object
from gateway_vault.tls import TlsSettings

ADDRESS = "https://vault.example:8200"


def config(environ: dict[str, str] | None = None, **options: str) -> VaultConfig:
    return VaultConfig.from_settings(Settings(plugin_options={k.replace("_", "-"): v for k, v in options.items()}), environ or {})


# --------------------------------------------------------------------------- server options


def test_option_defaults() -> None:
    assert config() == VaultConfig()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"vault_auth_method": "token"}, "token auth needs --vault-allow-token-auth=true"),
        ({"vault_allow_token_auth": "true"}, "--vault-allow-token-auth=true needs --vault-token"),
        ({"vault_allow_token_auth": "maybe"}, "--vault-allow-token-auth .*: invalid value 'maybe': expected true or false"),
        ({"vault_kv_version": "3"}, "--vault-kv-version .*: expected text \\(auto, 1 or 2\\)"),
        ({"vault_request_timeout": "soon"}, "--vault-request-timeout .*: expected a number > 0"),
        ({"vault_retries": "-1"}, "--vault-retries .*: expected an integer >= 0"),
        ({"vault_max_parallel": "0"}, "--vault-max-parallel .*: expected an integer >= 1"),
        ({"vault_mount_cache_ttl": "inf"}, "--vault-mount-cache-ttl .*: expected a number >= 0"),
        ({"vault_max_parallel_per_namespace": "0"}, "--vault-max-parallel-per-namespace .*: expected an integer >= 1"),
        ({"vault_max_response_bytes": "10"}, "--vault-max-response-bytes .*: expected an integer >= 1024"),
        ({"vault_allowed_addresses": "vault:8200"}, "--vault-allowed-addresses .*: 'vault:8200' must be http"),
        ({"vault_allowed_addresses": "https://vault/v1"}, "--vault-allowed-addresses .*: 'https://vault/v1' must be http"),
        ({"vault_allowed_addresses": "https://va*lt"}, "may hold \\* only as the first label"),
        ({"vault_address": "https://user:hunter2@vault.example"}, "--vault-address .*: invalid value 'https://\\*\\*\\*@vault.example'"),
    ],
    ids=[
        "token-not-allowed", "token-missing", "bad-bool", "kv-version", "timeout", "retries", "parallel", "infinite-ttl",
        "per-namespace", "response-bytes", "allowed-no-scheme", "allowed-path", "allowed-inner-wildcard", "address-credentials",
    ],
)
def test_bad_server_options(options: dict[str, str], message: str) -> None:
    with pytest.raises(StartupError, match=message.replace("+", r"\+")) as caught:
        config(**options)
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("environ", "options", "expected"),
    [
        pytest.param({"VAULT_ADDR": "https://env:8200"}, {}, {"address": "https://env:8200"}, id="vault-addr"),
        pytest.param({"VAULT_ADDR": "https://env:8200"}, {"vault_address": "https://flag:8200"}, {"address": "https://flag:8200"}, id="flag-wins"),
        pytest.param(
            {"VAULT_CACERT": "/ca.pem", "VAULT_CAPATH": "/cas", "VAULT_TLS_SERVER_NAME": "vault.internal", "VAULT_NAMESPACE": "team"},
            {}, {"ca_cert": "/ca.pem", "ca_directory": "/cas", "tls_server_name": "vault.internal", "namespace": "team"}, id="tls-and-namespace",
        ),
        pytest.param({"VAULT_CLIENT_CERT": "/c.pem", "VAULT_CLIENT_KEY": "/k.pem"}, {}, {"tls_client_cert": "/c.pem", "tls_client_key": "/k.pem"}, id="client-cert"),
        pytest.param({"VAULT_SKIP_VERIFY": "1"}, {}, {"skip_tls_verify": True}, id="skip-verify"),
    ],
)
def test_vault_environment_variables(environ: dict[str, str], options: dict[str, str], expected: dict[str, object]) -> None:
    loaded = config(environ, **options)
    assert {name: getattr(loaded, name) for name in expected} == expected


def test_client_cert_needs_its_key() -> None:
    with pytest.raises(StartupError, match="must be set together"):
        config(vault_tls_client_cert="/c.pem")


@pytest.mark.parametrize(("provider_name", "address"), [("vault", "https://127.0.0.1:8200"), ("secrets-gateway", "")])
def test_default_address_follows_the_dialect(provider_name: str, address: str) -> None:
    locations = VaultBackend(VaultConfig.from_settings(Settings(provider_name=provider_name), {})).static_locations({})
    assert locations == ((address,) if address else None)


def test_a_class_chooses_its_dialect() -> None:
    vault = config()  # provider name secrets-gateway
    assert resolve(vault, {"roleName": "app", "dialect": "vault-csi-provider"}, ADDRESS).dialect is VAULT_CSI_PROVIDER
    assert resolve(VaultConfig(provider_name="vault"), {"roleName": "app", "dialect": "secrets-gateway"}, ADDRESS).dialect is NATIVE


@pytest.mark.parametrize(
    ("allowed", "address", "allows"),
    [
        pytest.param("https://vault.vault:8200", "https://Vault.vault:8200", True, id="exact-any-case"),
        pytest.param("https://vault", "https://vault:443", True, id="default-port"),
        pytest.param("https://vault", "http://vault:443", False, id="other-scheme"),
        pytest.param("https://vault:8200", "https://vault:8201", False, id="other-port"),
        pytest.param("https://*.vault.svc", "https://a.b.vault.svc", True, id="wildcard-below"),
        pytest.param("https://*.vault.svc", "https://vault.svc", False, id="wildcard-not-the-domain"),
        pytest.param("https://*.vault.svc", "https://evilvault.svc", False, id="wildcard-label-boundary"),
        pytest.param("", "https://anything", True, id="empty-allows-all"),
    ],
)
def test_allowed_addresses_match(allowed: str, address: str, allows: bool) -> None:
    assert allowlist.allows(config(vault_allowed_addresses=allowed).allowed_addresses, address) is allows


def test_the_dev_token_is_not_in_the_config_repr() -> None:
    assert "s.secret" not in repr(config(vault_allow_token_auth="true", vault_token="s.secret", vault_auth_method="token"))


# --------------------------------------------------------------------------- connection parameters


@dataclass(frozen=True)
class ConnectionCase:
    id: str
    parameters: dict[str, str]
    options: dict[str, str] = field(default_factory=dict)
    auth: AuthSpec | None = None
    namespace: str = ""
    tls: TlsSettings = TlsSettings()
    error: str = ""
    dialect: VaultDialect = NATIVE


CONNECTION_CASES = [
    ConnectionCase("defaults", {"roleName": "app"}, auth=AuthSpec("kubernetes", "kubernetes", "app", "")),
    ConnectionCase("auth-prefix-and-slashes-dropped", {"roleName": "app", "vaultAuthMountPath": "/auth/k8s/b/"}, auth=AuthSpec("kubernetes", "k8s/b", "app", "")),
    ConnectionCase("jwt-default-mount", {"roleName": "app", "vaultAuthMethod": "JWT"}, auth=AuthSpec("jwt", "jwt", "app", "")),
    ConnectionCase(
        "server-mount-only-for-server-method", {"roleName": "app", "vaultAuthMethod": "jwt"}, {"vault_auth_mount_path": "k8s"},
        auth=AuthSpec("jwt", "jwt", "app", ""),
    ),
    ConnectionCase(
        "server-defaults", {}, {"vault_role": "r", "vault_audience": "vault", "vault_namespace": "/team/", "vault_auth_mount_path": "k8s"},
        auth=AuthSpec("kubernetes", "k8s", "r", "vault"), namespace="team",
    ),
    ConnectionCase("parameters-win", {"roleName": "p", "audience": "a", "vaultNamespace": "n"}, {"vault_role": "r", "vault_audience": "b"}, auth=AuthSpec("kubernetes", "kubernetes", "p", "a"), namespace="n"),
    ConnectionCase("skip-verify", {"roleName": "app", "vaultSkipTLSVerify": "True"}, auth=AuthSpec("kubernetes", "kubernetes", "app", ""), tls=TlsSettings(skip_verify=True)),
    ConnectionCase("vault-dialect-audience-vault", {"roleName": "app"}, auth=AuthSpec("kubernetes", "kubernetes", "app", "vault", audience_defaulted=True, request_tokens=True),
                   dialect=VAULT_CSI_PROVIDER),
    ConnectionCase(
        "vault-dialect-audience-given", {"roleName": "app", "audience": "custom"}, auth=AuthSpec("kubernetes", "kubernetes", "app", "custom", request_tokens=True),
        dialect=VAULT_CSI_PROVIDER,
    ),
    ConnectionCase("bad-mount", {"roleName": "app", "vaultAuthMountPath": "a/../b"}, error="is not a valid auth mount path"),
    ConnectionCase("namespace-line-break", {"roleName": "app", "vaultNamespace": "team\r\nX-Evil: 1"}, error="holds control characters"),
    ConnectionCase("no-role", {}, error='no Vault role: set the SecretProviderClass parameter "roleName"'),
]


@pytest.mark.parametrize("case", CONNECTION_CASES, ids=[c.id for c in CONNECTION_CASES])
def test_connection(case: ConnectionCase) -> None:
    if case.error:
        with pytest.raises(InvalidArgument, match=case.error):
            resolve(config(**case.options), {**case.parameters, "dialect": case.dialect.name}, ADDRESS)
        return
    connection = resolve(config(**case.options), {**case.parameters, "dialect": case.dialect.name}, ADDRESS)
    assert (connection.auth, connection.namespace, connection.tls) == (case.auth, case.namespace, case.tls)


@dataclass(frozen=True)
class TlsCase:
    id: str
    parameters: dict[str, str]
    options: dict[str, str] = field(default_factory=dict)
    tls: TlsSettings | None = None  # paths relative to the test's directory
    error: str = ""
    dialect: VaultDialect = NATIVE


TLS_CASES = [
    TlsCase("ca-file", {"vaultCACertPath": "ca.pem"}, tls=TlsSettings("ca.pem")),
    TlsCase("ca-directory", {"vaultCADirectory": "cas"}, tls=TlsSettings(ca_directory="cas")),
    TlsCase("class-ca-replaces-server-ca", {"vaultCADirectory": "cas"}, {"vault_ca_cert": "ca.pem"}, tls=TlsSettings(ca_directory="cas")),
    TlsCase("server-name-and-client-cert", {"vaultTLSServerName": "vault.internal", "vaultTLSClientCertPath": "c.pem", "vaultTLSClientKeyPath": "k.pem"},
            tls=TlsSettings(server_name="vault.internal", client_cert="c.pem", client_key="k.pem")),
    TlsCase("client-cert-from-server", {}, {"vault_tls_client_cert": "c.pem", "vault_tls_client_key": "k.pem"}, tls=TlsSettings(client_cert="c.pem", client_key="k.pem")),
    TlsCase("class-skip-wins-over-server-ca", {"vaultSkipTLSVerify": "true"}, {"vault_ca_cert": "ca.pem"}, tls=TlsSettings("ca.pem", skip_verify=True)),
    TlsCase("class-ca-wins-over-server-skip", {"vaultCACertPath": "ca.pem"}, {"vault_skip_tls_verify": "true"}, tls=TlsSettings("ca.pem")),
    TlsCase("class-false-undoes-server-skip", {"vaultSkipTLSVerify": "false"}, {"vault_skip_tls_verify": "true"}, tls=TlsSettings()),
    TlsCase("class-skip-and-ca-conflict", {"vaultSkipTLSVerify": "true", "vaultCACertPath": "ca.pem"}, error="conflicts with vaultCACertPath"),
    TlsCase("vault-dialect-skip-and-ca", {"vaultSkipTLSVerify": "true", "vaultCACertPath": "ca.pem"}, tls=TlsSettings("ca.pem", skip_verify=True), dialect=VAULT_CSI_PROVIDER),
    TlsCase("vault-dialect-false-keeps-server-skip", {"vaultSkipTLSVerify": "false"}, {"vault_skip_tls_verify": "true"}, tls=TlsSettings(skip_verify=True), dialect=VAULT_CSI_PROVIDER),
    TlsCase("client-cert-without-key", {"vaultTLSClientCertPath": "c.pem"}, error="vaultTLSClientCertPath and vaultTLSClientKeyPath must be set together"),
    TlsCase("missing-ca-file", {"vaultCACertPath": "nope.pem"}, error='vaultCACertPath ".*nope.pem" is not a readable file'),
    TlsCase("missing-ca-directory", {"vaultCADirectory": "nope"}, error='vaultCADirectory ".*nope" is not a readable directory'),
    TlsCase("missing-client-key", {"vaultTLSClientCertPath": "c.pem", "vaultTLSClientKeyPath": "nope.pem"}, error="vaultTLSClientKeyPath"),
    TlsCase("bad-skip", {"vaultSkipTLSVerify": "yes"}, error='vaultSkipTLSVerify must be "true" or "false"'),
]


@pytest.mark.parametrize("case", TLS_CASES, ids=[c.id for c in TLS_CASES])
def test_tls_settings(tmp_path: Path, case: TlsCase) -> None:
    for name in ("ca.pem", "c.pem", "k.pem"):
        (tmp_path / name).write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    (tmp_path / "cas").mkdir()

    def local(value: str) -> str:
        return str(tmp_path / value) if value and value not in ("true", "false", "vault.internal") else value

    parameters = {"roleName": "app", **{k: local(v) for k, v in case.parameters.items()}}
    options = {k: local(v) for k, v in case.options.items()}
    if case.error:
        with pytest.raises(InvalidArgument, match=case.error):
            resolve(config(**options), {**parameters, "dialect": case.dialect.name}, ADDRESS)
        return
    assert case.tls is not None
    expected = TlsSettings(*(local(v) for v in (case.tls.ca_file, case.tls.ca_directory)), case.tls.server_name,
                           local(case.tls.client_cert), local(case.tls.client_key), skip_verify=case.tls.skip_verify)
    assert resolve(config(**options), {**parameters, "dialect": case.dialect.name}, ADDRESS).tls == expected


@pytest.mark.parametrize(
    "address",
    ["vault:8200", "https://user:pw@vault:8200", "https://vault:8200/v1", "https://vault:8200?x=1", "https://vault:port", "https://"],
)
def test_bad_addresses(address: str) -> None:
    with pytest.raises(InvalidArgument, match="vault address"):
        resolve(config(), {"roleName": "app"}, address)


# --------------------------------------------------------------------------- objects


@dataclass(frozen=True)
class ObjectCase:
    id: str
    options: dict[str, str]
    ref: ObjectRef = field(default_factory=lambda: ObjectRef("file"))
    query: SecretQuery | None = None
    key: str = ""
    error: str = ""
    dialect: VaultDialect = NATIVE


VAULT = VAULT_CSI_PROVIDER
OBJECT_CASES = [
    ObjectCase("path-defaults-to-object-name", {}, ObjectRef("secret/app"), SecretQuery("secret/app")),
    ObjectCase("key-and-trimmed-path", {"secretpath": " /secret/app/ ", "secretkey": "pw"}, query=SecretQuery("secret/app"), key="pw"),
    ObjectCase("put-is-post", {"secretpath": "pki/issue/x", "method": "put"}, query=SecretQuery("pki/issue/x", "POST")),
    ObjectCase(
        "post-args-keep-json-types", {"secretpath": "pki/issue/x", "method": "POST", "secretargs": "{ttl: 1h, exclude_cn_from_sans: true, alt: [a, b]}"},
        query=SecretQuery("pki/issue/x", "POST", '{"alt":["a","b"],"exclude_cn_from_sans":true,"ttl":"1h"}'),
    ),
    ObjectCase("get-args-become-strings", {"secretpath": "s/a", "secretargs": '{"version": 2}'}, query=SecretQuery("s/a", args='{"version":"2"}')),
    ObjectCase("version", {"secretpath": "s/a"}, ObjectRef("f", "3"), SecretQuery("s/a", version="3")),
    ObjectCase("kv-version-from-object", {"secretpath": "s/a", "kvversion": "2"}, query=SecretQuery("s/a", kv_version="2")),
    ObjectCase("get-args-must-be-scalars", {"secretpath": "s/a", "secretargs": "{a: [1]}"}, error="must be scalars; not: a"),
    ObjectCase("args-not-yaml", {"secretpath": "s/a", "secretargs": "{a: [1"}, error="secretArgs is not a YAML/JSON mapping"),
    ObjectCase("version-with-post", {"secretpath": "s/a", "method": "POST"}, ObjectRef("f", "3"), error="objectVersion cannot be used with method POST"),
    ObjectCase("version-on-kv1", {"secretpath": "s/a", "kvversion": "1"}, ObjectRef("f", "3"), error="but kvVersion is 1"),
    ObjectCase("version-twice", {"secretpath": "s/a", "secretargs": "{version: 1}"}, ObjectRef("f", "3"), error="are both set"),
    ObjectCase("version-zero", {"secretpath": "s/a"}, ObjectRef("f", "0"), error="is not a KV v2 version number"),
    ObjectCase("query-in-path", {"secretpath": "s/a?version=1"}, error="is not a clean Vault path .*use objectVersion"),
    ObjectCase("empty-path", {"secretpath": "/"}, error="secretPath is empty"),
    ObjectCase("api-prefix-dropped", {"secretpath": "/v1/secret/data/a"}, query=SecretQuery("secret/data/a")),
    ObjectCase("api-prefix-without-slash-dropped", {"secretpath": "v1/secret/data/a"}, query=SecretQuery("secret/data/a")),
    ObjectCase("list-refused-natively", {"secretpath": "s/", "method": "LIST"}, error='method "LIST" is not supported'),
    ObjectCase("vault-query-in-path", {"secretpath": "/v1/s/data/a?version=1&x=a+b%21"}, query=SecretQuery("s/data/a", kv_version="1", query=(("version", "1"), ("x", "a b!"))), dialect=VAULT),
    ObjectCase("vault-semicolon-refused", {"secretpath": "s/a?a=1;b=2"}, error='has a query with ";"', dialect=VAULT),
    ObjectCase("vault-bad-escape-refused", {"secretpath": "s/a?a=%zz"}, error="badly escaped query", dialect=VAULT),
    ObjectCase("vault-method-as-written", {"secretpath": "s/", "method": "list"}, query=SecretQuery("s", "LIST", kv_version="1"), dialect=VAULT),
    ObjectCase("vault-put-kept", {"secretpath": "pki/issue/x", "method": "PUT"}, query=SecretQuery("pki/issue/x", "PUT", kv_version="1"), dialect=VAULT),
    ObjectCase("vault-get-args-not-sent", {"secretpath": "s/a", "secretargs": "{version: 1}"}, query=SecretQuery("s/a", kv_version="1"), dialect=VAULT),
    ObjectCase("vault-bad-method", {"secretpath": "s/a", "method": "GE T"}, error='method "GE T" is not supported', dialect=VAULT),
]


@pytest.mark.parametrize("case", OBJECT_CASES, ids=[c.id for c in OBJECT_CASES])
def test_object(case: ObjectCase) -> None:
    if case.error:
        with pytest.raises(QueryError, match=case.error.replace("?", r"\?").replace("(", r"\(")):
            parse_object(case.ref, case.options, case.dialect.kv_version, case.dialect)
        return
    parsed = parse_object(case.ref, case.options, case.dialect.kv_version, case.dialect)
    assert (parsed.query, parsed.key) == (case.query, case.key)


@given(
    st.dictionaries(st.sampled_from(["secretpath", "secretkey", "secretargs", "method", "kvversion"]), st.text(max_size=40)),
    st.text(max_size=10),
    st.text(max_size=10),
)
def test_any_descriptor_is_parsed_or_refused_precisely(options: dict[str, str], version: str, label: str) -> None:
    try:
        parse_object(ObjectRef("name", version, label), options)
    except QueryError as exc:
        assert str(exc)


# --------------------------------------------------------------------------- texts and lifetimes


def test_error_detail_is_short_single_line_and_scrubbed() -> None:
    body = {"errors": ["1 error occurred:\n\t* token s.abcdefghijklmnopqrstuvwx is invalid\n\n" + "x" * 400]}
    detail = error_detail(body, ["s.abcdefghijklmnopqrstuvwx"])
    assert "s.abcdef" not in detail and "[redacted]" in detail
    assert "\n" not in detail and len(detail) <= 161
    assert error_detail({"errors": []}, []) == error_detail("not json", []) == ""


@pytest.mark.parametrize(("lease", "kept"), [(3600, 3540), (60, 54), (5, 4), (1, 0)])
def test_tokens_are_kept_until_shortly_before_their_ttl(lease: float, kept: float) -> None:
    assert cache_lifetime(lease) == kept


def test_tokens_without_ttl_are_kept_until_revoked() -> None:
    assert cache_lifetime(0) == float("inf")
