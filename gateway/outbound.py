"""Bounded outbound HTTP/1.1 for plugins: a total deadline per request, a body-size cap, no threads.

Requests run on asyncio streams (TLS included), so a request that reaches its deadline is
cancelled and frees everything it held: a server that dribbles a byte a second, or never
finishes its headers, cannot keep a worker thread busy, because there is none. Answers larger
than ``max_body`` (announced or as they arrive), truncated answers and bytes that are not HTTP
raise :class:`HttpProblem`, which callers turn into their own typed, retryable error.

Idle keep-alive connections are reused per origin (a few per origin and a few dozen in all, the
oldest closed first, dropped when the server closed them), so tenants naming many servers cannot
pile up open sockets. The standard ``HTTP(S)_PROXY``/``NO_PROXY`` variables apply when ``use_proxy``.
Redirects are not followed: the caller decides what a 3xx means.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

MAX_HEAD_BYTES = 64 * 1024
CHUNK = 64 * 1024

TIMEOUT, CONNECT, TLS, TOO_LARGE, MALFORMED = "timeout", "connect", "tls", "too-large", "malformed"


class HttpProblem(Exception):
    """No usable HTTP answer. ``kind`` is one of timeout, connect, tls, too-large, malformed;
    ``detail`` names the cause in words (never the URL, a header or a body)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


class ClosedWithoutAnswer(HttpProblem):
    """The connection closed before a single byte of an answer (on a reused one: the server dropped it)."""

    def __init__(self) -> None:
        super().__init__(MALFORMED, "the connection closed without an answer")


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: bytes = field(repr=False)
    content_type: str = ""


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    reused: bool = False

    def usable(self) -> bool:
        return not self.writer.is_closing() and not self.reader.at_eof()

    def close(self) -> None:
        self.writer.close()


Origin = tuple[str, str, int, tuple["ssl.SSLContext | None", str], str]  # scheme, host, port, (TLS context, server name), proxy


class OutboundHttp:
    def __init__(self, *, max_body: int, idle_per_origin: int = 4, max_idle: int = 32, use_proxy: bool = True) -> None:
        self.max_body = max_body
        self.idle_per_origin = idle_per_origin
        self.max_idle = max_idle
        self.use_proxy = use_proxy
        self._idle: dict[Origin, list[_Connection]] = {}  # insertion order: the least recently used origin first
        self._system_context: ssl.SSLContext | None = None

    async def request(
        self,
        method: str,
        url: str,
        *,
        timeout: float,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        tls: ssl.SSLContext | None = None,
        server_name: str = "",
    ) -> HttpAnswer:
        """One exchange, connect to last byte within ``timeout`` seconds; raise :class:`HttpProblem`.

        ``tls`` verifies an https server (default: the system's CAs); ``server_name`` is the name
        sent as SNI and expected in its certificate (default: the URL's host)."""
        try:
            async with asyncio.timeout(timeout):
                return await self._exchange(method, url, headers or {}, body, (tls, server_name))
        except TimeoutError:
            raise HttpProblem(TIMEOUT, f"no complete answer within {timeout:g}s") from None

    async def aclose(self) -> None:
        """Close the idle connections (and wait until they are closed)."""
        idle, self._idle = self._idle, {}
        connections = [connection for pool in idle.values() for connection in pool]
        for connection in connections:
            connection.close()
        await asyncio.gather(*(connection.writer.wait_closed() for connection in connections), return_exceptions=True)

    # ------------------------------------------------------------------ one exchange

    async def _exchange(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None, tls: tuple[ssl.SSLContext | None, str]
    ) -> HttpAnswer:
        parts = urlsplit(url)
        scheme, host = parts.scheme, parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        proxy = self._proxy(scheme, host)
        origin: Origin = (scheme, host, port, tls, proxy)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if proxy and scheme == "http":
            target = url  # a plain-HTTP proxy takes the absolute URL
        default_port = port == (443 if scheme == "https" else 80)
        head_lines = [f"{method} {target} HTTP/1.1", f"Host: {host if ':' not in host else f'[{host}]'}{'' if default_port else f':{port}'}"]
        if " " in target or any(not _header_safe(text) for text in (target, *headers, *headers.values())):
            raise HttpProblem(MALFORMED, "the request would carry a line break or control character (or a space in its target) in its head")
        head_lines += [f"{name}: {value}" for name, value in headers.items()]
        head_lines.append(f"Content-Length: {len(body or b'')}")
        request = ("\r\n".join(head_lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
        while True:
            connection = self._take_idle(origin) or await self._connect(origin)
            try:
                connection.writer.write(request)
                await connection.writer.drain()
                answer, keep = await self._read_answer(connection.reader, method)
            except ssl.SSLError as exc:
                connection.close()
                raise HttpProblem(TLS, str(exc)) from None
            except (HttpProblem, OSError) as exc:
                connection.close()
                if connection.reused and _stale(exc):
                    continue  # the server closed an idle connection: once more on a fresh one
                if isinstance(exc, OSError):
                    raise HttpProblem(CONNECT, f"connection lost: {_cause(exc)}") from None
                raise
            except BaseException:
                connection.close()
                raise
            if keep:
                self._give_back(origin, connection)
            else:
                connection.close()
            return answer

    async def _read_answer(self, reader: asyncio.StreamReader, method: str) -> tuple[HttpAnswer, bool]:
        status, headers = await _read_head(reader)
        length = headers.get("content-length")
        keep = headers.get("connection", "").lower() != "close"
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            data = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            data = await self._read_chunked(reader)
        elif length is not None:
            data = await self._read_length(reader, length)
        else:
            data, keep = await self._read_to_end(reader), False
        return HttpAnswer(status, data, headers.get("content-type", "")), keep

    async def _read_length(self, reader: asyncio.StreamReader, raw: str) -> bytes:
        if not raw.strip().isdigit():
            raise HttpProblem(MALFORMED, "the Content-Length header is not a number")
        length = int(raw)
        if length > self.max_body:
            raise HttpProblem(TOO_LARGE, f"the answer announces {length} bytes, above the limit of {self.max_body}")
        try:
            return await reader.readexactly(length)
        except asyncio.IncompleteReadError as exc:
            raise HttpProblem(MALFORMED, f"the answer is truncated: {len(exc.partial)} of {length} bytes") from None

    async def _read_chunked(self, reader: asyncio.StreamReader) -> bytes:
        data = bytearray()
        try:
            while True:
                line = await reader.readuntil(b"\r\n")
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise HttpProblem(MALFORMED, "a chunk size is not a hex number") from None
                if len(data) + size > self.max_body:
                    raise HttpProblem(TOO_LARGE, f"the answer is larger than the limit of {self.max_body} bytes")
                if size == 0:
                    while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                        pass
                    return bytes(data)
                data += (await reader.readexactly(size + 2))[:size]
        except asyncio.IncompleteReadError:
            raise HttpProblem(MALFORMED, f"the answer is truncated after {len(data)} bytes") from None
        except asyncio.LimitOverrunError:
            raise HttpProblem(MALFORMED, "a chunk header is too long") from None

    async def _read_to_end(self, reader: asyncio.StreamReader) -> bytes:
        data = bytearray()
        while chunk := await reader.read(CHUNK):
            data += chunk
            if len(data) > self.max_body:
                raise HttpProblem(TOO_LARGE, f"the answer is larger than the limit of {self.max_body} bytes")
        return bytes(data)

    # ------------------------------------------------------------------ connections

    async def _connect(self, origin: Origin) -> _Connection:
        scheme, host, port, (tls, server_name), proxy = origin
        context = (tls or self._default_context()) if scheme == "https" else None
        expected = server_name or host
        try:
            if proxy:
                proxy_parts = urlsplit(proxy)
                reader, writer = await asyncio.open_connection(
                    proxy_parts.hostname, proxy_parts.port or 80, limit=MAX_HEAD_BYTES
                )
                if context is not None:
                    await _tunnel(reader, writer, host, port)
                    await writer.start_tls(context, server_hostname=expected)
            else:
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=context, server_hostname=expected if context else None, limit=MAX_HEAD_BYTES
                )
        except ssl.SSLError as exc:  # the text says which check failed (callers map it to a hint)
            raise HttpProblem(TLS, str(exc)) from None
        except socket.gaierror:
            raise HttpProblem(CONNECT, "host name not resolved") from None
        except OSError as exc:
            raise HttpProblem(CONNECT, _cause(exc)) from None
        return _Connection(reader, writer)

    def _take_idle(self, origin: Origin) -> _Connection | None:
        pool = self._idle.pop(origin, [])
        found = None
        while pool and found is None:
            connection = pool.pop()
            if connection.usable():
                connection.reused = True
                found = connection
            else:
                connection.close()
        if pool:
            self._idle[origin] = pool  # now the most recently used origin
        return found

    def _give_back(self, origin: Origin, connection: _Connection) -> None:
        pool = self._idle.pop(origin, [])
        if len(pool) >= self.idle_per_origin:
            pool.pop(0).close()
        pool.append(connection)
        self._idle[origin] = pool
        while sum(map(len, self._idle.values())) > self.max_idle:
            oldest = next(iter(self._idle))
            self._idle[oldest].pop(0).close()
            if not self._idle[oldest]:
                del self._idle[oldest]

    def _default_context(self) -> ssl.SSLContext:
        if self._system_context is None:
            self._system_context = ssl.create_default_context()
        return self._system_context

    def _proxy(self, scheme: str, host: str) -> str:
        if not self.use_proxy:
            return ""
        proxy = urllib.request.getproxies_environment().get(scheme, "")
        if not proxy or urllib.request.proxy_bypass_environment(host):  # type: ignore[attr-defined]  # public, untyped in typeshed
            return ""
        return proxy


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    try:
        head = await reader.readexactly(5)
        if head != b"HTTP/":
            raise HttpProblem(MALFORMED, "the answer is not HTTP")
        head += await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            raise ClosedWithoutAnswer() from None
        raise HttpProblem(MALFORMED, "the connection closed before a complete answer") from None
    except asyncio.LimitOverrunError:
        raise HttpProblem(MALFORMED, f"the answer's headers exceed {MAX_HEAD_BYTES} bytes") from None
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/1.") or not code.isdigit():
        raise HttpProblem(MALFORMED, "the answer is not HTTP")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return int(code), headers


async def _tunnel(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, port: int) -> None:
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    writer.write(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode("latin-1"))
    await writer.drain()
    status, _ = await _read_head(reader)
    if status != 200:
        raise HttpProblem(CONNECT, f"the HTTPS proxy refused the tunnel (HTTP {status})")


def _stale(exc: BaseException) -> bool:
    """A reused connection the server had closed: nothing came back at all."""
    return isinstance(exc, (ClosedWithoutAnswer, ConnectionResetError, BrokenPipeError))


def _header_safe(text: str) -> bool:
    """No CR, LF, NUL or other control character: nothing a value could use to add a header or a request."""
    return text.isprintable()


def _cause(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return exc.strerror or type(exc).__name__
