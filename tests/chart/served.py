"""The gateway container a chart rendering describes, started on this machine: its args and env with
the host paths and the HTTP address moved into a temp directory (test_chart_serve.py, test_monitoring.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tests.chart.tools import REPO, by_kind, gateway_container

START_TIMEOUT = 20.0
ENTRYPOINT = "import sys; from gateway.cli import main; sys.exit(main())"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def local_command(docs: list[dict[str, Any]], tmp_path: Path) -> tuple[list[str], dict[str, str], Path, int | None]:
    """The rendered container's args/env with host paths and the HTTP address moved to this machine."""
    container = gateway_container(docs)
    providers = tmp_path / "providers"
    port = None
    args = []
    for arg in container.args:
        if arg.startswith("--providers-dir="):
            arg = f"--providers-dir={providers}"
        elif arg.startswith("--http-address=") and arg != "--http-address=":
            port = free_port()
            arg = f"--http-address=127.0.0.1:{port}"
        args.append(arg)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SECRETS_GATEWAY_", "AWS_"))}
    env["HOME"] = str(tmp_path)
    for name, value in container.env.items():
        if name == "SECRETS_GATEWAY_FAKE_STORE":
            value = str(fake_store(docs, tmp_path, Path(value).name))
        elif name == "SECRETS_GATEWAY_VAULT_CA_CERT":
            value = str(tmp_path / "vault-ca" / Path(value).name)
        env[name] = value
    return args, env, providers / f"{container.flag('provider-name')}.sock", port


def fake_store(docs: list[dict[str, Any]], tmp_path: Path, key: str) -> Path:
    """The store file as the ConfigMap volume would show it (the example store for an existing ConfigMap)."""
    path = tmp_path / "fake-store" / key
    path.parent.mkdir(parents=True, exist_ok=True)
    stores = [configmap["data"][key] for configmap in by_kind(docs, "ConfigMap") if key in configmap.get("data", {})]
    path.write_text(stores[0] if stores else (REPO / "examples" / "fake" / "store.yaml").read_text())
    return path


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    socket_path: Path
    port: int | None
    log: IO[str]

    def read_log(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-3000:]

    def wait_for_socket(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not self.socket_path.is_socket():
            assert self.process.poll() is None, f"gateway exited with {self.process.returncode}: {self.read_log()}"
            assert time.monotonic() < deadline, f"no socket {self.socket_path} after {START_TIMEOUT}s: {self.read_log()}"
            time.sleep(0.05)


@contextlib.contextmanager
def serve(docs: list[dict[str, Any]], tmp_path: Path) -> Iterator[Served]:
    """Run the rendered container's `secrets-gateway serve`; SIGTERM at exit, which must end it with 0."""
    args, env, socket_path, port = local_command(docs, tmp_path)
    with (tmp_path / "gateway.log").open("w+") as log:
        process = subprocess.Popen([sys.executable, "-c", ENTRYPOINT, *args], env=env, cwd=tmp_path,
                                   stdout=log, stderr=subprocess.STDOUT)
        served = Served(process, socket_path, port, log)
        try:
            yield served
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                code = process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise
        assert code == 0, served.read_log()
