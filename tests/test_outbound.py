"""gateway.outbound against small real servers: framing, keep-alive reuse, a dropped idle connection,
the idle bound, and the plain-HTTP proxy from the environment. (Hostile servers: tests/adversarial/.)"""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from gateway.outbound import HttpProblem, OutboundHttp

CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
LENGTH = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"


class Server:
    """Answers every request head on a connection with ``answer``; records connections and request lines."""

    def __init__(self, answer: bytes, close_after: int = 0) -> None:
        self.answer = answer
        self.close_after = close_after  # close the connection after this many answers (0: never)
        self.connections = 0
        self.lines: list[str] = []
        self.heads: list[str] = []
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                owner.connections += 1
                conn: socket.socket = self.request
                buffer, served = b"", 0
                while data := conn.recv(65536):
                    buffer += data
                    while b"\r\n\r\n" in buffer:
                        head, buffer = buffer.split(b"\r\n\r\n", 1)
                        owner.lines.append(head.split(b"\r\n", 1)[0].decode())
                        owner.heads.append(head.decode())
                        conn.sendall(owner.answer)
                        served += 1
                        if owner.close_after and served >= owner.close_after:
                            return

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def serving(answer: bytes, close_after: int = 0) -> Iterator[Server]:
    server = Server(answer, close_after)
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("answer", [pytest.param(LENGTH, id="content-length"), pytest.param(CHUNKED, id="chunked")])
async def test_answers_are_read_by_their_framing_and_the_connection_is_reused(answer: bytes) -> None:
    http = OutboundHttp(max_body=1024, use_proxy=False)
    with serving(answer) as server:
        bodies = [(await http.request("GET", server.url + "/x?a=1", timeout=5)).body for _ in range(3)]
        await http.aclose()
    assert set(bodies) == {b"hello" if answer is LENGTH else b"hello world"}
    assert server.connections == 1 and server.lines == ["GET /x?a=1 HTTP/1.1"] * 3


@pytest.mark.parametrize(
    ("answer", "kind", "message"),
    [
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n", "too-large", "announces 11 bytes, above the limit of 10", id="announced-over-cap"),
        pytest.param(CHUNKED, "too-large", "larger than the limit of 10 bytes", id="chunked-over-cap"),
        pytest.param(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"x" * 11, "too-large", "larger than the limit of 10 bytes", id="unframed-over-cap"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", "malformed", "truncated: 3 of 9 bytes", id="length-truncated"),
        pytest.param(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nabc", "malformed", "truncated after 0 bytes", id="chunk-truncated"),
        pytest.param(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n", "malformed", "does not end where its size says", id="chunk-longer-than-its-size"),
        pytest.param(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n", "malformed", "not a hex number", id="chunk-size-0x"),
        pytest.param(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", "malformed", "not a hex number", id="chunk-size-negative"),
        pytest.param(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + b"X: y\r\n" * 20_000, "malformed", "trailers exceed", id="endless-trailers"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", "malformed", "Content-Length header is not a number", id="length-not-a-number"),
    ],
)
async def test_a_body_over_the_cap_or_badly_framed_is_a_typed_problem(answer: bytes, kind: str, message: str) -> None:
    http = OutboundHttp(max_body=10, use_proxy=False)
    with serving(answer, close_after=1) as server:
        with pytest.raises(HttpProblem, match=message) as caught:
            await http.request("GET", server.url + "/", timeout=5)
        await http.aclose()
    assert caught.value.kind == kind


async def test_an_idle_connection_the_server_dropped_is_replaced_once() -> None:
    http = OutboundHttp(max_body=1024, use_proxy=False)
    with serving(LENGTH, close_after=1) as server:
        for _ in range(3):
            assert (await http.request("GET", server.url + "/", timeout=5)).body == b"hello"
        await http.aclose()
    assert server.connections == 3


async def test_idle_connections_are_bounded_in_all() -> None:
    http = OutboundHttp(max_body=1024, idle_per_origin=1, max_idle=2, use_proxy=False)
    servers = [Server(LENGTH) for _ in range(4)]
    try:
        for server in servers:
            await http.request("GET", server.url + "/", timeout=5)
        assert sum(map(len, http._idle.values())) == 2
    finally:
        await http.aclose()
        for server in servers:
            server.stop()


async def test_plain_http_goes_through_the_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with serving(LENGTH) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        http = OutboundHttp(max_body=1024)
        assert (await http.request("GET", "http://vault.example:8200/v1/x", timeout=5)).body == b"hello"
        await http.aclose()
    assert proxy.lines == ["GET http://vault.example:8200/v1/x HTTP/1.1"]


PROXY_REFUSES = b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"


@pytest.mark.parametrize(
    ("variable", "url", "userinfo", "authorization"),
    [
        pytest.param("HTTP_PROXY", "http://vault.example:8200/v1/x", "", None, id="http-no-credentials"),
        pytest.param("HTTP_PROXY", "http://vault.example:8200/v1/x", "user:secret@", "dXNlcjpzZWNyZXQ=", id="http"),
        pytest.param("HTTPS_PROXY", "https://vault.example/v1/x", "", None, id="tunnel-no-credentials"),
        pytest.param("HTTPS_PROXY", "https://vault.example/v1/x", "us%40er:p%3Ass@", "dXNAZXI6cDpzcw==", id="tunnel-percent-encoded"),
    ],
)
async def test_proxy_credentials_from_the_url_go_in_proxy_authorization(
    monkeypatch: pytest.MonkeyPatch, variable: str, url: str, userinfo: str, authorization: str | None
) -> None:
    with serving(PROXY_REFUSES) as proxy:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "no_proxy", "http_proxy", "https_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv(variable, proxy.url.replace("http://", f"http://{userinfo}"))
        http = OutboundHttp(max_body=1024)
        try:
            answer = await http.request("GET", url, timeout=5)
            assert answer.status == 407  # a plain-HTTP proxy's refusal is the answer
        except HttpProblem as problem:
            assert url.startswith("https:")
            assert "HTTP 407" in str(problem)
            assert "secret" not in str(problem) and "p:ss" not in str(problem)
        finally:
            await http.aclose()
    [head] = proxy.heads
    found = [line for line in head.split("\r\n") if line.startswith("Proxy-Authorization:")]
    assert found == ([f"Proxy-Authorization: Basic {authorization}"] if authorization else [])


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        pytest.param("/x HTTP/1.1\r\nHost: evil\r\n\r\nGET /y", {}, id="target"),
        pytest.param("/x", {"X-Vault-Namespace": "team\r\nX-Evil: 1"}, id="header-value"),
        pytest.param("/x", {"X-Ok": "fine", "X-Evil\r\nX-More": "1"}, id="header-name-after-a-good-one"),
        pytest.param("/x", {"X-Ok": "fine", "X-Nul": "a\x00b"}, id="nul-in-a-later-value"),
    ],
)
async def test_a_line_break_never_reaches_the_wire(path: str, headers: dict[str, str]) -> None:
    http = OutboundHttp(max_body=1024, use_proxy=False)
    with serving(LENGTH) as server:
        with pytest.raises(HttpProblem, match="line break or control character"):
            await http.request("GET", server.url + path, timeout=5, headers=headers)
    assert server.lines == []


# --------------------------------------------------------------------------- streamed answers (a watch)

LINES = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\none\n\r\n6\r\ntwo\nth\r\n5\r\nree\n\n\r\n0\r\n\r\n"


@pytest.mark.parametrize(
    ("answer", "max_body", "expected"),
    [
        pytest.param(LINES, 100, [b"one", b"two", b"three"], id="lines-across-chunks"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\na\nb\n\nc\n", 100, [b"a", b"b", b"c"], id="by-length"),
        pytest.param(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nx\ny", 100, [b"x", b"y"], id="to-the-end-last-line-unterminated"),
        pytest.param(LINES, 4, "too-large", id="a-line-over-the-cap"),
        pytest.param(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n30000\r\n" + b"y\n" * 0x18000 + b"\r\n0\r\n\r\n", 100, [b"y"] * 0x18000, id="a-chunk-larger-than-the-cap-of-short-lines"),
        pytest.param(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 100, "malformed", id="bad-chunk-size"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", 100, "timeout", id="silent-server-idles-out"),
    ],
)
async def test_stream_reads_lines_within_the_cap_and_the_idle_bound(answer: bytes, max_body: int, expected: object) -> None:
    client = OutboundHttp(max_body=max_body, use_proxy=False)
    with serving(answer, close_after=0 if expected == "timeout" else 1) as server:  # a silent server keeps the line open
        try:
            async with client.stream("GET", server.url + "/watch", timeout=5, idle_timeout=0.2) as stream:
                assert stream.status == 200
                lines = [line async for line in stream.lines()]
            outcome: object = lines
        except HttpProblem as exc:
            outcome = exc.kind
    assert outcome == expected


async def test_stream_error_answer_is_read_whole() -> None:
    client = OutboundHttp(max_body=100, use_proxy=False)
    with serving(b'HTTP/1.1 403 Forbidden\r\nContent-Length: 13\r\n\r\n{"code": 403}') as server:
        async with client.stream("GET", server.url + "/watch", timeout=5, idle_timeout=1) as stream:
            assert (stream.status, await stream.read()) == (403, b'{"code": 403}')


async def test_stream_refused_connection_is_a_connect_problem() -> None:
    client = OutboundHttp(max_body=100, use_proxy=False)
    with pytest.raises(HttpProblem) as caught:
        async with client.stream("GET", "http://127.0.0.1:1/watch", timeout=5, idle_timeout=1):
            pass
    assert caught.value.kind == "connect"
