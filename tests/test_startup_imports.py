"""``serve`` with every plugin answers on its socket before any heavy backend library is imported.

Runs the real ``serve`` under the probe of ``benchmarks/startup.py`` (which reports ``sys.modules`` from inside the
process at the moment its socket appears) — behaviour only, no timing.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import pytest

from tests.support import load_benchmark


@pytest.mark.parametrize(
    "plugins", [pytest.param("aws,vault,fake", id="all-plugins"), pytest.param("fake", id="fake-only")]
)
def test_no_backend_library_is_imported_before_first_use(plugins: str) -> None:
    startup = load_benchmark("startup")
    directory = Path(tempfile.mkdtemp(prefix="sgw-start-", dir="/tmp"))
    server, report = startup.probe(directory, plugins)
    try:
        deadline = time.monotonic() + 90
        while not report.exists():
            assert server.poll() is None, "serve exited during startup"
            assert time.monotonic() < deadline, "the socket never appeared"
            time.sleep(0.02)
        loaded = set(json.loads(report.read_text()))
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert loaded.isdisjoint({"boto3", "botocore.client", "botocore.session", "hvac", "requests", "urllib3"}), loaded
