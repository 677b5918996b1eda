"""Server settings: one frozen object built by the CLI (flags > environment > defaults)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gateway.model import frozen_mapping

DEFAULT_PROVIDERS_DIR = Path("/var/run/secrets-store-csi-providers")
DEFAULT_PROVIDER_NAME = "secrets-gateway"
PROVIDER_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,30}$")  # the driver's rule for spec.provider
DRIVER_MAX_RECEIVE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class PluginOption:
    """A server setting a plugin declares (``gateway_add_options``): ``--<name>`` / ``$<env>``."""

    name: str
    help: str
    env: str = ""
    default: str = ""

    @property
    def env_var(self) -> str:
        return self.env or "SECRETS_GATEWAY_" + self.name.upper().replace("-", "_")


class OptionRegistry:
    """Collects plugin options at startup; the CLI turns them into flags."""

    def __init__(self) -> None:
        self.options: dict[str, PluginOption] = {}

    def add(self, option: PluginOption) -> None:
        if option.name in self.options:
            raise ValueError(f"plugin option --{option.name} is declared twice")
        self.options[option.name] = option


@dataclass(frozen=True)
class Settings:
    providers_dir: Path = DEFAULT_PROVIDERS_DIR
    provider_name: str = DEFAULT_PROVIDER_NAME
    socket_mode: int = 0o600
    grace_period: float = 10.0
    mount_timeout: float = 30.0
    backend_timeout: float = 10.0
    max_parallel_calls: int = 32
    max_concurrent_mounts: int = 64
    max_mounts_per_namespace: int = 32  # fair share: one namespace's burst leaves slots for the others
    max_queued_mounts: int = 1024  # waiting mounts; past that the longest queue is answered Unavailable
    max_objects: int = 1000
    max_value_bytes: int = DRIVER_MAX_RECEIVE_BYTES
    max_response_bytes: int = DRIVER_MAX_RECEIVE_BYTES
    max_request_bytes: int = 16 * 1024 * 1024
    strict_objects: bool = False
    default_object_type: str = ""  # routes objects without objectType that no backend claims; SPC parameter defaultObjectType wins
    http_address: str = ":8095"  # /metrics, /healthz, /readyz on every interface, IPv4 and IPv6; empty disables
    cache_ttl: float = 0.0  # node-local fetch cache; 0 = off (see gateway.cache)
    cache_backends: frozenset[str] | None = None  # None = every backend, when cache_ttl > 0
    cache_max_entries: int = 10_000
    plugins: frozenset[str] | None = None  # allow-list of plugin names; None = every installed plugin
    plugin_options: Mapping[str, str] = field(default_factory=lambda: frozen_mapping({}))

    @property
    def socket_path(self) -> Path:
        return self.providers_dir / f"{self.provider_name}.sock"

    def option(self, name: str, default: str = "") -> str:
        """A plugin option's value (``--fake-store`` → ``option("fake-store")``)."""
        return self.plugin_options.get(name, "") or default
