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

:meth:`OutboundHttp.stream` reads a long-lived answer (a Kubernetes watch) as it arrives: the
connect and head share one deadline, then every read has an idle deadline instead of a total one,
and every line is held to the body cap.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import socket
import ssl
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import unquote, urlsplit

MAX_HEAD_BYTES = 64 * 1024
CHUNK = 64 * 1024
MAX_PROXY_ENTRIES = 1024

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


T = TypeVar("T")


@dataclass
class HttpStream:
    """An answer read as it arrives (see :meth:`OutboundHttp.stream`)."""

    status: int
    content_type: str
    pieces: AsyncIterator[bytes] = field(repr=False)
    max_line: int

    async def lines(self) -> AsyncIterator[bytes]:
        """The body's non-empty lines (newline-delimited documents), each at most ``max_line`` bytes."""
        buffer = bytearray()
        async for piece in self.pieces:
            buffer += piece
            start = 0
            while (end := buffer.find(b"\n", start)) >= 0:
                line = bytes(buffer[start:end]).strip()
                start = end + 1
                if len(line) > self.max_line:
                    raise HttpProblem(TOO_LARGE, f"a line of the answer is longer than the limit of {self.max_line} bytes")
                if line:
                    yield line
            del buffer[:start]
            if len(buffer) > self.max_line:
                raise HttpProblem(TOO_LARGE, f"a line of the answer is longer than the limit of {self.max_line} bytes")
        if buffer.strip():
            yield bytes(buffer).strip()

    async def read(self) -> bytes:
        """The whole (short) body, e.g. of an error answer; at most ``max_line`` bytes."""
        data = bytearray()
        async for piece in self.pieces:
            data += piece
            if len(data) > self.max_line:
                raise HttpProblem(TOO_LARGE, f"the answer is larger than the limit of {self.max_line} bytes")
        return bytes(data)


Origin = tuple[str, str, int, tuple["ssl.SSLContext | None", str], str]  # scheme, host, port, (TLS context, server name), proxy


class OutboundHttp:
    def __init__(self, *, max_body: int, idle_per_origin: int = 4, max_idle: int = 32, use_proxy: bool = True) -> None:
        self.max_body = max_body
        self.idle_per_origin = idle_per_origin
        self.max_idle = max_idle
        self.use_proxy = use_proxy
        self._idle: dict[Origin, list[_Connection]] = {}  # insertion order: the least recently used origin first
        self._system_context: ssl.SSLContext | None = None
        self._proxies: dict[tuple[str, str], str] = {}  # (scheme, host) -> proxy URL or ""

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

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        url: str,
        *,
        timeout: float,
        idle_timeout: float,
        headers: Mapping[str, str] | None = None,
        tls: ssl.SSLContext | None = None,
        server_name: str = "",
    ) -> AsyncIterator[HttpStream]:
        """A long-lived answer: connect, send and read the head within ``timeout`` seconds, then the body
        as it arrives, every read within ``idle_timeout`` (no total deadline), every line within the body cap.

        The connection is closed when the block ends, never reused. Raises :class:`HttpProblem`."""
        origin, request = self._prepare(method, url, headers or {}, None, (tls, server_name))
        connection: _Connection | None = None
        try:
            async with asyncio.timeout(timeout):
                connection = await self._connect(origin)
                connection.writer.write(request)
                await connection.writer.drain()
                status, head = await _read_head(connection.reader)
        except BaseException as exc:
            if connection is not None:
                connection.close()
            if isinstance(exc, TimeoutError):
                raise HttpProblem(TIMEOUT, f"no answer within {timeout:g}s") from None
            if isinstance(exc, ssl.SSLError):
                raise HttpProblem(TLS, str(exc)) from None
            if isinstance(exc, OSError):
                raise HttpProblem(CONNECT, f"connection lost: {_cause(exc)}") from None
            raise
        try:
            empty = _bodiless(method, status)
            pieces = _no_pieces() if empty else _body_pieces(connection.reader, head, cap=None, idle=idle_timeout)
            yield HttpStream(status, head.get("content-type", ""), pieces, self.max_body)
        finally:
            connection.close()

    async def aclose(self) -> None:
        """Close the idle connections (and wait until they are closed)."""
        idle, self._idle = self._idle, {}
        connections = [connection for pool in idle.values() for connection in pool]
        for connection in connections:
            connection.close()
        await asyncio.gather(*(connection.writer.wait_closed() for connection in connections), return_exceptions=True)

    # ------------------------------------------------------------------ one exchange

    def _prepare(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None, tls: tuple[ssl.SSLContext | None, str]
    ) -> tuple[Origin, bytes]:
        """The origin to connect to and the request's bytes (refused when a header could smuggle another)."""
        scheme, host, port, target = _url_parts(url)
        proxy = self._proxy(scheme, host)
        origin: Origin = (scheme, host, port, tls, proxy)
        proxy_lines: list[str] = []
        if proxy and scheme == "http":
            target = url  # a plain-HTTP proxy takes the absolute URL
            proxy_lines = _proxy_authorization(proxy)
        default_port = port == (443 if scheme == "https" else 80)
        head_lines = [f"{method} {target} HTTP/1.1", f"Host: {host if ':' not in host else f'[{host}]'}{'' if default_port else f':{port}'}"]
        if " " in target or not _header_safe("".join((target, *headers, *headers.values()))):  # one check for all
            raise HttpProblem(MALFORMED, "the request would carry a line break or control character (or a space in its target) in its head")
        head_lines += [f"{name}: {value}" for name, value in headers.items()] + proxy_lines
        head_lines.append(f"Content-Length: {len(body or b'')}")
        return origin, ("\r\n".join(head_lines) + "\r\n\r\n").encode("latin-1") + (body or b"")

    async def _exchange(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None, tls: tuple[ssl.SSLContext | None, str]
    ) -> HttpAnswer:
        origin, request = self._prepare(method, url, headers, body, tls)
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
        keep = headers.get("connection", "").lower() != "close"
        data = bytearray()
        if not _bodiless(method, status):
            async for piece in _body_pieces(reader, headers, cap=self.max_body, idle=None):
                data += piece
            keep = keep and _framed(headers)
        return HttpAnswer(status, bytes(data), headers.get("content-type", "")), keep

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
                    await _tunnel(reader, writer, host, port, _proxy_authorization(proxy))
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
        """The proxy for an origin, from the environment read once per origin (as botocore reads it once per
        client: reading it walks every variable, a third of a small request's CPU); at most MAX_PROXY_ENTRIES kept."""
        if not self.use_proxy:
            return ""
        proxy = self._proxies.get((scheme, host))
        if proxy is None:
            proxy = urllib.request.getproxies_environment().get(scheme, "")
            if urllib.request.proxy_bypass_environment(host):  # type: ignore[attr-defined]  # public, untyped in typeshed
                proxy = ""
            if len(self._proxies) < MAX_PROXY_ENTRIES:
                self._proxies[(scheme, host)] = proxy
        return proxy


@functools.lru_cache(maxsize=256)
def _url_parts(url: str) -> tuple[str, str, int, str]:
    """Scheme, host, port and request target of a URL (a client sends to a few URLs again and again)."""
    parts = urlsplit(url)
    scheme = parts.scheme
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, parts.hostname or "", parts.port or (443 if scheme == "https" else 80), target


def _chunk_size(line: bytes) -> int:
    """The size of a chunk from its header line (``1a;name=value``): hex digits only (no sign, ``0x`` or ``_``)."""
    digits = line.split(b";", 1)[0].strip()
    if not digits or digits.strip(b"0123456789abcdefABCDEF"):
        raise HttpProblem(MALFORMED, "a chunk size is not a hex number")
    return int(digits, 16)


def _bodiless(method: str, status: int) -> bool:
    """An answer that has no body whatever its headers say."""
    return method == "HEAD" or status in (204, 304) or 100 <= status < 200


def _framed(head: Mapping[str, str]) -> bool:
    """The body's end is marked (chunked or by length), so the connection can carry another exchange."""
    return "chunked" in head.get("transfer-encoding", "").lower() or "content-length" in head


async def _body_pieces(
    reader: asyncio.StreamReader, head: Mapping[str, str], *, cap: int | None, idle: float | None
) -> AsyncIterator[bytes]:
    """The body's bytes as they come (chunked, by length or to the end), in pieces of at most ``CHUNK``.

    ``cap`` bounds the whole body (``None``: a stream, whose reader bounds each line); ``idle`` bounds
    every read (``None``: the caller's total deadline does). Raises :class:`HttpProblem`."""
    received = 0

    def over_cap(size: int) -> bool:
        return cap is not None and received + size > cap

    length = head.get("content-length")
    if "chunked" in head.get("transfer-encoding", "").lower():
        while (size := _chunk_size(await _within(reader.readuntil(b"\r\n"), idle, received))) > 0:
            if over_cap(size):
                raise HttpProblem(TOO_LARGE, f"the answer is larger than the limit of {cap} bytes")
            left = size
            while left > 0:
                piece = await _within(reader.readexactly(min(left, CHUNK)), idle, received)
                left -= len(piece)
                received += len(piece)
                yield piece
            if await _within(reader.readexactly(2), idle, received) != b"\r\n":
                raise HttpProblem(MALFORMED, "a chunk does not end where its size says")
        trailers = 0
        while (line := await _within(reader.readuntil(b"\r\n"), idle, received)) != b"\r\n":
            trailers += len(line)
            if trailers > MAX_HEAD_BYTES:
                raise HttpProblem(MALFORMED, f"the answer's trailers exceed {MAX_HEAD_BYTES} bytes")
    elif length is not None:
        if not length.strip().isdigit():
            raise HttpProblem(MALFORMED, "the Content-Length header is not a number")
        left = int(length)
        if over_cap(left):
            raise HttpProblem(TOO_LARGE, f"the answer announces {left} bytes, above the limit of {cap}")
        while left > 0:
            piece = await _within(reader.read(min(left, CHUNK)), idle, received)
            if not piece:
                raise HttpProblem(MALFORMED, f"the answer is truncated: {received} of {length.strip()} bytes")
            left -= len(piece)
            received += len(piece)
            yield piece
    else:
        while piece := await _within(reader.read(CHUNK), idle, received):
            if over_cap(len(piece)):
                raise HttpProblem(TOO_LARGE, f"the answer is larger than the limit of {cap} bytes")
            received += len(piece)
            yield piece


async def _within(step: Awaitable[T], idle: float | None, received: int) -> T:
    """One read of a body, within ``idle`` seconds (``None``: no bound of its own), as :class:`HttpProblem`."""
    try:
        if idle is None:  # the caller's deadline bounds it: no timeout object per read
            return await step
        async with asyncio.timeout(idle):
            return await step
    except asyncio.IncompleteReadError:
        raise HttpProblem(MALFORMED, f"the answer is truncated after {received} bytes") from None
    except asyncio.LimitOverrunError:
        raise HttpProblem(MALFORMED, "a chunk header is too long") from None
    except ssl.SSLError as exc:
        raise HttpProblem(TLS, str(exc)) from None
    except TimeoutError as exc:  # the idle bound, or the system's own (ETIMEDOUT)
        if idle is None:
            raise HttpProblem(CONNECT, f"connection lost: {_cause(exc)}") from None
        raise HttpProblem(TIMEOUT, f"no data for {idle:g}s") from None
    except OSError as exc:
        raise HttpProblem(CONNECT, f"connection lost: {_cause(exc)}") from None


async def _no_pieces() -> AsyncIterator[bytes]:
    return
    yield  # an async generator that yields nothing


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


def _proxy_authorization(proxy: str) -> list[str]:
    """The ``Proxy-Authorization`` header line for a proxy URL with user information
    (``http://user:pass@proxy:3128``, percent-encoded as curl and botocore take it), else none."""
    parts = urlsplit(proxy)
    if parts.username is None:
        return []
    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
    return [f"Proxy-Authorization: Basic {base64.b64encode(pair).decode('ascii')}"]


async def _tunnel(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, port: int, extra_lines: list[str]
) -> None:
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    head = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}", *extra_lines]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
    await writer.drain()
    status, _ = await _read_head(reader)
    if status == 407:
        wanted = "other credentials" if extra_lines else "credentials: give them in the proxy URL, http://user:password@host:port"
        raise HttpProblem(CONNECT, f"the HTTPS proxy refused the tunnel (HTTP 407: it wants {wanted})")
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
