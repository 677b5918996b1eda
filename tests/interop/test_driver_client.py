"""Interop with the real driver code: the Secrets Store CSI Driver's own provider client
(Go, ``sigs.k8s.io/secrets-store-csi-driver/pkg/secrets-store`` v1.6.x — the code that calls
providers in production) mounts through a real gateway socket with the fake backend.

The Go tests live beside this file (``*_test.go``, own ``go.mod``). This wrapper builds
them once per session with ``go test -c`` (Go's module and build caches make later runs
fast), starts the gateways on real unix sockets, and runs one Go test function per
pytest case. Each Go test writes the fake store it needs into the file the gateways read.
Skipped when ``go`` is not on PATH.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
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
    assert sorted(name for name in listed if name.startswith("Test")) == sorted(p.values[0] for p in GO_TESTS)


def _settings(store: Path, **changes: object) -> Settings:
    return replace(Settings(), http_address="", plugin_options={"fake-store": str(store)}, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize("go_test", GO_TESTS)
async def test_driver_client(go_test: str, go_tests_binary: Path, tmp_path: Path) -> None:
    store = tmp_path / "fake-store.json"
    store.write_text('{"secrets": {}}\n', encoding="utf-8")
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
            **os.environ,
            "SGW_INTEROP_SOCKET": str(main.socket_path),
            "SGW_INTEROP_UNLIMITED_SOCKET": str(over.socket_path),
            "SGW_INTEROP_STORE": str(store),
            "SGW_INTEROP_VERSION": gateway.__version__,
        }
        process = await asyncio.create_subprocess_exec(
            str(go_tests_binary), "-test.run", f"^{go_test}$", "-test.v", "-test.count=1", f"-test.timeout={RUN_TIMEOUT}s",
            cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        try:
            output, _ = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT + 30)
        except TimeoutError:
            process.kill()
            await process.wait()
            pytest.fail(f"{go_test} did not finish within {RUN_TIMEOUT + 30}s")
    text = output.decode("utf-8", "replace")
    sys.stdout.write(text)  # shown by pytest on failure, or with -s
    assert process.returncode == 0, f"{go_test} failed:\n{text}"
    assert f"--- PASS: {go_test} " in text, f"{go_test} did not run:\n{text}"
    assert "--- SKIP" not in text, f"{go_test} skipped a part:\n{text}"
