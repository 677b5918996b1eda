"""``serve`` publishes its socket before it imports the plugins, the mount pipeline or any backend library, builds
the mount pipeline with the first Mount (at once with ``--warm-up``), and imports no backend library until a class
uses that backend.

Runs the real ``serve`` under the probe of ``benchmarks/startup.py`` (which reports ``sys.modules`` from inside the
process at the moment its socket is published, and again when asked at idle) — behaviour only, no timing.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from gateway.client import DriverClient, MountFailure
from gateway.testing import mount_request
from tests.support import load_benchmark

#: what ``serve`` imports only once its socket is up (the pipeline, the plugin machinery) or on first use (backend libraries)
AFTER_THE_SOCKET = {
    "boto3", "botocore.client", "botocore.session", "hvac", "requests", "urllib3",
    "gateway_aws", "gateway_vault", "pluggy", "gateway.mount", "yaml", "jmespath",
}
#: what an idle ``serve`` (pipeline built, no mount yet, no ``--warm-up``) has not imported: backend libraries, the
#: parse workers' machinery, the one-shot commands' modules, the entry-point scan (``--plugins`` names ours only)
NOT_AT_IDLE = {"boto3", "botocore", "botocore.client", "botocore.session", "hvac", "requests", "urllib3",
               "multiprocessing", "gateway.client", "gateway.validate", "importlib.metadata"}


#: what ``serve`` builds with the first Mount (or at once with ``--warm-up``), not when its plugins load
PIPELINE = {"gateway.mount", "jmespath"}


@contextmanager
def probed(plugins: str, extra: tuple[str, ...] = ()) -> Iterator[tuple[Any, subprocess.Popen[bytes], Path, Path]]:
    """A real ``serve`` under the benchmark's probe, once its socket is published: (benchmark module, process,
    module report, providers directory); stopped when the block ends."""
    startup = load_benchmark("startup")
    directory = Path(tempfile.mkdtemp(prefix="sgw-start-", dir="/tmp"))
    server, report = startup.probe(directory, plugins, extra)
    try:
        deadline = time.monotonic() + 90
        while not report.exists():
            assert server.poll() is None, "serve exited during startup"
            assert time.monotonic() < deadline, "the socket never appeared"
            time.sleep(0.02)
        yield startup, server, report, directory
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.parametrize(
    "plugins", [pytest.param("aws,vault,fake", id="all-plugins"), pytest.param("fake", id="fake-only")]
)
def test_the_socket_is_up_before_the_plugins_and_the_pipeline_are_imported(plugins: str) -> None:
    with probed(plugins) as (startup, _, report, _):
        assert AFTER_THE_SOCKET <= set(startup.HEAVY)
        loaded = set(json.loads(report.read_text())["modules"])
    assert loaded.isdisjoint(AFTER_THE_SOCKET), loaded


def test_an_idle_server_holds_no_backend_library_until_a_class_uses_it() -> None:
    with probed("aws,vault,fake") as (startup, server, report, directory):
        assert NOT_AT_IDLE <= set(startup.HEAVY)
        asyncio.run(_until_the_pipeline_serves(directory / startup.SOCKET))
        idle = set(startup.idle_modules(server, report))
    assert {"gateway.mount", "gateway_aws", "gateway_vault"} <= idle  # the pipeline and the plugins are loaded ...
    assert idle.isdisjoint(NOT_AT_IDLE), idle  # ... their libraries are not


@pytest.mark.parametrize(
    ("flags", "pipeline_at_idle"),
    [pytest.param("", False, id="default-with-the-first-mount"), pytest.param(" --warm-up", True, id="warm-up-at-once")],
)
def test_the_plugins_load_behind_the_socket_and_the_pipeline_waits_for_the_first_mount(flags: str, pipeline_at_idle: bool) -> None:
    port = _free_port()
    with probed(f"fake{flags}", ("--http-address", f"127.0.0.1:{port}")) as (startup, server, report, _):
        assert PIPELINE <= set(startup.HEAVY)
        detail = _readiness_once(port, "pipeline_built" if pipeline_at_idle else "backends")
        idle = set(startup.idle_modules(server, report))
    assert detail["ready"] and detail["backends"] == ["fake"]  # the plugins loaded and their settings were checked
    assert detail["pipeline_built"] is pipeline_at_idle
    assert (PIPELINE <= idle) if pipeline_at_idle else idle.isdisjoint(PIPELINE), idle


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _readiness_once(port: int, key: str) -> dict[str, Any]:
    """``/readyz`` once its ``key`` is true (``backends``: the plugins behind the socket have loaded)."""
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
                detail: dict[str, Any] = json.loads(response.read())
        except urllib.error.HTTPError as error:
            detail = json.loads(error.read())
        if detail[key]:
            return detail
        assert time.monotonic() < deadline, detail
        time.sleep(0.05)


async def _until_the_pipeline_serves(socket: Path) -> None:
    """A Mount answered (here refused: no such backend) means the pipeline is attached; the warm-up would follow."""
    async with DriverClient(socket) as client:
        with pytest.raises(MountFailure):
            await client.mount(mount_request([{"objectName": "x", "objectType": "no-such-backend"}]), timeout=60)
