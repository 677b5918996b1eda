"""``gateway.prometheus``: the metrics without prometheus_client's exposition (and the standard library's HTTP stack it
imports) until something asks for it; every other importer still sees the whole package.

Each case runs in a fresh interpreter: what it checks is what a process has imported.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

#: what an idle server does not import because of its metrics (prometheus_client's exposition and what that imports)
EXPOSITION = ("prometheus_client.exposition", "http.server", "wsgiref.simple_server", "urllib.request")

CASES = [
    pytest.param(
        "import gateway.metrics, gateway.http; gateway.metrics.Metrics()",
        "assert not loaded(), loaded()",
        id="the-gateway-metrics-alone",
    ),
    pytest.param(
        "import gateway.metrics; from prometheus_client import generate_latest, start_http_server; import prometheus_client",
        "assert loaded() == sorted(EXPOSITION) and prometheus_client.Counter is gateway.metrics.Counter",
        id="another-importer-gets-the-whole-package",
    ),
    pytest.param(
        "import prometheus_client, gateway.metrics; registry = gateway.metrics.Metrics().registry",
        "assert loaded() == sorted(EXPOSITION) and b'secrets_gateway_build_info' in prometheus_client.generate_latest(registry)",
        id="imported-first-it-is-simply-used",
    ),
    pytest.param(
        "import gateway.metrics; from gateway.prometheus import exposition; registry = gateway.metrics.Metrics().registry",
        "assert b'secrets_gateway_build_info' in exposition().generate_latest(registry) and 'prometheus_client.exposition' in loaded()",
        id="a-scrape-imports-the-exposition",
    ),
]


@pytest.mark.parametrize(("setup", "check"), CASES)
def test_the_exposition_is_imported_only_when_asked_for(setup: str, check: str) -> None:
    script = f"import sys\nEXPOSITION = {EXPOSITION!r}\nloaded = lambda: sorted(m for m in EXPOSITION if m in sys.modules)\n{setup}\n{check}\n"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
