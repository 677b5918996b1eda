"""Server-level settings of the vault plugin: ``--vault-*`` flags and ``SECRETS_GATEWAY_VAULT_*`` env.

They are the defaults behind the SecretProviderClass parameters (see :mod:`gateway_vault.connection`)
plus what only an operator may set: the dev-only token auth, timeouts, retries and cache sizes.
The names are a stable interface (the Helm chart exposes them); docs/vault.md lists them.
Unset options fall back to the Vault CLI's environment variables (``VAULT_ADDR``, ``VAULT_CACERT``,
... — :data:`VAULT_ENVIRONMENT`), as vault-csi-provider and every Vault client do.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from gateway.plugin import DEFAULT_PROVIDER_NAME, Check, Option, OptionValueError, Settings, StartupError, at_least
from gateway_vault.allowlist import pattern_problem

T = TypeVar("T")

AUTH_METHODS = ("kubernetes", "jwt")
TOKEN_AUTH = "token"
KV_VERSIONS = ("auto", "1", "2")
TOKEN_REQUEST = ("auto", "true", "false")
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def _usable_address(address: str) -> bool:
    from gateway_vault.connection import address_problem  # the same rule as for an SPC's vaultAddress

    return not address or address_problem(address.rstrip("/")) is None


_ADDRESS = Check[str](_usable_address, "(http(s)://host[:port] without credentials, path or query)")
_SECONDS = Check[float](lambda value: math.isfinite(value) and value >= 0, ">= 0")

ADDRESS = Option(
    "vault-address", str, "", "default Vault address when an SPC sets no vaultAddress (e.g. https://vault.vault:8200)", check=_ADDRESS
)
NAMESPACE = Option("vault-namespace", str, "", "default Vault namespace (SPC: vaultNamespace)")
AUTH_METHOD = Option(
    "vault-auth-method", str.lower, "kubernetes", "default auth method: kubernetes or jwt (token only with --vault-allow-token-auth)"
)
AUTH_MOUNT_PATH = Option("vault-auth-mount-path", str, "", "default auth mount path (SPC: vaultAuthMountPath); empty: the method's name")
ROLE = Option("vault-role", str, "", "default Vault role (SPC: roleName)")
AUDIENCE = Option("vault-audience", str, "", "default service-account token audience (SPC: audience)")
CA_CERT = Option("vault-ca-cert", str, "", "PEM file of the CA that signs Vault's certificate (SPC: vaultCACertPath; env VAULT_CACERT)")
CA_DIRECTORY = Option(
    "vault-ca-directory", str, "", "directory of PEM CA certificates for Vault, used when no CA file is set (SPC: vaultCADirectory)"
)
TLS_SERVER_NAME = Option("vault-tls-server-name", str, "", "name expected in Vault's certificate and sent as SNI (SPC: vaultTLSServerName)")
TLS_CLIENT_CERT = Option("vault-tls-client-cert", str, "", "PEM client certificate for mutual TLS with Vault (SPC: vaultTLSClientCertPath)")
TLS_CLIENT_KEY = Option("vault-tls-client-key", str, "", "PEM key of --vault-tls-client-cert (SPC: vaultTLSClientKeyPath)")
SKIP_TLS_VERIFY = Option("vault-skip-tls-verify", bool, False, "skip TLS verification by default (SPC: vaultSkipTLSVerify)")
ALLOW_TOKEN_AUTH = Option("vault-allow-token-auth", bool, False, "DEV ONLY: allow auth method 'token' with --vault-token (never for production)")
TOKEN = Option("vault-token", str, "", "DEV ONLY: the Vault token for auth method 'token'; sent only to --vault-address", secret=True)
KV_VERSION = Option(
    "vault-kv-version",
    str.lower,
    "",
    "KV engine version when an object sets no kvVersion: auto (ask Vault), 1 or 2; empty: auto, or 1 (path as written) under provider name vault",
    check=Check(lambda value: value in ("", *KV_VERSIONS), "(auto, 1 or 2)"),
)
REQUEST_TIMEOUT = Option(
    "vault-request-timeout",
    float,
    3.0,
    "seconds per Vault HTTP request; keep (retries+1) x timeout below --backend-timeout",
    check=Check(lambda value: math.isfinite(value) and value > 0, "> 0"),
)
RETRIES = Option("vault-retries", int, 2, "retries of a failed Vault request (5xx, sealed, unreachable) before failing over", check=at_least(0))
MAX_PARALLEL = Option("vault-max-parallel", int, 16, "Vault HTTP requests in flight at once (thread pool size)", check=at_least(1))
MAX_PARALLEL_PER_NAMESPACE = Option(
    "vault-max-parallel-per-namespace", int, 4, "Vault HTTP requests in flight at once for the pods of one namespace", check=at_least(1)
)
MAX_RESPONSE_BYTES = Option(
    "vault-max-response-bytes", int, 4 * 1024 * 1024, "largest Vault answer accepted (bytes); larger ones fail over as Unavailable",
    check=at_least(1024),
)


def _allow_list(text: str) -> tuple[str, ...]:
    """``scheme://host[:port]`` entries (host may start with ``*.``), normalized; ValueError for a bad one."""
    entries = tuple(entry.strip().rstrip("/").lower() for entry in text.split(",") if entry.strip())
    for entry in entries:
        problem = pattern_problem(entry)
        if problem:
            raise OptionValueError(f"{entry!r} {problem}")
    return entries


ALLOWED_ADDRESSES = Option[tuple[str, ...]](
    "vault-allowed-addresses",
    _allow_list,
    (),
    "comma-separated Vault addresses tenants may name (http(s)://host[:port], host may start with *.); empty: any",
)
TOKEN_CACHE_SIZE = Option(
    "vault-token-cache-size", int, 1000, "Vault tokens cached (one per identity and role); 0 disables caching", check=at_least(0)
)
MOUNT_CACHE_TTL = Option("vault-mount-cache-ttl", float, 300.0, "seconds a KV mount's detected version is remembered", check=_SECONDS)

HMAC_SECRET_NAME = Option(
    "vault-hmac-secret-name",
    str,
    "",
    "Kubernetes Secret (created if missing) holding the HMAC key of object versions, so versions survive restarts; "
    "empty: a per-process key (vault-csi-provider: -hmac-secret-name)",
)
HMAC_SECRET_NAMESPACE = Option(
    "vault-hmac-secret-namespace", str, "", "namespace of --vault-hmac-secret-name (default: the provider's own namespace)"
)
TOKEN_REQUEST_OPTION = Option(
    "vault-token-request",
    str.lower,
    "auto",
    "request a pod's service-account token (TokenRequest) when the driver sends none for the audience "
    "(auto: true under provider name vault, as vault-csi-provider)",
    choices=TOKEN_REQUEST,
)
KUBECONFIG = Option(
    "vault-kubeconfig", str, "", "kubeconfig for the HMAC Secret and TokenRequests outside a cluster (default: in-cluster, $KUBECONFIG, ~/.kube/config)"
)

OPTIONS: tuple[Option[Any], ...] = (
    ADDRESS,
    NAMESPACE,
    AUTH_METHOD,
    AUTH_MOUNT_PATH,
    ROLE,
    AUDIENCE,
    CA_CERT,
    CA_DIRECTORY,
    TLS_SERVER_NAME,
    TLS_CLIENT_CERT,
    TLS_CLIENT_KEY,
    SKIP_TLS_VERIFY,
    ALLOW_TOKEN_AUTH,
    TOKEN,
    KV_VERSION,
    REQUEST_TIMEOUT,
    RETRIES,
    MAX_PARALLEL,
    MAX_PARALLEL_PER_NAMESPACE,
    MAX_RESPONSE_BYTES,
    ALLOWED_ADDRESSES,
    TOKEN_CACHE_SIZE,
    MOUNT_CACHE_TTL,
    HMAC_SECRET_NAME,
    HMAC_SECRET_NAMESPACE,
    TOKEN_REQUEST_OPTION,
    KUBECONFIG,
)

#: option -> the standard Vault environment variable read when neither flag nor SECRETS_GATEWAY_* is set
VAULT_ENVIRONMENT = {
    ADDRESS.name: "VAULT_ADDR",
    NAMESPACE.name: "VAULT_NAMESPACE",
    CA_CERT.name: "VAULT_CACERT",
    CA_DIRECTORY.name: "VAULT_CAPATH",
    TLS_SERVER_NAME.name: "VAULT_TLS_SERVER_NAME",
    TLS_CLIENT_CERT.name: "VAULT_CLIENT_CERT",
    TLS_CLIENT_KEY.name: "VAULT_CLIENT_KEY",
    SKIP_TLS_VERIFY.name: "VAULT_SKIP_VERIFY",
}


@dataclass(frozen=True)
class VaultConfig:
    """The plugin's server settings, validated once at startup."""

    provider_name: str = DEFAULT_PROVIDER_NAME  # "vault" selects the vault-csi-provider dialect
    strict: bool = False  # --strict-objects: unknown class parameters are errors
    address: str = ADDRESS.default
    namespace: str = NAMESPACE.default
    auth_method: str = AUTH_METHOD.default
    auth_mount_path: str = AUTH_MOUNT_PATH.default
    role: str = ROLE.default
    audience: str = AUDIENCE.default
    ca_cert: str = CA_CERT.default
    ca_directory: str = CA_DIRECTORY.default
    tls_server_name: str = TLS_SERVER_NAME.default
    tls_client_cert: str = TLS_CLIENT_CERT.default
    tls_client_key: str = TLS_CLIENT_KEY.default
    skip_tls_verify: bool = SKIP_TLS_VERIFY.default
    allow_token_auth: bool = ALLOW_TOKEN_AUTH.default
    token: str = field(default=TOKEN.default, repr=False)
    kv_version: str = KV_VERSION.default  # "": the dialect's default
    request_timeout: float = REQUEST_TIMEOUT.default
    retries: int = RETRIES.default
    max_parallel: int = MAX_PARALLEL.default
    max_parallel_per_namespace: int = MAX_PARALLEL_PER_NAMESPACE.default
    max_response_bytes: int = MAX_RESPONSE_BYTES.default
    allowed_addresses: tuple[str, ...] = ALLOWED_ADDRESSES.default
    token_cache_size: int = TOKEN_CACHE_SIZE.default
    mount_cache_ttl: float = MOUNT_CACHE_TTL.default
    hmac_secret_name: str = HMAC_SECRET_NAME.default
    hmac_secret_namespace: str = HMAC_SECRET_NAMESPACE.default
    token_request: str = TOKEN_REQUEST_OPTION.default
    kubeconfig: str = KUBECONFIG.default

    def __post_init__(self) -> None:
        allowed = AUTH_METHODS + ((TOKEN_AUTH,) if self.allow_token_auth else ())
        if self.auth_method not in allowed:
            hint = " (token auth needs --vault-allow-token-auth=true)" if self.auth_method == TOKEN_AUTH else ""
            raise StartupError(f"--vault-auth-method must be one of {', '.join(allowed)}, got {self.auth_method!r}{hint}")
        if self.allow_token_auth and not self.token:
            raise StartupError("--vault-allow-token-auth=true needs --vault-token")
        if bool(self.tls_client_cert) != bool(self.tls_client_key):
            raise StartupError("--vault-tls-client-cert and --vault-tls-client-key must be set together")
        if self.token_request not in TOKEN_REQUEST:
            raise StartupError(f"--vault-token-request must be one of {', '.join(TOKEN_REQUEST)}, got {self.token_request!r}")
        if self.hmac_secret_name and not self.hmac_secret_namespace:
            raise StartupError("--vault-hmac-secret-name needs --vault-hmac-secret-namespace outside a pod (no service-account namespace file)")
        if self.kv_version and self.kv_version not in KV_VERSIONS:
            raise StartupError(f"--vault-kv-version must be one of {', '.join(KV_VERSIONS)}, got {self.kv_version!r}")

    @classmethod
    def from_settings(cls, settings: Settings, environ: Mapping[str, str] | None = None) -> VaultConfig:
        """The typed ``vault-*`` values; an option not set falls back to its Vault CLI variable
        (:data:`VAULT_ENVIRONMENT`), parsed by the same option, then to its default."""
        environment = os.environ if environ is None else environ

        def value(option: Option[T]) -> T:
            variable = VAULT_ENVIRONMENT.get(option.name, "")
            if option.name not in settings.plugin_options and environment.get(variable, "").strip():
                return option.parse(environment[variable], f"{variable}={'(hidden)' if option.secret else environment[variable]}")
            return settings.option(option)

        return cls(
            provider_name=settings.provider_name,
            strict=settings.strict_objects,
            address=value(ADDRESS).rstrip("/"),
            namespace=value(NAMESPACE).strip("/"),
            auth_method=value(AUTH_METHOD),
            auth_mount_path=value(AUTH_MOUNT_PATH),
            role=value(ROLE),
            audience=value(AUDIENCE),
            ca_cert=value(CA_CERT),
            ca_directory=value(CA_DIRECTORY),
            tls_server_name=value(TLS_SERVER_NAME),
            tls_client_cert=value(TLS_CLIENT_CERT),
            tls_client_key=value(TLS_CLIENT_KEY),
            skip_tls_verify=value(SKIP_TLS_VERIFY),
            allow_token_auth=value(ALLOW_TOKEN_AUTH),
            token=value(TOKEN),
            kv_version=value(KV_VERSION),
            request_timeout=value(REQUEST_TIMEOUT),
            retries=value(RETRIES),
            max_parallel=value(MAX_PARALLEL),
            max_parallel_per_namespace=value(MAX_PARALLEL_PER_NAMESPACE),
            max_response_bytes=value(MAX_RESPONSE_BYTES),
            allowed_addresses=value(ALLOWED_ADDRESSES),
            token_cache_size=value(TOKEN_CACHE_SIZE),
            mount_cache_ttl=value(MOUNT_CACHE_TTL),
            hmac_secret_name=value(HMAC_SECRET_NAME),
            hmac_secret_namespace=value(HMAC_SECRET_NAMESPACE) or (_own_namespace() if value(HMAC_SECRET_NAME) else ""),
            token_request=value(TOKEN_REQUEST_OPTION),
            kubeconfig=value(KUBECONFIG),
        )

    def requests_tokens(self, dialect_default: bool) -> bool:
        return self.token_request == "true" or (self.token_request == "auto" and dialect_default)


def _own_namespace() -> str:
    """The namespace the provider runs in (its service-account namespace file), "" outside a pod."""
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text(encoding="utf-8").strip()
    except OSError:
        return ""
