"""Interop with the real driver code: the Secrets Store CSI Driver's own provider client
(Go, ``sigs.k8s.io/secrets-store-csi-driver/pkg/secrets-store`` v1.6.x — the code that calls
providers in production) mounts through a real gateway socket with the fake backend.

The Go tests live beside this file (``*_test.go``, own ``go.mod``). This wrapper builds
them once per session with ``go test -c`` (Go's module and build caches make later runs
fast), starts the gateways on real unix sockets (in process with ``running_gateway``, and
once as a ``secrets-gateway serve`` subprocess), and runs one Go test function per pytest
case. Each Go test writes the fake store it needs into the file the gateways read.
Skipped when ``go`` is not on PATH. See docs/interop.md.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

import gateway
import gateway_fake.plugin
from gateway.backend import Backend
from gateway.model import FetchBatch, FetchOutcome
from gateway.settings import Settings
from gateway.testing import running_gateway

HERE = Path(__file__).resolve().parent
GO = shutil.which("go")
BUILD_TIMEOUT = 1500  # first run: module download + compiling the driver's dependency tree
RUN_TIMEOUT = 300  # one Go test function

#: planted in the crashing backend's exception text; the Go side checks it never reaches the pod event
PLANTED_VALUE = "planted-secret-value-must-not-leak"

#: every Test* function of the Go module (kept in sync: test_go_tests_are_all_listed)
GO_TESTS = [
    pytest.param("TestVersion", id="version-rpc"),
    pytest.param("TestMountNestedPathsAndModes", id="mount-nested-paths-and-modes"),
    pytest.param("TestMountErrors", id="mount-error-classes"),
    pytest.param("TestLargeResponse", id="large-response-3.5MiB"),
    pytest.param("TestResponseSizeBoundary", id="response-size-boundary-4MiB"),
    pytest.param("TestDriverReceiveLimit", id="driver-receive-limit"),
    pytest.param("TestRotation", id="rotation"),
]
#: Go tests run by test_serve_subprocess_then_socket_gone rather than test_driver_client
SERVE_GO_TESTS = ("TestVersion", "TestMountNestedPathsAndModes")
AFTER_STOP_GO_TEST = "TestSocketRemovedAfterStop"

pytestmark = [
    pytest.mark.skipif(GO is None, reason="Go toolchain not found: the driver-client interop test needs it"),
    pytest.mark.timeout(BUILD_TIMEOUT + RUN_TIMEOUT + 60),  # the first case also builds
]


class CrashingBackend(Backend):
    """Test-only backend (objectType ``crash``) whose calls raise a plain exception: the Internal class."""

    name = "crash"
    description = "raises RuntimeError (interop test)"
    default_location = "local"

    async def fetch_many(self, batch: FetchBatch) -> Sequence[FetchOutcome]:
        raise RuntimeError(f"backend bug while holding {PLANTED_VALUE}")


@pytest.fixture(scope="session")
def go_tests_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Go tests compiled once per session (``go test -c``); module and build caches persist."""
    assert GO is not None
    binary = tmp_path_factory.mktemp("interop-go") / "interop.test"
    try:
        result = subprocess.run(
            [GO, "test", "-c", "-o", str(binary), "."],
            cwd=HERE,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            env={**os.environ, "GOFLAGS": (os.environ.get("GOFLAGS", "") + " -mod=readonly").strip()},
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"go test -c did not finish within {BUILD_TIMEOUT}s")
    if result.returncode != 0:
        pytest.fail(f"building the Go interop tests failed:\n{result.stdout}{result.stderr}")
    return binary


def test_go_tests_are_all_listed(go_tests_binary: Path) -> None:
    listed = subprocess.run(
        [str(go_tests_binary), "-test.list", "."], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    expected = [p.values[0] for p in GO_TESTS] + [AFTER_STOP_GO_TEST]
    assert sorted(name for name in listed if name.startswith("Test")) == sorted(expected)


def _settings(store: Path, **changes: object) -> Settings:
    return replace(Settings(), http_address="", plugin_options={"fake-store": str(store)}, **changes)  # type: ignore[arg-type]


async def run_go_tests(binary: Path, names: Sequence[str], env: dict[str, str], cwd: Path) -> None:
    """Run the named Go test functions; fail unless each one ran and passed without skipping."""
    pattern = "^(" + "|".join(names) + ")$"
    process = await asyncio.create_subprocess_exec(
        str(binary), "-test.run", pattern, "-test.v", "-test.count=1", f"-test.timeout={RUN_TIMEOUT}s",
        cwd=cwd, env={**os.environ, **env}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        output, _ = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT + 30)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"{pattern} did not finish within {RUN_TIMEOUT + 30}s")
    text = output.decode("utf-8", "replace")
    sys.stdout.write(text)  # shown by pytest on failure, or with -s
    assert process.returncode == 0, f"Go tests {pattern} failed:\n{text}"
    for name in names:
        assert f"--- PASS: {name} " in text, f"{name} did not run:\n{text}"
    assert "--- SKIP" not in text, f"a Go test skipped a part:\n{text}"


def fake_store(directory: Path) -> Path:
    store = directory / "fake-store.json"
    store.write_text('{"secrets": {}}\n', encoding="utf-8")
    return store


@pytest.mark.parametrize("go_test", GO_TESTS)
async def test_driver_client(go_test: str, go_tests_binary: Path, tmp_path: Path) -> None:
    """In-process gateways: the main one (fake + crashing backends, --backend-timeout 1) and
    one whose own response limit is above the driver's."""
    store = fake_store(tmp_path)
    fake = [("fake", gateway_fake.plugin)]
    unlimited = 16 * 1024 * 1024
    async with (
        running_gateway(fake, backends=[CrashingBackend()], settings=_settings(store, backend_timeout=1.0)) as main,
        running_gateway(
            fake,
            settings=_settings(store, provider_name="sgw-unlimited", max_response_bytes=unlimited, max_value_bytes=unlimited),
        ) as over,
    ):
        env = {
            "SGW_INTEROP_SOCKET": str(main.socket_path),
            "SGW_INTEROP_UNLIMITED_SOCKET": str(over.socket_path),
            "SGW_INTEROP_STORE": str(store),
            "SGW_INTEROP_VERSION": gateway.__version__,
        }
        await run_go_tests(go_tests_binary, [go_test], env, tmp_path)


async def test_serve_subprocess_then_socket_gone(go_tests_binary: Path, tmp_path: Path) -> None:
    """The production entry point: `secrets-gateway serve` answers the driver's client; after
    SIGTERM its socket is gone, so the driver fails fast with "provider not found"."""
    store = fake_store(tmp_path)
    providers = Path(tempfile.mkdtemp(prefix="sgw-", dir="/tmp"))  # short: unix socket paths are limited to 107 bytes
    socket = providers / "sgw-cli.sock"
    command = [sys.executable, "-m", "gateway", "--log-level", "warning", "serve", "--providers-dir", str(providers),
               "--provider-name", "sgw-cli", "--fake-store", str(store), "--plugins", "fake"]  # fmt: skip
    log = tmp_path / "serve.log"
    with log.open("wb") as log_file:  # a file, not a pipe nobody drains while Go runs
        # no operations HTTP port in tests (an empty address disables it)
        server = await asyncio.create_subprocess_exec(
            *command, env={**os.environ, "SECRETS_GATEWAY_HTTP_ADDRESS": ""}, stdout=log_file, stderr=log_file
        )
    try:
        await wait_for_socket(server, socket, log)
        env = {"SGW_INTEROP_SOCKET": str(socket), "SGW_INTEROP_STORE": str(store), "SGW_INTEROP_VERSION": gateway.__version__}
        await run_go_tests(go_tests_binary, SERVE_GO_TESTS, env, tmp_path)
        if server.returncode is None:
            server.terminate()  # SIGTERM, as kubelet stops the pod
        await asyncio.wait_for(server.wait(), 60)
        assert server.returncode == 0, log.read_text(errors="replace")
        assert not socket.exists()
        await run_go_tests(go_tests_binary, [AFTER_STOP_GO_TEST], {"SGW_INTEROP_STOPPED_SOCKET": str(socket)}, tmp_path)
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()
        shutil.rmtree(providers, ignore_errors=True)


async def wait_for_socket(server: asyncio.subprocess.Process, socket: Path, log: Path, limit: float = 60.0) -> None:
    """The gateway creates its socket only once it serves (the driver's contract): wait for it."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + limit
    while not socket.exists():
        if server.returncode is not None or loop.time() > give_up:
            pytest.fail(f"secrets-gateway serve did not create {socket}:\n{log.read_text(errors='replace')}")
        await asyncio.sleep(0.05)
