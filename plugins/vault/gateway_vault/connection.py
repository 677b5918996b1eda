"""How one mount talks to Vault: address, namespace, TLS and login, from SPC parameters over server defaults.

The SecretProviderClass parameters keep vault-csi-provider's names; each falls back to the
matching ``--vault-*`` server option (:class:`~gateway_vault.options.VaultConfig`).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.plugin import POD_NAMESPACE, InvalidArgument, PermissionDenied, parse_bool, preview
from gateway_vault.allowlist import allows
from gateway_vault.dialect import NATIVE, VaultDialect, dialect_of
from gateway_vault.options import AUTH_METHODS, TOKEN_AUTH, VaultConfig
from gateway_vault.tls import TlsSettings, check_files

ADDRESS = "vaultAddress"
FAILOVER_ADDRESSES = "vaultFailoverAddress"
NAMESPACE = "vaultNamespace"
ROLE = "roleName"
AUTH_METHOD = "vaultAuthMethod"
AUTH_MOUNT_PATH = "vaultAuthMountPath"
KUBERNETES_MOUNT_PATH = "vaultKubernetesMountPath"  # vault-csi-provider's older name
AUDIENCE = "audience"
CA_CERT = "vaultCACertPath"
CA_DIRECTORY = "vaultCADirectory"
TLS_SERVER_NAME = "vaultTLSServerName"
CLIENT_CERT = "vaultTLSClientCertPath"
CLIENT_KEY = "vaultTLSClientKeyPath"
SKIP_TLS_VERIFY = "vaultSkipTLSVerify"
TLS_PARAMETERS = {"ca_file": CA_CERT, "ca_directory": CA_DIRECTORY, "client_cert": CLIENT_CERT, "client_key": CLIENT_KEY}
PARAMETERS = frozenset({
    ADDRESS, FAILOVER_ADDRESSES, NAMESPACE, ROLE, AUTH_METHOD, AUTH_MOUNT_PATH, KUBERNETES_MOUNT_PATH, AUDIENCE,
    CA_CERT, CA_DIRECTORY, TLS_SERVER_NAME, CLIENT_CERT, CLIENT_KEY, SKIP_TLS_VERIFY,
})
_BY_LOWER = {name.lower(): name for name in PARAMETERS}


def unknown_parameters(parameters: Mapping[str, str]) -> list[str]:
    """Class parameters meant for Vault that this backend does not read: names starting with
    ``vault`` it does not know, and known names spelled in another case (parameters are case-sensitive).
    Other parameters may belong to the core or to another backend of a mixed class. The core warns
    about them (``Backend.unknown_parameters``), or refuses the mount under ``--strict-objects``."""
    found = []
    for name in parameters:
        lowered = name.lower()
        if name in PARAMETERS or "/" in name:
            continue
        if lowered in _BY_LOWER:
            found.append(f'"{preview(name)}" (did you mean "{_BY_LOWER[lowered]}"?)')
        elif lowered.startswith("vault"):
            found.append(f'"{preview(name)}"')
    return sorted(found)


@dataclass(frozen=True)
class AuthSpec:
    """How to obtain a Vault token: ``method`` at ``auth/<mount>`` for ``role`` with the ``audience`` token."""

    method: str
    mount: str = ""
    role: str = ""
    audience: str = ""
    audience_defaulted: bool = False  # the dialect's default ("vault"): a requested token then gets the API server's default audience
    request_tokens: bool = False  # no token for the audience in the request: ask the TokenRequest API

    def describe(self) -> str:
        """How messages name the identity used (never the token)."""
        if self.method == TOKEN_AUTH:
            return "the dev token (--vault-token)"
        return f'role "{self.role}" (auth/{self.mount})'


@dataclass(frozen=True)
class Connection:
    address: str
    namespace: str
    tls: TlsSettings
    auth: AuthSpec
    tenant: str = ""  # the pod's namespace: whose share of the Vault requests this uses
    dialect: VaultDialect = NATIVE  # how the class's Vault objects are read and written


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
    """The connection for ``address`` (one of the mount's locations), in the class's dialect;
    InvalidArgument names the parameter."""
    dialect = dialect_of(parameters, config.provider_name)
    problem = address_problem(address)
    if problem:
        raise InvalidArgument(f'vault address "{address}" {problem}')
    if not allows(config.allowed_addresses, address):
        raise PermissionDenied(f'vault address "{address}" is not allowed on this node (--vault-allowed-addresses)', reason="AddressNotAllowed")
    auth = _auth(config, parameters, dialect)
    if auth.method == TOKEN_AUTH and address.rstrip("/") != config.address:
        raise InvalidArgument(
            f"the dev token (--vault-token) is only sent to --vault-address, not to {address}"
        )
    namespace = (parameters.get(NAMESPACE) or config.namespace).strip().strip("/")
    if not namespace.isprintable():
        raise InvalidArgument(f'{NAMESPACE} "{preview(namespace)}" holds control characters')
    tls = _tls(config, parameters, dialect)
    return Connection(address.rstrip("/"), namespace, tls, auth, parameters.get(POD_NAMESPACE, ""), dialect)


def _auth(config: VaultConfig, parameters: Mapping[str, str], dialect: VaultDialect) -> AuthSpec:
    method = (parameters.get(AUTH_METHOD) or config.auth_method).strip().lower()
    allowed = AUTH_METHODS + ((TOKEN_AUTH,) if config.allow_token_auth else ())
    if method not in allowed:
        raise InvalidArgument(f'{AUTH_METHOD} must be one of {", ".join(allowed)}, got "{method}"')
    if method == TOKEN_AUTH:
        return AuthSpec(TOKEN_AUTH)
    role = (parameters.get(ROLE) or config.role).strip()
    if not role:
        raise InvalidArgument(f'no Vault role: set the SecretProviderClass parameter "{ROLE}" (or --vault-role)')
    given = parameters.get(AUDIENCE, "").strip() or config.audience
    return AuthSpec(
        method, _mount_path(config, parameters, method), role, given or dialect.default_audience,
        audience_defaulted=not given and bool(dialect.default_audience), request_tokens=config.requests_tokens(dialect.request_tokens),
    )


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


def _tls(config: VaultConfig, parameters: Mapping[str, str], dialect: VaultDialect) -> TlsSettings:
    """Class parameters over server options, as vault-csi-provider layers them: a CA file or
    directory in the class replaces the server's CA; the client certificate and key come as a pair.

    ``vaultSkipTLSVerify: "true"`` wins over any CA. In the vault-csi-provider dialect a true skip
    at either level wins and "false" never undoes the server's; natively the class's value decides,
    and a class that sets both skip and a CA is refused as contradictory."""
    text = {name: parameters.get(name, "").strip() for name in (CA_CERT, CA_DIRECTORY, TLS_SERVER_NAME, CLIENT_CERT, CLIENT_KEY, SKIP_TLS_VERIFY)}
    class_skip = None
    if text[SKIP_TLS_VERIFY]:
        try:
            class_skip = parse_bool(text[SKIP_TLS_VERIFY])
        except ValueError:
            raise InvalidArgument(f'{SKIP_TLS_VERIFY} must be "true" or "false", got "{text[SKIP_TLS_VERIFY]}"') from None
    class_ca = text[CA_CERT] or text[CA_DIRECTORY]
    if dialect.sticky_skip_verify:  # vault-csi-provider only ever switches InsecureSkipVerify on
        skip = config.skip_tls_verify or bool(class_skip)
    else:
        if class_skip and class_ca:
            raise InvalidArgument(f"{SKIP_TLS_VERIFY}=true conflicts with {CA_CERT if text[CA_CERT] else CA_DIRECTORY}; set only one")
        skip = class_skip if class_skip is not None else config.skip_tls_verify and not class_ca
    if bool(text[CLIENT_CERT]) != bool(text[CLIENT_KEY]):
        raise InvalidArgument(f"{CLIENT_CERT} and {CLIENT_KEY} must be set together")
    ca_file, ca_directory = (text[CA_CERT], text[CA_DIRECTORY]) if class_ca else (config.ca_cert, config.ca_directory)
    client = (text[CLIENT_CERT], text[CLIENT_KEY]) if text[CLIENT_CERT] else (config.tls_client_cert, config.tls_client_key)
    tls = TlsSettings(ca_file, ca_directory, text[TLS_SERVER_NAME] or config.tls_server_name, *client, skip_verify=skip)
    check_files(tls, TLS_PARAMETERS)
    return tls
