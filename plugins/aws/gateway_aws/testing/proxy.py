"""A fault-injecting, call-counting HTTP proxy in front of moto.

Each request is classified as AWS would see it: the service and operation from
``X-Amz-Target`` (JSON protocol) or the ``Action`` form field (STS, query protocol), the region
and access key from the SigV4 ``Authorization`` credential scope, the object names from the
JSON body (``SecretId``, ``SecretIdList``, ``Name``, ``Names``), and the IAM role from the
access key (the proxy learns which role each STS answer's key belongs to, and tests can
register more, e.g. Pod Identity credentials). :class:`Fault` rules match on those keys and
answer with an AWS-shaped error, add latency, or both; ``times`` limits how often a rule fires.
Every request is recorded as a :class:`Call` for call-count assertions.

It is an HTTPS proxy too, once :meth:`AwsProxy.terminate_tunnels` gives it a certificate: a ``CONNECT`` to AWS's
real host names (``secretsmanager.us-east-1.amazonaws.com:443``) is answered by TLS with that certificate and the
requests inside go to moto like any other — so a client that decides AWS's real endpoints itself reaches moto
with only ``HTTPS_PROXY`` and a CA bundle changed.
"""

from __future__ import annotations

import http.client
import itertools
import json
import random
import re
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from gateway.testing.local import LocalHTTPServer, QuietHandler

SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
STS_KEY = re.compile(r"<AccessKeyId>([^<]+)</AccessKeyId>")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"}


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    region: str
    names: tuple[str, ...]
    access_key: str
    role: str
    user_agent: str


@dataclass
class Fault:
    """Match keys ("" = any) and what to do: ``latency`` seconds, then an error when ``status``."""

    service: str = ""
    operation: str = ""
    region: str = ""
    name: str = ""
    role: str = ""
    status: int = 0
    code: str = ""
    message: str = "injected fault"
    latency: float = 0.0
    times: int | None = None
    rate: float = 1.0  # probability that a matching call gets the fault (drawn from the proxy's seeded RNG)

    def matches(self, call: Call) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        for wanted, actual in (
            (self.service, call.service),
            (self.operation, call.operation),
            (self.region, call.region),
            (self.role, call.role),
        ):
            if wanted and wanted != actual:
                return False
        return not self.name or any(n == self.name or n.startswith(self.name + ":") for n in call.names)


class AwsProxy(LocalHTTPServer):
    """Use as a context manager; ``url`` goes into ``AWS_ENDPOINT_URL``."""

    thread_name = "aws-proxy"

    def __init__(self, upstream: str, latency: float = 0.0, jitter: float = 0.0, seed: int = 0) -> None:
        target = urlsplit(upstream)
        self.upstream_host = target.hostname or "127.0.0.1"
        self.upstream_port = target.port or 80
        self.latency = latency  # added to every request
        self.jitter = jitter  # plus up to this much more, at random
        self._random = random.Random(seed)
        self.faults: list[Fault] = []
        self.calls: list[Call] = []
        self.roles: dict[str, str] = {}  # access key id -> role ARN
        self._routes: dict[str, tuple[list[tuple[str, int]], itertools.count[int]]] = {}
        self._lock = threading.Lock()
        self.tunnel_tls: ssl.SSLContext | None = None  # CONNECT answered by TLS with this context; None: refused
        self.tunnels: list[str] = []  # the CONNECT targets, in order

    # ------------------------------------------------------------------ control

    def inject(self, **fault: Any) -> Fault:
        """Add a :class:`Fault` rule, e.g. ``inject(operation="GetParameters", region="us-east-1", status=500)``."""
        rule = Fault(**fault)
        with self._lock:
            self.faults.append(rule)
        return rule

    def fail(self, status: int = 500, code: str = "InternalServiceError", **match: Any) -> Fault:
        return self.inject(status=status, code=code, **match)

    def throttle(self, **match: Any) -> Fault:
        return self.inject(status=400, code="ThrottlingException", message="Rate exceeded", **match)

    def deny(self, **match: Any) -> Fault:
        return self.inject(status=400, code="AccessDeniedException", message="User is not authorized to perform this action", **match)

    def route(self, service: str, *upstreams: str) -> None:
        """Send ``service``'s calls (``sts``, ``secretsmanager``, ``ssm``) to these servers in turn instead of the
        proxy's own upstream (benchmarks: AWS runs each service as a fleet of its own, not one process for all);
        no servers: back to the proxy's own."""
        targets = [(urlsplit(url).hostname or "127.0.0.1", urlsplit(url).port or 80) for url in upstreams]
        with self._lock:
            if targets:
                self._routes[service] = (targets, itertools.count())
            else:
                self._routes.pop(service, None)

    def upstream(self, service: str) -> tuple[str, int]:
        """Where the next call of ``service`` goes."""
        with self._lock:
            route = self._routes.get(service)
            if route is None:
                return self.upstream_host, self.upstream_port
            targets, turns = route
            return targets[next(turns) % len(targets)]

    def terminate_tunnels(self, certificate: str, key: str) -> None:
        """Answer ``CONNECT`` with TLS as the server ``certificate`` names (until :meth:`reset`)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificate, key)
        self.tunnel_tls = context

    def register_role(self, access_key: str, role: str) -> None:
        with self._lock:
            self.roles[access_key] = role

    def reset(self) -> None:
        with self._lock:
            self.faults.clear()
            self.calls.clear()
            self.roles.clear()
            self._routes.clear()
            self.tunnels.clear()
        self.latency = 0.0
        self.tunnel_tls = None

    def count(self, operation: str = "", region: str = "", service: str = "", role: str = "") -> int:
        with self._lock:
            return sum(
                1
                for c in self.calls
                if (not operation or c.operation == operation)
                and (not region or c.region == region)
                and (not service or c.service == service)
                and (not role or c.role == role)
            )

    def clear_calls(self) -> None:
        with self._lock:
            self.calls.clear()

    # ------------------------------------------------------------------ server

    @property
    def url(self) -> str:
        return self.base_url

    # ------------------------------------------------------------------ per request

    def record(self, headers: Any, body: bytes) -> tuple[Call, Fault | None]:
        service, operation, names = _classify(headers, body)
        scope = SCOPE.search(headers.get("Authorization", ""))
        access_key, region = (scope.group(1), scope.group(2)) if scope else ("", "")
        with self._lock:
            call = Call(service, operation, region, names, access_key, self.roles.get(access_key, ""), headers.get("User-Agent", ""))
            self.calls.append(call)
            fault = next((f for f in self.faults if f.matches(call) and self._random.random() < f.rate), None)
            if fault is not None and fault.times is not None:
                fault.times -= 1
        return call, fault

    def delay(self, fault: Fault | None) -> float:
        """Seconds to hold this request: the base latency, the jitter draw and the fault's own."""
        with self._lock:
            jitter = self._random.uniform(0, self.jitter) if self.jitter else 0.0
        return self.latency + jitter + (fault.latency if fault else 0.0)


def _classify(headers: Any, body: bytes) -> tuple[str, str, tuple[str, ...]]:
    target = headers.get("X-Amz-Target", "")
    if target:
        prefix, _, operation = target.partition(".")
        service = {"secretsmanager": "secretsmanager", "AmazonSSM": "ssm"}.get(prefix, prefix)
        try:
            document = json.loads(body or b"{}")
        except ValueError:
            document = {}
        names: list[str] = []
        for key in ("SecretId", "Name"):
            if isinstance(document.get(key), str):
                names.append(document[key])
        for key in ("SecretIdList", "Names"):
            if isinstance(document.get(key), list):
                names += [str(n) for n in document[key]]
        return service, operation, tuple(names)
    form = parse_qs(body.decode("utf-8", "replace"))
    return "sts", (form.get("Action") or [""])[0], tuple(form.get("RoleArn") or ())


def _error_body(call: Call, fault: Fault) -> tuple[str, bytes]:
    if call.service == "sts":
        xml = (
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
            f"<Code>{fault.code}</Code><Message>{fault.message}</Message></Error><RequestId>injected</RequestId></ErrorResponse>"
        )
        return "text/xml", xml.encode()
    return "application/x-amz-json-1.1", json.dumps({"__type": fault.code, "message": fault.message}).encode()


class _Handler(QuietHandler):
    owner: AwsProxy

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def do_CONNECT(self) -> None:
        """A tunnel to AWS's host: TLS ends here, and the requests inside are served as any other."""
        context = self.owner.tunnel_tls
        if context is None:
            self._reply(405, [], b"")
            return
        with self.owner._lock:
            self.owner.tunnels.append(self.path)
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        self.connection = context.wrap_socket(self.connection, server_side=True)
        self.rfile = self.connection.makefile("rb", self.rbufsize)
        self.wfile = self.connection.makefile("wb")  # buffered: whole writes over TLS; each request flushes it
        self.close_connection = False
        while not self.close_connection:
            self.handle_one_request()

    def _serve(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        call, fault = self.owner.record(self.headers, body)
        delay = self.owner.delay(fault)
        if delay:
            time.sleep(delay)
        if fault is not None and fault.status:
            content_type, payload = _error_body(call, fault)
            self._reply(fault.status, [("Content-Type", content_type), ("x-amzn-RequestId", "injected")], payload)
            return
        status, headers, payload = self._forward(body, self.owner.upstream(call.service))
        if call.service == "sts" and status == 200 and call.names:
            found = STS_KEY.search(payload.decode("utf-8", "replace"))
            if found:
                self.owner.register_role(found.group(1), call.names[0])
        self._reply(status, headers, payload)

    def _forward(self, body: bytes, upstream: tuple[str, int]) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(*upstream, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
            return response.status, kept, payload
        finally:
            connection.close()

    def _reply(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


AwsProxy.handler_class = _Handler
