"""A hostile or broken HTTP endpoint on 127.0.0.1, for the tests of bounded outbound requests.

Each connection reads the request head and then behaves as :attr:`HostileServer.behaviour`
says: dribble the head or the body a byte at a time, announce or stream a huge body, answer
HTML, garbage, a truncated body, a non-object JSON, a redirect, or nothing at all. It counts
the connections it holds open (``open``), so a test can see the client really let go.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time

BEHAVIOURS = (
    "dribble-head", "dribble-body", "huge-announced", "huge-chunked", "huge-unframed", "html", "html-404",
    "garbage", "truncated", "json-list", "json-deep", "redirect", "silent",
)
TICK = 0.2  # seconds between dribbled bytes: a slow, never-ending answer


class HostileServer:
    def __init__(self, behaviour: str) -> None:
        assert behaviour in BEHAVIOURS, behaviour
        self.behaviour = behaviour
        self.open = 0
        self.accepted = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: socketserver.ThreadingTCPServer | None = None

    @property
    def address(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> HostileServer:
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                owner._serve(self.request)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name="hostile-http", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def wait_all_closed(self, within: float = 20.0) -> bool:
        """True once the client has closed every connection (polled; a generous bound, not a timing claim)."""
        end = time.monotonic() + within
        while time.monotonic() < end:
            with self._lock:
                if self.accepted and self.open == 0:
                    return True
            time.sleep(0.05)
        return False

    def _serve(self, conn: socket.socket) -> None:
        with self._lock:
            self.open += 1
            self.accepted += 1
        try:
            conn.settimeout(30)
            head = b""
            while b"\r\n\r\n" not in head:
                data = conn.recv(65536)
                if not data:
                    return
                head += data
            with contextlib.suppress(OSError):
                self._answer(conn)
                if self.behaviour not in ("truncated", "garbage"):
                    while not self._stopping.is_set() and conn.recv(65536):  # hold until the client lets go
                        pass
        except OSError:
            pass
        finally:
            conn.close()
            with self._lock:
                self.open -= 1

    def _answer(self, conn: socket.socket) -> None:
        b = self.behaviour
        if b == "silent":
            return
        if b == "dribble-head":
            self._dribble(conn, b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100_000)
        elif b == "dribble-body":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n")
            self._dribble(conn, b"{" + b" " * 9_999)
        elif b == "huge-announced":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 419430400\r\n\r\n")
            self._flood(conn, b"x" * 65536)
        elif b == "huge-chunked":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
            self._flood(conn, b"10000\r\n" + b"x" * 65536 + b"\r\n")
        elif b == "huge-unframed":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
            self._flood(conn, b"x" * 65536)
        elif b in ("html", "html-404"):
            status = b"200 OK" if b == "html" else b"404 Not Found"
            page = b"<html><body>Welcome to nginx!</body></html>"
            conn.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % len(page) + page)
        elif b == "garbage":
            conn.sendall(bytes(range(256)) * 4)
        elif b == "json-deep":  # valid JSON nested deeper than any parser recurses
            body = b"[" * 100_000 + b"]" * 100_000
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        elif b == "truncated":
            conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"data": {"pass')
        elif b == "json-list":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n[1,2,3]")
        elif b == "redirect":
            conn.sendall(b"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://169.254.169.254/\r\nContent-Length: 0\r\n\r\n")

    def _dribble(self, conn: socket.socket, data: bytes) -> None:
        for index in range(len(data)):
            if self._stopping.is_set():
                return
            conn.sendall(data[index : index + 1])
            time.sleep(TICK)

    def _flood(self, conn: socket.socket, block: bytes) -> None:
        while not self._stopping.is_set():
            conn.sendall(block)

