"""The container the chart renders, run for real: every scenario's args and env start
`secrets-gateway serve` (paths moved into a temp dir), which must create the socket, answer the
probes the chart points at, and stop cleanly on SIGTERM. This is the contract between the chart and
the CLI: a flag the CLI does not know, or one in the wrong place, fails here.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.chart.cases import SCENARIO_PARAMS, Scenario
from tests.chart.served import START_TIMEOUT, Served, get, serve
from tests.chart.tools import render

pytestmark = pytest.mark.timeout(1200)  # the first test may build helm


@pytest.mark.parametrize("scenario", SCENARIO_PARAMS)
def test_rendered_container_serves(scenario: Scenario, tmp_path: Path) -> None:
    docs = render(scenario.paths, set_files=scenario.set_files)
    with serve(docs, tmp_path) as served:
        _check_running(scenario, served)
    assert not served.socket_path.exists(), "the socket must be removed at exit"


def _check_running(scenario: Scenario, served: Served) -> None:
    served.wait_for_socket()
    assert served.socket_path.stat().st_mode & 0o777 == 0o600
    if served.port is None:
        return
    base = f"http://127.0.0.1:{served.port}"
    assert get(f"{base}/healthz")[0] == 200
    status, detail = _readiness_once_started(base)
    assert sorted(detail["plugins"]) == sorted(name for name in scenario.plugins.split(",") if name != "acme")
    if "acme" in scenario.plugins:  # an allow-listed plugin the image lacks keeps the pod unready
        assert status == 503 and any("acme" in failure for failure in detail["plugin_failures"])
    else:
        assert status == 200, detail
    assert get(f"{base}/metrics")[0] == 200


def _readiness_once_started(base: str) -> tuple[int, dict[str, Any]]:
    """``/readyz`` once the plugins behind the socket have loaded (the socket comes first)."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        status, body = get(f"{base}/readyz")
        detail: dict[str, Any] = json.loads(body)
        if not detail["starting"] or time.monotonic() > deadline:
            return status, detail
        time.sleep(0.05)
