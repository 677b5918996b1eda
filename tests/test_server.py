"""The real gRPC server over a temporary unix socket: RPCs, statuses, socket life, shutdown."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import grpc
import pytest

from gateway import __version__
from gateway.client import DriverClient, MountFailure
from gateway.errors import PermissionDenied, StartupError, Unavailable
from gateway.server import GatewayServer
from gateway.settings import Settings
from gateway.testing import mount_request, running_gateway, start_gateway
from tests.support import ScriptedBackend

VALUES = {"a/b": (b"alpha", "v1"), "c": (b"gamma", "v3"), "big": (b"x" * (3_500 * 1024), "v9")}


def backend(**kwargs: object) -> ScriptedBackend:
    return ScriptedBackend(name="fake", values=dict(VALUES), **kwargs)  # type: ignore[arg-type]


async def test_version() -> None:
    async with running_gateway(backends=[backend()], settings=Settings(provider_name="aws")) as gw:
        response = await gw.client.version()
    assert (response.version, response.runtime_name, response.runtime_version) == ("v1alpha1", "aws", __version__)


async def test_mount_returns_files_modes_and_versions() -> None:
    objects = [
        {"objectName": "a/b", "objectType": "fake", "filePermission": "0600"},
        {"objectName": "c", "objectType": "fake", "objectAlias": "dir/c"},
    ]
    async with running_gateway(backends=[backend()]) as gw:
        result = await gw.mount(mount_request(objects, {"pathTranslation": "False"}, permission="420"))
    assert [(f.path, f.mode, f.contents, f.version) for f in result.files] == [
        ("a/b", 0o600, b"alpha", "v1"),
        ("dir/c", 0o644, b"gamma", "v3"),
    ]


async def test_large_response_passes_the_drivers_limit() -> None:
    async with running_gateway(backends=[backend()]) as gw:
        result = await gw.mount(mount_request([{"objectName": "big", "objectType": "fake"}]))
    assert len(result.files[0].contents) == 3_500 * 1024


STATUSES = [
    pytest.param(
        mount_request([{"objectName": "zzz", "objectType": "fake"}]), {}, grpc.StatusCode.NOT_FOUND,
        'objects[0] "zzz" (fake @ here): no object "zzz"', id="not-found",
    ),
    pytest.param(
        mount_request([{"objectName": "x", "objectType": "nope"}]), {}, grpc.StatusCode.INVALID_ARGUMENT,
        'objects[0] "x": Invalid objectType: nope (backends loaded: fake)', id="invalid-argument",
    ),
    pytest.param(
        mount_request(None), {}, grpc.StatusCode.INVALID_ARGUMENT,
        'no objects to mount: the SecretProviderClass parameter "objects" is missing or empty', id="no-objects",
    ),
    pytest.param(
        mount_request([{"objectName": "c", "objectType": "fake"}]), {"errors": {"c": PermissionDenied("AccessDenied")}},
        grpc.StatusCode.PERMISSION_DENIED, "AccessDenied", id="permission-denied",
    ),
    pytest.param(
        mount_request([{"objectName": "c", "objectType": "fake"}]), {"errors": {"c": Unavailable("503")}},
        grpc.StatusCode.UNAVAILABLE, "503", id="unavailable",
    ),
    pytest.param(
        mount_request([{"objectName": "c", "objectType": "fake"}]), {"raises": RuntimeError("boom with secret")},
        grpc.StatusCode.INTERNAL, "backend fake failed unexpectedly (see provider log)", id="internal",
    ),
    pytest.param(
        mount_request([{"objectName": "c", "objectType": "fake"}], permission="x"), {}, grpc.StatusCode.INVALID_ARGUMENT,
        'permission "x" is not a JSON number', id="bad-permission",
    ),
]


@pytest.mark.parametrize(("request_", "script", "code", "message"), STATUSES)
async def test_error_statuses(request_, script, code, message) -> None:  # type: ignore[no-untyped-def]
    async with running_gateway(backends=[backend(**script)]) as gw:
        with pytest.raises(MountFailure) as caught:
            await gw.mount(request_)
        labels = {"grpc_type": "unary", "grpc_service": "v1alpha1.CSIDriverProvider", "grpc_method": "Mount",
                  "grpc_code": caught.value.code_name}
        for _ in range(200):  # gRPC sends the status before the handler's last lines (which count it) have run
            handled = gw.metrics.registry.get_sample_value("grpc_server_handled_total", labels)
            if handled is not None:
                break
            await asyncio.sleep(0.01)
    assert caught.value.code == code
    assert message in caught.value.message
    assert "secret" not in caught.value.message.replace("SecretProviderClass", "")
    assert handled == 1


async def test_malformed_attributes_over_the_wire() -> None:
    from gateway.request import RawMountRequest

    async with running_gateway(backends=[backend()]) as gw:
        with pytest.raises(MountFailure) as caught:
            await gw.mount(RawMountRequest("{not json", "null", "420", "/var/lib/kubelet/pods/x/volumes/y"))
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.message.startswith("failed to unmarshal attributes: attributes is not valid JSON")


async def test_client_deadline_becomes_deadline_exceeded_naming_pending_objects() -> None:
    async with running_gateway(backends=[backend(delay=30)]) as gw:
        with pytest.raises(MountFailure) as caught:
            await gw.mount(mount_request([{"objectName": "c", "objectType": "fake"}]), timeout=1.0)
    assert caught.value.code == grpc.StatusCode.DEADLINE_EXCEEDED


async def test_server_side_deadline_message() -> None:
    async with running_gateway(backends=[backend(delay=30)], settings=Settings(mount_timeout=0.2)) as gw:
        with pytest.raises(MountFailure) as caught:
            await gw.mount(mount_request([{"objectName": "c", "objectType": "fake"}]))
    assert caught.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert caught.value.message == 'mount deadline of 0.2s exceeded; still pending: objects[0] "c" (fake @ here)'


async def test_response_over_the_limit_is_resource_exhausted_with_sizes() -> None:
    settings = Settings(max_response_bytes=1024 * 1024)
    async with running_gateway(backends=[backend()], settings=settings) as gw:
        with pytest.raises(MountFailure) as caught:
            await gw.mount(mount_request([{"objectName": "big", "objectType": "fake"}]))
    assert caught.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "above the limit of 1048576 bytes" in caught.value.message and '"big" (3584000 bytes)' in caught.value.message


async def test_large_requests_are_accepted() -> None:
    # over gRPC's default 4 MiB receive limit, each JSON field within its limit (--max-parameter-bytes + 512 KiB)
    fillers = {f"filler-{n}": "x" * (1200 * 1024) for n in range(2)}
    secrets = json.dumps({"filler": "y" * (2 * 1024 * 1024)})
    async with running_gateway(backends=[backend()]) as gw:
        result = await gw.mount(mount_request([{"objectName": "c", "objectType": "fake"}], fillers, secrets=secrets))
    assert result.files[0].contents == b"gamma"


# --------------------------------------------------------------------------- socket life


def short_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="sgw-", dir="/tmp"))


async def test_socket_appears_only_when_serving_with_tight_mode_and_is_removed_on_stop() -> None:
    gateway = start_gateway(backends=[backend()])
    server = GatewayServer.of(gateway)
    path = gateway.settings.socket_path
    assert not path.exists()
    await server.start()
    try:
        assert stat.S_ISSOCK(os.lstat(path).st_mode)
        assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600
        assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []
        async with DriverClient(path) as client:
            assert (await client.version()).runtime_name == "secrets-gateway"
    finally:
        await server.stop()
    assert not path.exists()


async def test_stale_socket_is_replaced() -> None:
    directory = short_dir()
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(directory / "secrets-gateway.sock"))
    stale.close()  # the file stays, nobody listens
    gateway = start_gateway(backends=[backend()], providers_dir=directory)
    server = GatewayServer.of(gateway)
    await server.start()
    try:
        async with DriverClient(gateway.settings.socket_path) as client:
            await client.version()
    finally:
        await server.stop()


async def test_live_socket_owned_by_another_process_is_not_stolen() -> None:
    directory = short_dir()
    live = socket.socket(socket.AF_UNIX)
    live.bind(str(directory / "secrets-gateway.sock"))
    live.listen()
    try:
        server = GatewayServer.of(start_gateway(backends=[backend()], providers_dir=directory))
        with pytest.raises(StartupError, match="another server is already serving"):
            await server.start()
    finally:
        live.close()


async def test_a_regular_file_in_the_way_is_not_removed() -> None:
    directory = short_dir()
    (directory / "secrets-gateway.sock").write_text("not a socket")
    with pytest.raises(StartupError, match="is not a socket"):
        await GatewayServer.of(start_gateway(backends=[backend()], providers_dir=directory)).start()
    assert (directory / "secrets-gateway.sock").read_text() == "not a socket"


async def test_second_instance_refuses_to_start() -> None:
    directory = short_dir()
    first = GatewayServer.of(start_gateway(backends=[backend()], providers_dir=directory))
    await first.start()
    try:
        with pytest.raises(StartupError, match="another secrets-gateway instance holds"):
            await GatewayServer.of(start_gateway(backends=[backend()], providers_dir=directory)).start()
        async with DriverClient(directory / "secrets-gateway.sock") as client:
            await client.version()  # the first one is unharmed
    finally:
        await first.stop()


async def test_in_flight_mounts_finish_during_graceful_stop() -> None:
    settings = Settings(grace_period=10)
    slow = backend(delay=0.5)
    gateway = start_gateway(backends=[slow], settings=settings)
    server = GatewayServer.of(gateway)
    await server.start()
    client = DriverClient(gateway.settings.socket_path)
    try:
        mounts = [asyncio.create_task(client.mount(mount_request([{"objectName": "c", "objectType": "fake"}]))) for _ in range(5)]
        while slow.in_flight < 5:
            await asyncio.sleep(0.01)
        await server.stop()
        results = await asyncio.gather(*mounts)
    finally:
        await client.close()
    assert all(r.files[0].contents == b"gamma" for r in results)
    assert not gateway.settings.socket_path.exists()


async def test_restart_on_the_same_socket_serves_an_existing_channel() -> None:
    directory = short_dir()
    first = GatewayServer.of(start_gateway(backends=[backend()], providers_dir=directory))
    await first.start()
    client = DriverClient(directory / "secrets-gateway.sock")
    try:
        await client.mount(mount_request([{"objectName": "c", "objectType": "fake"}]))
        await first.stop()
        second = GatewayServer.of(start_gateway(backends=[backend()], providers_dir=directory))
        await second.start()
        try:
            result = await client.mount(mount_request([{"objectName": "c", "objectType": "fake"}]), timeout=10)
            assert result.files[0].contents == b"gamma"
        finally:
            await second.stop()
    finally:
        await client.close()


def test_sigterm_stops_the_cli_server_cleanly(tmp_path: Path) -> None:
    directory = short_dir()
    store = tmp_path / "store.yaml"
    store.write_text("secrets: {a: b}\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--providers-dir", str(directory), "--fake-store", str(store),
         "--http-address", "", "--plugins", "fake"],
        stderr=subprocess.PIPE, text=True,
    )
    path = directory / "secrets-gateway.sock"
    try:
        for _ in range(200):
            if path.exists():
                break
            if process.poll() is not None:
                pytest.fail(process.stderr.read() if process.stderr else "server exited")
            asyncio.run(asyncio.sleep(0.05))
        async def one_mount() -> bytes:
            async with DriverClient(path) as client:
                result = await client.mount(mount_request([{"objectName": "a", "objectType": "fake"}]))
                return result.files[0].contents
        assert asyncio.run(one_mount()) == b"b"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    assert not path.exists()
    log = process.stderr.read() if process.stderr else ""
    assert "stopping" in log and json.dumps("b") not in log
