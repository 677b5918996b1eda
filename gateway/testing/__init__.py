"""Test helpers for the gateway and for third-party plugin authors.

- :func:`running_gateway`: a real gRPC server on a temporary unix socket, with the
  plugins or backend instances you give it, and a driver-like client connected to it.
- :func:`mount_request`: build a Mount request the way the driver would.
- :class:`gateway.testing.contract.BackendContract`: the contract test suite every
  backend must pass (subclass it in your plugin's tests).
- :class:`gateway.testing.kube.FakeKubernetes`: a small real HTTP server answering the
  Kubernetes API calls plugins make (ServiceAccount, Pod, Node, TokenReview).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from gateway.app import Gateway, build_gateway
from gateway.backend import Backend, BackendRegistry
from gateway.client import DriverClient, MountFailure
from gateway.hookspecs import hookimpl
from gateway.manifests import PodContext, SpcDocument, driver_attributes
from gateway.metrics import Metrics
from gateway.plugins import load_plugins
from gateway.request import RawMountRequest
from gateway.server import GatewayServer
from gateway.settings import Settings

__all__ = [
    "DriverClient",
    "MountFailure",
    "PodContext",
    "RawMountRequest",
    "RunningGateway",
    "backends_plugin",
    "mount_request",
    "running_gateway",
    "start_gateway",
]


def mount_request(
    objects: str | list[dict[str, Any]] | None = None,
    parameters: dict[str, str] | None = None,
    *,
    pod: PodContext | None = None,
    permission: str = "420",
    secrets: str = "{}",
    spc_name: str = "test-spc",
    current_versions: Sequence[tuple[str, str]] = (),
) -> RawMountRequest:
    """A Mount request as the driver builds it from SecretProviderClass parameters and a pod."""
    merged = dict(parameters or {})
    if objects is not None:
        merged["objects"] = objects if isinstance(objects, str) else yaml.safe_dump(objects, sort_keys=False)
    attributes = driver_attributes(SpcDocument(spc_name, "", "", merged), pod or PodContext())
    return RawMountRequest(json.dumps(attributes), secrets, permission, "/var/lib/kubelet/pods/x/volumes/y", tuple(current_versions))


class backends_plugin:
    """A plugin object that registers the given backend instances."""

    def __init__(self, *backends: Backend) -> None:
        self.backends = backends

    @hookimpl
    def gateway_register_backends(self, registry: BackendRegistry) -> None:
        for backend in self.backends:
            registry.add(backend)


@dataclass
class RunningGateway:
    gateway: Gateway
    server: GatewayServer
    client: DriverClient

    @property
    def socket_path(self) -> Path:
        return self.server.socket.path

    @property
    def metrics(self) -> Metrics:
        return self.gateway.metrics

    async def mount(self, request: RawMountRequest, timeout: float | None = None) -> Any:
        return await self.client.mount(request, timeout=timeout)


def start_gateway(
    plugins: Sequence[tuple[str, object]] = (),
    *,
    backends: Sequence[Backend] = (),
    settings: Settings | None = None,
    discover: bool = False,
    providers_dir: Path | None = None,
) -> Gateway:
    """Build (not start) a gateway from plugins and/or backend instances, on a short temp socket path."""
    extra = list(plugins)
    if backends:
        extra.append(("test-backends", backends_plugin(*backends)))
    base = settings or Settings()
    directory = providers_dir or Path(tempfile.mkdtemp(prefix="sgw-", dir="/tmp"))
    base = replace(base, providers_dir=directory)
    return build_gateway(base, load_plugins(base.plugins, extra, discover=discover))


@asynccontextmanager
async def running_gateway(
    plugins: Sequence[tuple[str, object]] = (),
    *,
    backends: Sequence[Backend] = (),
    settings: Settings | None = None,
    discover: bool = False,
) -> AsyncIterator[RunningGateway]:
    """A started server on a temporary socket plus a connected :class:`DriverClient`."""
    directory = Path(tempfile.mkdtemp(prefix="sgw-", dir="/tmp"))
    gateway = start_gateway(plugins, backends=backends, settings=settings, discover=discover, providers_dir=directory)
    server = GatewayServer.of(gateway)
    await server.start()
    client = DriverClient(server.socket.path)
    try:
        yield RunningGateway(gateway, server, client)
    finally:
        await client.close()
        await server.stop()
        shutil.rmtree(directory, ignore_errors=True)
