"""moto's standalone server as a subprocess on a free 127.0.0.1 port."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from gateway.testing.local import stop_process

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


#: moto's server, listing its service directories once: its dispatcher lists them (an ``isdir`` each, ~200) on every
#: request to find the service asked for, a third of its CPU per call; they do not change while it runs
LISTING_ONCE = (
    "import sys; import moto.backends as backends; listed = tuple(backends.list_of_moto_modules()); "
    "backends.list_of_moto_modules = lambda: listed; from moto.server import main; main(sys.argv[1:])"
)


class MotoServer:
    """``python -m moto.server``; :meth:`reset` forgets every resource between tests. ``list_services_once``
    (benchmarks, where moto shares the CPUs with what is measured): the same server, minus :data:`LISTING_ONCE`'s
    repeated directory listing."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, list_services_once: bool = False) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.list_services_once = list_services_once
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        """The server process's id (for benchmarks reading its CPU time)."""
        assert self._process is not None, "start() first"
        return self._process.pid

    def start(self, timeout: float = 60.0) -> MotoServer:
        self._process = subprocess.Popen(
            [sys.executable, *(("-c", LISTING_ONCE) if self.list_services_once else ("-m", "moto.server")), "-H", self.host, "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"moto server exited with code {self._process.returncode}")
            try:
                with _OPENER.open(f"{self.url}/moto-api/", timeout=1):
                    return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto server did not answer on {self.url} within {timeout:g}s")

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", data=b"", method="POST")
        with _OPENER.open(request, timeout=10):
            pass

    def stop(self) -> None:
        stop_process(self._process)
        self._process = None

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
