"""``serve`` publishes its socket before it imports the plugins, the mount pipeline or any backend library, and
imports no backend library until a class uses that backend.

Runs the real ``serve`` under the probe of ``benchmarks/startup.py`` (which reports ``sys.modules`` from inside the
process at the moment its socket is published, and again when asked at idle) — behaviour only, no timing.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import tempfile
import time
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
#: what an idle ``serve`` (pipeline built, no mount yet, no ``--warm-up``) has not imported: backend libraries, a
#: backend's fetch machinery, the parse workers' machinery, the one-shot commands' modules, the entry-point scan
#: (``--plugins`` names ours only)
NOT_AT_IDLE = {"boto3", "botocore", "botocore.client", "botocore.session", "hvac", "requests", "urllib3",
               "gateway_aws.runtime", "gateway_vault.reader", "gateway_kube",
               "multiprocessing", "gateway.client", "gateway.validate", "importlib.metadata"}


@contextmanager
def probed(plugins: str) -> Iterator[tuple[Any, subprocess.Popen[bytes], Path, Path]]:
    """A real ``serve`` under the benchmark's probe, once its socket is published: (benchmark module, process,
    module report, providers directory); stopped when the block ends."""
    startup = load_benchmark("startup")
    directory = Path(tempfile.mkdtemp(prefix="sgw-start-", dir="/tmp"))
    server, report = startup.probe(directory, plugins)
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


async def _until_the_pipeline_serves(socket: Path) -> None:
    """A Mount answered (here refused: no such backend) means the pipeline is attached; the warm-up would follow."""
    async with DriverClient(socket) as client:
        with pytest.raises(MountFailure):
            await client.mount(mount_request([{"objectName": "x", "objectType": "no-such-backend"}]), timeout=60)
