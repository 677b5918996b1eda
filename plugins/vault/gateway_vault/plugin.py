"""Hook implementations of the ``vault`` plugin: its ``--vault-*`` options, the ``vault`` backend and
the vault-csi-provider dialect."""

from __future__ import annotations

from gateway.backend import BackendRegistry
from gateway.hookspecs import hookimpl
from gateway.metrics import Metrics
from gateway.options import OptionRegistry
from gateway.settings import Settings
from gateway_vault.backend import VaultBackend
from gateway_vault.options import OPTIONS, VaultConfig
from gateway_vault.spc_dialect import gateway_register_dialects

__all__ = ["gateway_add_options", "gateway_register_backends", "gateway_register_dialects"]  # the dialect's hook is spc_dialect's


@hookimpl
def gateway_add_options(options: OptionRegistry) -> None:
    for option in OPTIONS:
        options.add(option)


@hookimpl
def gateway_register_backends(registry: BackendRegistry, settings: Settings, metrics: Metrics) -> None:
    registry.add(VaultBackend(VaultConfig.from_settings(settings), metrics))
