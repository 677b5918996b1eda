"""How the ``vault`` backend reads an object: vault-csi-provider's rules, or our stricter native ones.

The server answering as provider ``vault`` (``--provider-name vault``) serves classes written for
hashicorp/vault-csi-provider, so it reads them exactly as that provider does; a class may choose
with the core's parameter ``dialect`` (``vault-csi-provider`` or ``secrets-gateway``). Otherwise the
native rules apply; they differ only where vault-csi-provider's behaviour surprises (docs/vault.md,
"vault-csi-provider compatibility", gives the reason for each).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway.plugin import DIALECT_PARAMETER, NATIVE_NAME

VAULT_PROVIDER_NAME = "vault"
VAULT_CSI_PROVIDER_NAME = "vault-csi-provider"  # also the name of the core's dialect (gateway_vault.spc_dialect)


@dataclass(frozen=True)
class VaultDialect:
    name: str
    #: the token audience used when a class sets no ``audience`` ("": the token for "" or the only token)
    default_audience: str
    #: no ``secretKey``: the whole Vault response (True) or just the secret's data map (False)
    whole_response: bool
    #: ``method`` is sent to Vault as written (LIST, DELETE, ...) instead of only GET or POST/PUT
    any_method: bool
    #: ``secretPath`` may carry a query string (``secret/data/x?version=1``)
    query_in_path: bool
    #: ``secretArgs`` on a GET become query parameters (False: they are not sent, as Vault ignores a GET body)
    get_args_as_query: bool
    #: the objects' default ``kvVersion`` when the server sets none: "auto" (detect KV v2) or "1" (path as written)
    kv_version: str
    #: ``vaultSkipTLSVerify: "true"`` at any level wins and "false" never undoes it (False: the class's value decides)
    sticky_skip_verify: bool
    #: JSON written like Go's encoding/json (``<``, ``>``, ``&``, U+2028/9 escaped)
    go_json: bool
    #: when the driver sends no token for the audience, ask the Kubernetes TokenRequest API for one
    request_tokens: bool
    #: the address when neither class, option nor VAULT_ADDR gives one ("": vaultAddress is required)
    default_address: str


NATIVE = VaultDialect(
    NATIVE_NAME,
    default_audience="",
    whole_response=False,
    any_method=False,
    query_in_path=False,
    get_args_as_query=True,
    kv_version="auto",
    sticky_skip_verify=False,
    go_json=False,
    request_tokens=False,
    default_address="",
)
VAULT_CSI_PROVIDER = VaultDialect(
    VAULT_CSI_PROVIDER_NAME,
    default_audience="vault",
    whole_response=True,
    any_method=True,
    query_in_path=True,
    get_args_as_query=False,
    kv_version="1",
    sticky_skip_verify=True,
    go_json=True,
    request_tokens=True,
    default_address="https://127.0.0.1:8200",  # the Vault Go client's default
)


def dialect_of(parameters: Mapping[str, str], provider_name: str) -> VaultDialect:
    """The dialect of one class: its ``dialect`` parameter when it names one of these two, else
    the provider name's (a class read in another backend's dialect gets the native Vault rules)."""
    named = parameters.get(DIALECT_PARAMETER, "").strip()
    for dialect in (VAULT_CSI_PROVIDER, NATIVE):
        if named == dialect.name:
            return dialect
    if named:
        return NATIVE
    return VAULT_CSI_PROVIDER if provider_name == VAULT_PROVIDER_NAME else NATIVE
