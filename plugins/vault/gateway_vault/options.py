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

from gateway.errors import StartupError
from gateway.settings import DEFAULT_PROVIDER_NAME, PluginOption, Settings
from gateway_vault.allowlist import pattern_problem

AUTH_METHODS = ("kubernetes", "jwt")
TOKEN_AUTH = "token"
KV_VERSIONS = ("auto", "1", "2")
TOKEN_REQUEST = ("auto", "true", "false")
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")

#: option -> the standard Vault environment variable read when neither flag nor SECRETS_GATEWAY_* is set
VAULT_ENVIRONMENT = {
    "vault-address": "VAULT_ADDR",
    "vault-namespace": "VAULT_NAMESPACE",
    "vault-ca-cert": "VAULT_CACERT",
    "vault-ca-directory": "VAULT_CAPATH",
    "vault-tls-server-name": "VAULT_TLS_SERVER_NAME",
    "vault-tls-client-cert": "VAULT_CLIENT_CERT",
    "vault-tls-client-key": "VAULT_CLIENT_KEY",
    "vault-skip-tls-verify": "VAULT_SKIP_VERIFY",
}

OPTIONS: dict[str, PluginOption] = {
    option.name: option
    for option in (
        PluginOption("vault-address", "default Vault address when an SPC sets no vaultAddress (e.g. https://vault.vault:8200)"),
        PluginOption("vault-namespace", "default Vault namespace (SPC: vaultNamespace)"),
        PluginOption("vault-auth-method", "default auth method: kubernetes or jwt (token only with --vault-allow-token-auth)", default="kubernetes"),
        PluginOption("vault-auth-mount-path", "default auth mount path (SPC: vaultAuthMountPath); empty: the method's name"),
        PluginOption("vault-role", "default Vault role (SPC: roleName)"),
        PluginOption("vault-audience", "default service-account token audience (SPC: audience)"),
        PluginOption("vault-ca-cert", "PEM file of the CA that signs Vault's certificate (SPC: vaultCACertPath; env VAULT_CACERT)"),
        PluginOption("vault-ca-directory", "directory of PEM CA certificates for Vault, used when no CA file is set (SPC: vaultCADirectory)"),
        PluginOption("vault-tls-server-name", "name expected in Vault's certificate and sent as SNI (SPC: vaultTLSServerName)"),
        PluginOption("vault-tls-client-cert", "PEM client certificate for mutual TLS with Vault (SPC: vaultTLSClientCertPath)"),
        PluginOption("vault-tls-client-key", "PEM key of --vault-tls-client-cert (SPC: vaultTLSClientKeyPath)"),
        PluginOption("vault-skip-tls-verify", "skip TLS verification by default: true or false (SPC: vaultSkipTLSVerify)", default="false"),
        PluginOption("vault-allow-token-auth", "DEV ONLY: allow auth method 'token' with --vault-token (never for production)", default="false"),
        PluginOption("vault-token", "DEV ONLY: the Vault token for auth method 'token'; sent only to --vault-address"),
        PluginOption("vault-kv-version", "KV engine version when an object sets no kvVersion: auto (ask Vault), 1 or 2; empty: auto, or 1 (path as written) under provider name vault"),
        PluginOption("vault-request-timeout", "total seconds per Vault HTTP request, connect to last byte; keep (retries+1) x timeout below --backend-timeout", default="3"),
        PluginOption("vault-retries", "retries of a failed Vault request (5xx, sealed, unreachable) before failing over", default="2"),
        PluginOption("vault-max-parallel", "Vault HTTP requests in flight at once on the node", default="16"),
        PluginOption("vault-max-parallel-per-namespace", "Vault HTTP requests in flight at once for the pods of one namespace", default="4"),
        PluginOption("vault-max-response-bytes", "largest Vault answer accepted (bytes); larger ones fail over as Unavailable", default="4194304"),
        PluginOption("vault-allowed-addresses", "comma-separated Vault addresses tenants may name (http(s)://host[:port], host may start with *.); empty: any"),
        PluginOption("vault-token-cache-size", "Vault tokens cached (one per identity and role); 0 disables caching", default="1000"),
        PluginOption("vault-mount-cache-ttl", "seconds a KV mount's detected version is remembered", default="300"),
        PluginOption(
            "vault-hmac-secret-name",
            "Kubernetes Secret (created if missing) holding the HMAC key of object versions, so versions survive restarts; "
            "empty: a per-process key (vault-csi-provider: -hmac-secret-name)",
        ),
        PluginOption("vault-hmac-secret-namespace", "namespace of --vault-hmac-secret-name (default: the provider's own namespace)"),
        PluginOption(
            "vault-token-request",
            "request a pod's service-account token (TokenRequest) when the driver sends none for the audience: "
            "true, false, or auto (true under provider name vault, as vault-csi-provider)",
            default="auto",
        ),
        PluginOption("vault-kubeconfig", "kubeconfig for the HMAC Secret and TokenRequests outside a cluster (default: in-cluster, $KUBECONFIG, ~/.kube/config)"),
    )
}


@dataclass(frozen=True)
class VaultConfig:
    """The plugin's server settings, validated once at startup."""

    provider_name: str = DEFAULT_PROVIDER_NAME  # "vault" selects the vault-csi-provider dialect
    strict: bool = False  # --strict-objects: unknown class parameters are errors
    address: str = ""
    namespace: str = ""
    auth_method: str = "kubernetes"
    auth_mount_path: str = ""
    role: str = ""
    audience: str = ""
    ca_cert: str = ""
    ca_directory: str = ""
    tls_server_name: str = ""
    tls_client_cert: str = ""
    tls_client_key: str = ""
    skip_tls_verify: bool = False
    allow_token_auth: bool = False
    token: str = field(default="", repr=False)
    kv_version: str = ""  # "": the dialect's default
    request_timeout: float = 3.0
    retries: int = 2
    max_parallel: int = 16
    max_parallel_per_namespace: int = 4
    max_response_bytes: int = 4 * 1024 * 1024
    allowed_addresses: tuple[str, ...] = ()
    token_cache_size: int = 1000
    mount_cache_ttl: float = 300.0
    hmac_secret_name: str = ""
    hmac_secret_namespace: str = ""
    token_request: str = "auto"
    kubeconfig: str = ""

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
        """Read every ``vault-*`` option (defaults from :data:`OPTIONS`, then :data:`VAULT_ENVIRONMENT`);
        raise StartupError on bad values."""
        environment = os.environ if environ is None else environ

        def text(name: str) -> str:
            variable = VAULT_ENVIRONMENT.get(name)
            fallback = environment.get(variable, "") if variable else ""
            return (settings.option(name) or fallback or OPTIONS[name].default).strip()

        return cls(
            provider_name=settings.provider_name,
            strict=settings.strict_objects,
            address=text("vault-address").rstrip("/"),
            namespace=text("vault-namespace").strip("/"),
            auth_method=text("vault-auth-method").lower(),
            auth_mount_path=text("vault-auth-mount-path"),
            role=text("vault-role"),
            audience=text("vault-audience"),
            ca_cert=text("vault-ca-cert"),
            ca_directory=text("vault-ca-directory"),
            tls_server_name=text("vault-tls-server-name"),
            tls_client_cert=text("vault-tls-client-cert"),
            tls_client_key=text("vault-tls-client-key"),
            skip_tls_verify=_flag("vault-skip-tls-verify", text("vault-skip-tls-verify")),
            allow_token_auth=_flag("vault-allow-token-auth", text("vault-allow-token-auth")),
            token=text("vault-token"),
            kv_version=text("vault-kv-version").lower(),
            request_timeout=_number("vault-request-timeout", text("vault-request-timeout"), minimum=0.001),
            retries=int(_number("vault-retries", text("vault-retries"), minimum=0, integer=True)),
            max_parallel=int(_number("vault-max-parallel", text("vault-max-parallel"), minimum=1, integer=True)),
            max_parallel_per_namespace=int(
                _number("vault-max-parallel-per-namespace", text("vault-max-parallel-per-namespace"), minimum=1, integer=True)
            ),
            max_response_bytes=int(_number("vault-max-response-bytes", text("vault-max-response-bytes"), minimum=1024, integer=True)),
            allowed_addresses=_addresses("vault-allowed-addresses", text("vault-allowed-addresses")),
            token_cache_size=int(_number("vault-token-cache-size", text("vault-token-cache-size"), minimum=0, integer=True)),
            mount_cache_ttl=_number("vault-mount-cache-ttl", text("vault-mount-cache-ttl"), minimum=0),
            hmac_secret_name=text("vault-hmac-secret-name"),
            hmac_secret_namespace=text("vault-hmac-secret-namespace") or (_own_namespace() if text("vault-hmac-secret-name") else ""),
            token_request=text("vault-token-request").lower(),
            kubeconfig=text("vault-kubeconfig"),
        )

    def requests_tokens(self, dialect_default: bool) -> bool:
        return self.token_request == "true" or (self.token_request == "auto" and dialect_default)


def _own_namespace() -> str:
    """The namespace the provider runs in (its service-account namespace file), "" outside a pod."""
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def parse_bool(value: str) -> bool | None:
    """Go's ``strconv.ParseBool`` spellings; None when ``value`` is none of them."""
    lowered = value.strip().lower()
    if lowered in ("1", "t", "true"):
        return True
    if lowered in ("0", "f", "false"):
        return False
    return None


def _flag(name: str, value: str) -> bool:
    parsed = parse_bool(value)
    if parsed is None:
        raise StartupError(f"--{name} must be true or false, got {value!r}")
    return parsed


def _addresses(name: str, value: str) -> tuple[str, ...]:
    """The allow-list: ``scheme://host[:port]`` entries (host may start with ``*.``), normalized."""
    entries = tuple(entry.strip().rstrip("/").lower() for entry in value.split(",") if entry.strip())
    for entry in entries:
        problem = pattern_problem(entry)
        if problem:
            raise StartupError(f"--{name}: {entry!r} {problem}")
    return entries


def _number(name: str, value: str, *, minimum: float, integer: bool = False) -> float:
    try:
        number = int(value) if integer else float(value)
    except ValueError:
        number = math.nan
    if math.isnan(number) or math.isinf(number) or number < minimum:
        kind = "an integer" if integer else "a number"
        raise StartupError(f"--{name} must be {kind} >= {minimum:g}, got {value!r}")
    return number
