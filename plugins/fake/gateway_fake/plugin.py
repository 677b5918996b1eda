"""Hook implementations registering the ``fake`` backend."""

from __future__ import annotations

from pathlib import Path

from gateway.plugin import BackendRegistry, Metrics, Option, OptionRegistry, Settings, hookimpl
from gateway_fake.backend import FakeBackend

GATEWAY_PLUGIN_API = 1  # the plugin API this plugin is written for (gateway.plugin)

STORE = Option[Path | None](
    "fake-store", Path, None, "YAML/JSON file with the fake backend's secrets (re-read on change); none: an empty store"
)


@hookimpl
def gateway_add_options(options: OptionRegistry) -> None:
    options.add(STORE)


@hookimpl
def gateway_register_backends(registry: BackendRegistry, settings: Settings, metrics: Metrics) -> None:
    registry.add(FakeBackend(settings.option(STORE), metrics))
