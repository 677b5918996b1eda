"""Building blocks for the small, real peers tests run on 127.0.0.1 (HTTP servers, subprocesses)."""

from __future__ import annotations

import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar


class QuietHandler(BaseHTTPRequestHandler):
    """An HTTP/1.1 handler that does not log and does not wait for delayed ACKs.

    ``owner`` is the :class:`LocalHTTPServer` that started it.
    """

    owner: Any
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes: avoid the 40 ms delayed-ACK stall

    def log_message(self, format: str, *args: Any) -> None:
        return


class _BurstHTTPServer(ThreadingHTTPServer):
    """socketserver's listen backlog is 5: a burst of connections past it has SYNs dropped and retried a second
    later, which a 1 s connect timeout turns into failures and a benchmark into a 1 s stall. Real peers queue more."""

    request_queue_size = 1024


class LocalHTTPServer:
    """A threaded HTTP server on a free 127.0.0.1 port; subclasses set ``handler_class``.

    Use as a context manager, or call :meth:`start` / :meth:`stop`.
    """

    handler_class: ClassVar[type[QuietHandler]]
    thread_name: ClassVar[str] = "local-http"
    _server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> Any:
        handler = type("Handler", (self.handler_class,), {"owner": self})
        self._server = _BurstHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name=self.thread_name, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_process(process: subprocess.Popen[Any] | None, timeout: float = 10) -> None:
    """Terminate a peer process, killing it if it does not exit within ``timeout`` seconds."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
