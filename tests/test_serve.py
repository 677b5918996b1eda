"""``serve``'s start sequence in process: the socket answers while the plugins load and while they warm up.

The real server on a temporary socket, a real gRPC channel; plugins that hold the start at a gate show the order.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import tempfile
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import pytest

from gateway import hookimpl
from gateway.app import Gateway, build_gateway
from gateway.backend import BackendRegistry
from gateway.client import DriverClient, MountFailure
from gateway.errors import StartupError
from gateway.looplag import LoopLagMonitor
from gateway.metrics import Metrics
from gateway.plugins import load_plugins
from gateway.serve import serve
from gateway.settings import Settings
from gateway.testing import mount_request
from tests.support import ScriptedBackend

REQUEST = mount_request([{"objectName": "c", "objectType": "fake"}])
GATE_SECONDS = 30.0  # a gate that is never opened fails the test instead of hanging it


class GatedPlugin:
    """Registers the backend once ``loading`` opens and warms up until ``warming`` opens, busy on the interpreter."""

    def __init__(self) -> None:
        self.loading, self.warming = threading.Event(), threading.Event()
        self.warm_up_began, self.warmed = threading.Event(), threading.Event()

    @hookimpl
    def gateway_register_backends(self, registry: BackendRegistry) -> None:
        assert self.loading.wait(GATE_SECONDS)
        registry.add(ScriptedBackend(name="fake", values={"c": (b"gamma", "v3")}))

    @hookimpl
    def gateway_server_started(self) -> None:
        self.warm_up_began.set()
        while not self.warming.is_set():  # like an import: Python work that holds the interpreter lock in turns
            sum(range(10_000))
        self.warmed.set()


@asynccontextmanager
async def serving(
    plugin: object, build: Callable[[Metrics], Gateway] | None = None, *, warm_up: bool = True,
) -> AsyncIterator[tuple[DriverClient, asyncio.Task[None]]]:
    """``serve`` as a task, a client on its socket; when the block ends, SIGTERM (as the kubelet sends it) if still serving."""
    settings = Settings(providers_dir=Path(tempfile.mkdtemp(prefix="sgw-", dir="/tmp")), warm_up=warm_up)
    task = asyncio.create_task(serve(settings, None, build or (lambda metrics: build_gateway(
        settings, load_plugins(None, [("gated", plugin)], discover=False), metrics))))
    while not settings.socket_path.exists():
        assert not task.done(), task
        await asyncio.sleep(0.01)
    try:
        async with DriverClient(settings.socket_path) as client:
            yield client, task
    finally:
        if not task.done():  # serve's own handler takes it
            signal.raise_signal(signal.SIGTERM)
        await asyncio.wait({task}, timeout=GATE_SECONDS)
        assert task.done() and not settings.socket_path.exists()


async def test_the_socket_answers_while_the_plugins_load_and_a_mount_waits_for_them() -> None:
    plugin = GatedPlugin()
    plugin.warming.set()
    async with serving(plugin) as (client, task):
        assert (await client.version()).version == "v1alpha1"
        mount = asyncio.create_task(client.mount(REQUEST))
        await asyncio.sleep(0.2)
        assert not mount.done()  # waiting for the pipeline, not refused
        plugin.loading.set()
        result = await asyncio.wait_for(mount, GATE_SECONDS)
    assert task.exception() is None
    assert [(f.path, f.contents) for f in result.files] == [("c", b"gamma")]


async def test_the_socket_serves_while_the_plugins_warm_up_without_stalling_the_loop() -> None:
    plugin = GatedPlugin()
    plugin.loading.set()
    async with serving(plugin) as (client, task):
        assert await asyncio.to_thread(plugin.warm_up_began.wait, GATE_SECONDS)
        async with LoopLagMonitor() as lag:
            for _ in range(20):
                assert (await client.version()).version == "v1alpha1"
                assert len((await client.mount(REQUEST)).files) == 1
        assert not plugin.warmed.is_set()
        plugin.warming.set()
    assert task.exception() is None
    assert lag.samples > 0 and lag.max_lag < 0.5, lag.max_lag  # the interpreter lock is shared in turns, never held


async def test_without_warm_up_the_plugins_warm_up_hook_is_not_called() -> None:
    plugin = GatedPlugin()
    plugin.loading.set()
    async with serving(plugin, warm_up=False) as (client, task):
        assert len((await client.mount(REQUEST)).files) == 1  # the pipeline is attached: a warm-up would start now
        began = await asyncio.to_thread(plugin.warm_up_began.wait, 0.5)
    assert task.exception() is None
    assert not began  # a backend's first mount loads its library instead (--warm-up off, the default)


class FailingStart:
    """Stands for a start that fails once the socket is up (an unknown plugin flag, no backend)."""

    def __init__(self) -> None:
        self.gate = threading.Event()

    def build(self, metrics: Metrics) -> Gateway:
        assert self.gate.wait(GATE_SECONDS)
        raise StartupError("no backends registered: plugin broken failed at import")


async def test_a_start_that_fails_behind_the_socket_answers_waiting_mounts_and_withdraws_it() -> None:
    start = FailingStart()
    async with serving(start, start.build) as (client, task):
        mount = asyncio.create_task(client.mount(REQUEST))
        await asyncio.sleep(0.2)
        start.gate.set()
        with pytest.raises(MountFailure) as failure:
            await asyncio.wait_for(mount, GATE_SECONDS)
        await asyncio.wait({task}, timeout=GATE_SECONDS)  # serve ends by itself
    assert isinstance(task.exception(), StartupError)
    assert failure.value.code == grpc.StatusCode.UNAVAILABLE
    assert failure.value.message == "secrets-gateway could not start: no backends registered: plugin broken failed at import"


def test_a_failing_warm_up_is_logged_and_the_plugin_keeps_serving(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        @hookimpl
        def gateway_register_backends(self, registry: BackendRegistry) -> None:
            registry.add(ScriptedBackend(name="fake"))

        @hookimpl
        def gateway_server_started(self, settings: Settings) -> None:
            raise RuntimeError("no model files")

    plugins = load_plugins(None, [("broken", Broken())], discover=False)
    gateway = build_gateway(Settings(), plugins)
    with caplog.at_level(logging.WARNING, logger="gateway.plugins"):
        plugins.server_started(gateway.settings)
    assert "plugin broken: warm-up failed (its first mount does the work instead)" in caplog.text
    assert [info.name for info in plugins.loaded] == ["broken"] and not plugins.failures
    assert gateway.backends.names() == ["fake"]
