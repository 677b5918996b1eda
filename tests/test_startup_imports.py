"""``serve`` publishes its socket before it imports the plugins, the mount pipeline or any backend library.

Runs the real ``serve`` under the probe of ``benchmarks/startup.py`` (which reports ``sys.modules`` from inside the
process at the moment its socket is published) — behaviour only, no timing.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import pytest

from tests.support import load_benchmark

#: what ``serve`` imports only once its socket is up (the pipeline, the plugin machinery) or on first use (backend libraries)
AFTER_THE_SOCKET = {
    "boto3", "botocore.client", "botocore.session", "hvac", "requests", "urllib3",
    "gateway_aws", "gateway_vault", "pluggy", "gateway.mount",
}


@pytest.mark.parametrize(
    "plugins", [pytest.param("aws,vault,fake", id="all-plugins"), pytest.param("fake", id="fake-only")]
)
def test_the_socket_is_up_before_the_plugins_and_the_pipeline_are_imported(plugins: str) -> None:
    startup = load_benchmark("startup")
    assert AFTER_THE_SOCKET <= set(startup.HEAVY)
    directory = Path(tempfile.mkdtemp(prefix="sgw-start-", dir="/tmp"))
    server, report = startup.probe(directory, plugins)
    try:
        deadline = time.monotonic() + 90
        while not report.exists():
            assert server.poll() is None, "serve exited during startup"
            assert time.monotonic() < deadline, "the socket never appeared"
            time.sleep(0.02)
        loaded = set(json.loads(report.read_text())["modules"])
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert loaded.isdisjoint(AFTER_THE_SOCKET), loaded
