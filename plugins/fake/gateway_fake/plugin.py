"""Hook implementations registering the ``fake`` backend."""

from __future__ import annotations

from pathlib import Path

from gateway.backend import BackendRegistry
from gateway.hookspecs import hookimpl
from gateway.metrics import Metrics
from gateway.settings import OptionRegistry, PluginOption, Settings
from gateway_fake.backend import FakeBackend

STORE_OPTION = "fake-store"


@hookimpl
def gateway_add_options(options: OptionRegistry) -> None:
    options.add(PluginOption(STORE_OPTION, help="YAML/JSON file with the fake backend's secrets (re-read on change)"))


@hookimpl
def gateway_register_backends(registry: BackendRegistry, settings: Settings, metrics: Metrics) -> None:
    path = settings.option(STORE_OPTION)
    registry.add(FakeBackend(Path(path) if path else None, metrics))
