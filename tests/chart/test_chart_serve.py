"""The container the chart renders, run for real: every scenario's args and env start
`secrets-gateway serve` (paths moved into a temp dir), which must create the socket, answer the
probes the chart points at, and stop cleanly on SIGTERM. This is the contract between the chart and
the CLI: a flag the CLI does not know, or one in the wrong place, fails here.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.chart.cases import SCENARIO_PARAMS, Scenario
from tests.chart.tools import REPO, by_kind, gateway_container, render

pytestmark = pytest.mark.timeout(1200)  # the first test may build helm

START_TIMEOUT = 20.0
ENTRYPOINT = "import sys; from gateway.cli import main; sys.exit(main())"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _local_command(docs: list[dict[str, Any]], tmp_path: Path) -> tuple[list[str], dict[str, str], Path, int | None]:
    """The rendered container's args/env with host paths and the HTTP address moved to this machine."""
    container = gateway_container(docs)
    providers = tmp_path / "providers"
    port = None
    args = []
    for arg in container.args:
        if arg.startswith("--providers-dir="):
            arg = f"--providers-dir={providers}"
        elif arg.startswith("--http-address=") and arg != "--http-address=":
            port = _free_port()
            arg = f"--http-address=127.0.0.1:{port}"
        args.append(arg)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SECRETS_GATEWAY_", "AWS_"))}
    env["HOME"] = str(tmp_path)
    for name, value in container.env.items():
        if name == "SECRETS_GATEWAY_FAKE_STORE":
            value = str(_fake_store(docs, tmp_path, Path(value).name))
        elif name == "SECRETS_GATEWAY_VAULT_CA_CERT":
            value = str(tmp_path / "vault-ca" / Path(value).name)
        env[name] = value
    return args, env, providers / f"{container.flag('provider-name')}.sock", port


def _fake_store(docs: list[dict[str, Any]], tmp_path: Path, key: str) -> Path:
    """The store file as the ConfigMap volume would show it (the example store for an existing ConfigMap)."""
    path = tmp_path / "fake-store" / key
    path.parent.mkdir(parents=True, exist_ok=True)
    configmaps = by_kind(docs, "ConfigMap")
    path.write_text(configmaps[0]["data"][key] if configmaps else (REPO / "examples" / "fake" / "store.yaml").read_text())
    return path


@pytest.mark.parametrize("scenario", SCENARIO_PARAMS)
def test_rendered_container_serves(scenario: Scenario, tmp_path: Path) -> None:
    docs = render(scenario.paths, set_files=scenario.set_files)
    args, env, socket_path, port = _local_command(docs, tmp_path)
    with (tmp_path / "gateway.log").open("w+") as log:
        process = subprocess.Popen([sys.executable, "-c", ENTRYPOINT, *args], env=env, cwd=tmp_path,
                                   stdout=log, stderr=subprocess.STDOUT)
        try:
            _check_running(scenario, process, socket_path, port, log)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                code = process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise
        assert code == 0, _read(log)
    assert not socket_path.exists(), "the socket must be removed at exit"


def _check_running(scenario: Scenario, process: subprocess.Popen[bytes], socket_path: Path, port: int | None,
                   log: Any) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not socket_path.is_socket():
        assert process.poll() is None, f"gateway exited with {process.returncode}: {_read(log)}"
        assert time.monotonic() < deadline, f"no socket {socket_path} after {START_TIMEOUT}s: {_read(log)}"
        time.sleep(0.05)
    assert socket_path.stat().st_mode & 0o777 == 0o600
    if port is None:
        return
    base = f"http://127.0.0.1:{port}"
    assert _get(f"{base}/healthz")[0] == 200
    status, body = _get(f"{base}/readyz")
    detail = json.loads(body)
    assert sorted(detail["plugins"]) == sorted(name for name in scenario.plugins.split(",") if name != "acme")
    if "acme" in scenario.plugins:  # an allow-listed plugin the image lacks keeps the pod unready
        assert status == 503 and any("acme" in failure for failure in detail["plugin_failures"])
    else:
        assert status == 200, detail
    assert _get(f"{base}/metrics")[0] == 200


def _read(log: Any) -> str:
    log.flush()
    log.seek(0)
    return log.read()[-3000:]
