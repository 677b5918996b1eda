"""How one mount talks to Vault: address, namespace, TLS and login, from SPC parameters over server defaults.

The SecretProviderClass parameters keep vault-csi-provider's names; each falls back to the
matching ``--vault-*`` server option (:class:`~gateway_vault.options.VaultConfig`).
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.errors import InvalidArgument
from gateway_vault.options import AUTH_METHODS, TOKEN_AUTH, VaultConfig, parse_bool

ADDRESS = "vaultAddress"
FAILOVER_ADDRESSES = "vaultFailoverAddress"
NAMESPACE = "vaultNamespace"
ROLE = "roleName"
AUTH_METHOD = "vaultAuthMethod"
AUTH_MOUNT_PATH = "vaultAuthMountPath"
KUBERNETES_MOUNT_PATH = "vaultKubernetesMountPath"  # vault-csi-provider's older name
AUDIENCE = "audience"
CA_CERT = "vaultCACertPath"
SKIP_TLS_VERIFY = "vaultSkipTLSVerify"


@dataclass(frozen=True)
class AuthSpec:
    """How to obtain a Vault token: ``method`` at ``auth/<mount>`` for ``role`` with the ``audience`` token."""

    method: str
    mount: str = ""
    role: str = ""
    audience: str = ""

    def describe(self) -> str:
        """How messages name the identity used (never the token)."""
        if self.method == TOKEN_AUTH:
            return "the dev token (--vault-token)"
        return f'role "{self.role}" (auth/{self.mount})'


@dataclass(frozen=True)
class Connection:
    address: str
    namespace: str
    verify: bool | str  # True, False (skip) or the CA bundle path
    auth: AuthSpec


def address_problem(address: str) -> str | None:
    """Why ``address`` is not a usable Vault address (``http(s)://host[:port]``), or None."""
    try:
        parts = urllib.parse.urlsplit(address)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "is not a URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be http(s)://host[:port]"
    if parts.username or parts.password or parts.query or parts.fragment or parts.path not in ("", "/"):
        return "must be just scheme, host and port (no path, query or credentials)"
    return None


def resolve(config: VaultConfig, parameters: Mapping[str, str], address: str) -> Connection:
    """The connection for ``address`` (one of the mount's locations); InvalidArgument names the parameter."""
    problem = address_problem(address)
    if problem:
        raise InvalidArgument(f'vault address "{address}" {problem}')
    auth = _auth(config, parameters)
    if auth.method == TOKEN_AUTH and address.rstrip("/") != config.address:
        raise InvalidArgument(
            f"the dev token (--vault-token) is only sent to --vault-address, not to {address}"
        )
    namespace = (parameters.get(NAMESPACE) or config.namespace).strip().strip("/")
    return Connection(address.rstrip("/"), namespace, _verify(config, parameters), auth)


def _auth(config: VaultConfig, parameters: Mapping[str, str]) -> AuthSpec:
    method = (parameters.get(AUTH_METHOD) or config.auth_method).strip().lower()
    allowed = AUTH_METHODS + ((TOKEN_AUTH,) if config.allow_token_auth else ())
    if method not in allowed:
        raise InvalidArgument(f'{AUTH_METHOD} must be one of {", ".join(allowed)}, got "{method}"')
    if method == TOKEN_AUTH:
        return AuthSpec(TOKEN_AUTH)
    role = (parameters.get(ROLE) or config.role).strip()
    if not role:
        raise InvalidArgument(f'no Vault role: set the SecretProviderClass parameter "{ROLE}" (or --vault-role)')
    audience = parameters.get(AUDIENCE, "").strip() or config.audience
    return AuthSpec(method, _mount_path(config, parameters, method), role, audience)


def _mount_path(config: VaultConfig, parameters: Mapping[str, str], method: str) -> str:
    """``vaultAuthMountPath``, else the legacy ``vaultKubernetesMountPath``, else the server default
    (when the method is the server's), else the method's name; ``auth/`` prefix and slashes dropped."""
    given = parameters.get(AUTH_MOUNT_PATH, "").strip()
    legacy = parameters.get(KUBERNETES_MOUNT_PATH, "").strip()
    if given and legacy and _clean_mount(given) != _clean_mount(legacy):
        raise InvalidArgument(f'{AUTH_MOUNT_PATH} "{given}" and {KUBERNETES_MOUNT_PATH} "{legacy}" disagree; set only one')
    server_default = config.auth_mount_path if method == config.auth_method else ""
    mount = _clean_mount(given or legacy or server_default or method)
    if not mount or any(part in ("", ".", "..") for part in mount.split("/")):
        raise InvalidArgument(f'{AUTH_MOUNT_PATH} "{given or legacy or server_default}" is not a valid auth mount path')
    return mount


def _clean_mount(path: str) -> str:
    path = path.strip().strip("/")
    return path.removeprefix("auth/")


def _verify(config: VaultConfig, parameters: Mapping[str, str]) -> bool | str:
    skip = config.skip_tls_verify
    raw_skip = parameters.get(SKIP_TLS_VERIFY, "").strip()
    if raw_skip:
        parsed = parse_bool(raw_skip)
        if parsed is None:
            raise InvalidArgument(f'{SKIP_TLS_VERIFY} must be "true" or "false", got "{raw_skip}"')
        skip = parsed
    ca_cert = parameters.get(CA_CERT, "").strip() or config.ca_cert
    if skip and ca_cert:
        raise InvalidArgument(f"{SKIP_TLS_VERIFY}=true conflicts with the CA certificate {ca_cert}; set only one")
    if skip:
        return False
    if ca_cert:
        if not os.path.isfile(ca_cert):
            raise InvalidArgument(f'{CA_CERT} "{ca_cert}" is not a readable file on the node')
        return ca_cert
    return True
