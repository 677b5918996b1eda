"""The vault-csi-provider dialect: SecretProviderClasses read as HashiCorp's vault-csi-provider reads them.

Chosen by ``--provider-name vault`` (or a class's parameter ``dialect: vault-csi-provider``).
vault-csi-provider decodes ``objects`` with Go's ``gopkg.in/yaml.v3`` into its ``Secret`` struct:

- string fields (``objectName``, ``secretPath``, ``secretKey``…) receive the scalar as written:
  ``yes`` stays ``"yes"``, ``0600`` stays ``"0600"``; ``secretArgs`` keeps yaml.v3's typed values;
- ``filePermission`` is an ``os.FileMode`` (an integer as yaml.v3 reads one, like Go's
  ``strconv.ParseInt(s, 0, 64)``): unquoted ``0644`` is octal (420), ``0o644`` too, ``420`` is
  decimal; ``0`` means the request's default mode. Deliberately more lenient: a quoted ``"0644"``,
  which vault-csi-provider refuses, is read the same way;
- the file is written at ``objectName``: a ``/`` makes a directory (no path translation);
- there is no ``objectType``: objects go to the ``vault`` backend.

Keys stay case-insensitive, as in every dialect (yaml.v3 matches ``objectName`` exactly; accepting
``objectname`` too changes no class vault-csi-provider accepts).

How the ``vault`` backend then reads its own keys is the backend's business (:mod:`gateway_vault.query`).
"""

from __future__ import annotations

from gateway.plugin import GO_YAML_V3, Dialect, DialectRegistry, go_int, hookimpl, preview
from gateway_vault.dialect import VAULT_CSI_PROVIDER_NAME, VAULT_PROVIDER_NAME


class VaultCsiProviderDialect(Dialect):
    name = VAULT_CSI_PROVIDER_NAME
    description = "HashiCorp vault-csi-provider's: yaml.v3, filePermission 0644 (octal) or 420, '/' makes directories, objectType vault"
    provider_names = (VAULT_PROVIDER_NAME,)
    yaml = GO_YAML_V3
    translation_default = None
    default_object_type = "vault"

    def file_permission(self, text: str) -> int | None:
        try:
            mode = go_int(text.strip())
        except ValueError:
            raise ValueError(f'filePermission must be a mode such as 0644 (octal), 0o644 or 420 (decimal), got "{preview(text)}"') from None
        return mode or None


@hookimpl
def gateway_register_dialects(registry: DialectRegistry) -> None:
    registry.add(VaultCsiProviderDialect())
