"""Server-level settings of the vault plugin: ``--vault-*`` flags and ``SECRETS_GATEWAY_VAULT_*`` env.

They are the defaults behind the SecretProviderClass parameters (see :mod:`gateway_vault.connection`)
plus what only an operator may set: the dev-only token auth, timeouts, retries and cache sizes.
The names are a stable interface (the Helm chart exposes them); docs/vault.md lists them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from gateway.errors import StartupError
from gateway.settings import PluginOption, Settings

AUTH_METHODS = ("kubernetes", "jwt")
TOKEN_AUTH = "token"
KV_VERSIONS = ("auto", "1", "2")

OPTIONS: dict[str, PluginOption] = {
    option.name: option
    for option in (
        PluginOption("vault-address", "default Vault address when an SPC sets no vaultAddress (e.g. https://vault.vault:8200)"),
        PluginOption("vault-namespace", "default Vault namespace (SPC: vaultNamespace)"),
        PluginOption("vault-auth-method", "default auth method: kubernetes or jwt (token only with --vault-allow-token-auth)", default="kubernetes"),
        PluginOption("vault-auth-mount-path", "default auth mount path (SPC: vaultAuthMountPath); empty: the method's name"),
        PluginOption("vault-role", "default Vault role (SPC: roleName)"),
        PluginOption("vault-audience", "default service-account token audience (SPC: audience)"),
        PluginOption("vault-ca-cert", "PEM file of the CA that signs Vault's certificate (SPC: vaultCACertPath)"),
        PluginOption("vault-skip-tls-verify", "skip TLS verification by default: true or false (SPC: vaultSkipTLSVerify)", default="false"),
        PluginOption("vault-allow-token-auth", "DEV ONLY: allow auth method 'token' with --vault-token (never for production)", default="false"),
        PluginOption("vault-token", "DEV ONLY: the Vault token for auth method 'token'; sent only to --vault-address"),
        PluginOption("vault-kv-version", "KV engine version when an object sets no kvVersion: auto (ask Vault), 1 or 2", default="auto"),
        PluginOption("vault-request-timeout", "seconds per Vault HTTP request; keep (retries+1) x timeout below --backend-timeout", default="3"),
        PluginOption("vault-retries", "retries of a failed Vault request (5xx, sealed, unreachable) before failing over", default="2"),
        PluginOption("vault-max-parallel", "Vault HTTP requests in flight at once (thread pool size)", default="16"),
        PluginOption("vault-token-cache-size", "Vault tokens cached (one per identity and role); 0 disables caching", default="1000"),
        PluginOption("vault-mount-cache-ttl", "seconds a KV mount's detected version is remembered", default="300"),
    )
}


@dataclass(frozen=True)
class VaultConfig:
    """The plugin's server settings, validated once at startup."""

    address: str = ""
    namespace: str = ""
    auth_method: str = "kubernetes"
    auth_mount_path: str = ""
    role: str = ""
    audience: str = ""
    ca_cert: str = ""
    skip_tls_verify: bool = False
    allow_token_auth: bool = False
    token: str = field(default="", repr=False)
    kv_version: str = "auto"
    request_timeout: float = 3.0
    retries: int = 2
    max_parallel: int = 16
    token_cache_size: int = 1000
    mount_cache_ttl: float = 300.0

    def __post_init__(self) -> None:
        allowed = AUTH_METHODS + ((TOKEN_AUTH,) if self.allow_token_auth else ())
        if self.auth_method not in allowed:
            hint = " (token auth needs --vault-allow-token-auth=true)" if self.auth_method == TOKEN_AUTH else ""
            raise StartupError(f"--vault-auth-method must be one of {', '.join(allowed)}, got {self.auth_method!r}{hint}")
        if self.allow_token_auth and not self.token:
            raise StartupError("--vault-allow-token-auth=true needs --vault-token")
        if self.kv_version not in KV_VERSIONS:
            raise StartupError(f"--vault-kv-version must be one of {', '.join(KV_VERSIONS)}, got {self.kv_version!r}")

    @classmethod
    def from_settings(cls, settings: Settings) -> VaultConfig:
        """Read every ``vault-*`` option (defaults from :data:`OPTIONS`); raise StartupError on bad values."""

        def text(name: str) -> str:
            return settings.option(name, OPTIONS[name].default).strip()

        return cls(
            address=text("vault-address").rstrip("/"),
            namespace=text("vault-namespace").strip("/"),
            auth_method=text("vault-auth-method").lower(),
            auth_mount_path=text("vault-auth-mount-path"),
            role=text("vault-role"),
            audience=text("vault-audience"),
            ca_cert=text("vault-ca-cert"),
            skip_tls_verify=_flag("vault-skip-tls-verify", text("vault-skip-tls-verify")),
            allow_token_auth=_flag("vault-allow-token-auth", text("vault-allow-token-auth")),
            token=text("vault-token"),
            kv_version=text("vault-kv-version").lower(),
            request_timeout=_number("vault-request-timeout", text("vault-request-timeout"), minimum=0.001),
            retries=int(_number("vault-retries", text("vault-retries"), minimum=0, integer=True)),
            max_parallel=int(_number("vault-max-parallel", text("vault-max-parallel"), minimum=1, integer=True)),
            token_cache_size=int(_number("vault-token-cache-size", text("vault-token-cache-size"), minimum=0, integer=True)),
            mount_cache_ttl=_number("vault-mount-cache-ttl", text("vault-mount-cache-ttl"), minimum=0),
        )


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


def _number(name: str, value: str, *, minimum: float, integer: bool = False) -> float:
    try:
        number = int(value) if integer else float(value)
    except ValueError:
        number = math.nan
    if math.isnan(number) or math.isinf(number) or number < minimum:
        kind = "an integer" if integer else "a number"
        raise StartupError(f"--{name} must be {kind} >= {minimum:g}, got {value!r}")
    return number
