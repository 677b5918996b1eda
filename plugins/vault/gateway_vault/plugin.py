"""Hook implementations of the ``vault`` plugin: its ``--vault-*`` options and the ``vault`` backend."""

from __future__ import annotations

from gateway.backend import BackendRegistry
from gateway.hookspecs import hookimpl
from gateway.metrics import Metrics
from gateway.settings import OptionRegistry, Settings
from gateway_vault.backend import VaultBackend
from gateway_vault.options import OPTIONS, VaultConfig


@hookimpl
def gateway_add_options(options: OptionRegistry) -> None:
    for option in OPTIONS.values():
        options.add(option)


@hookimpl
def gateway_register_backends(registry: BackendRegistry, settings: Settings, metrics: Metrics) -> None:
    registry.add(VaultBackend(VaultConfig.from_settings(settings), metrics))
