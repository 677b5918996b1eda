"""Hook implementations of the ``vault`` plugin: its ``--vault-*`` options, the ``vault`` backend and
the vault-csi-provider dialect."""

from __future__ import annotations

from gateway.plugin import BackendRegistry, Metrics, OptionRegistry, Settings, hookimpl
from gateway_vault.backend import VaultBackend
from gateway_vault.options import OPTIONS, VaultConfig
from gateway_vault.spc_dialect import gateway_register_dialects

GATEWAY_PLUGIN_API = 1  # the plugin API this plugin is written for (gateway.plugin)

__all__ = ["gateway_add_options", "gateway_register_backends", "gateway_register_dialects"]  # the dialect's hook is spc_dialect's


@hookimpl
def gateway_add_options(options: OptionRegistry) -> None:
    for option in OPTIONS:
        options.add(option)


@hookimpl
def gateway_register_backends(registry: BackendRegistry, settings: Settings, metrics: Metrics) -> None:
    registry.add(VaultBackend(VaultConfig.from_settings(settings), metrics))
