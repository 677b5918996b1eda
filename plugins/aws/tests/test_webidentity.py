"""IRSA's ``AssumeRoleWithWebIdentity`` sent by the plugin itself (gateway_aws.webidentity).

Against moto's real STS behind the counting proxy: credentials, an unsigned request, botocore's endpoint
rules and user agent, retries within the budget, refusals with AWS's words and the token redacted; against
hostile endpoints: garbage, HTML, truncated, oversized or never-finished answers end in a typed, retryable
``Unavailable``/``DeadlineExceeded`` naming the operation, never ``Internal``.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from gateway.plugin import DeadlineExceeded, GatewayError, Metrics, PermissionDenied, Unavailable
from gateway_aws.clients import AwsClients
from gateway_aws.endpoints import OWN_USER_AGENT
from gateway_aws.options import AwsOptions
from gateway_aws.queryxml import NotAnAnswer, read_leaves
from gateway_aws.testing import PRIMARY, AwsWorld, role_arn
from gateway_aws.testing.hostile import failure_against
from gateway_aws.webidentity import WebIdentitySts, read_answer
from gateway_vault.testing.certs import ThrowawayPki  # a throwaway CA (the vault plugin's test kit)

TOKEN = "irsa-token-0123456789abcdef0123"
FAST = {"max_attempts": 1, "connect_timeout": 1.0, "read_timeout": 1.0}


@asynccontextmanager
async def web_identity(**options: Any) -> AsyncIterator[WebIdentitySts]:
    executor = ThreadPoolExecutor(2)
    settings = AwsOptions(**{"read_timeout": 5.0, **options})
    sts = WebIdentitySts(AwsClients(settings, Metrics(), executor), Metrics(), "aws")
    try:
        yield sts
    finally:
        await sts.aclose()
        executor.shutdown(wait=False)


async def assume(sts: WebIdentitySts, role: str = "web", region: str = PRIMARY) -> Any:
    return await sts.assume(region, "apps", role_arn(role), "secrets-gateway-apps-web", TOKEN)


async def test_credentials_from_moto_sts_in_an_unsigned_request_naming_the_gateway(world: AwsWorld) -> None:
    async with web_identity() as sts:
        first = await assume(sts)
        second = await assume(sts, "api")
    assert first.access_key_id and first.secret_access_key and first.session_token
    assert first.expiration is not None and first.expiration.tzinfo is not None and first.seconds_left() > 0
    assert first.access_key_id != second.access_key_id
    calls = world.proxy.calls
    assert [c.operation for c in calls] == ["AssumeRoleWithWebIdentity"] * 2
    assert all(c.access_key == "" and c.user_agent == OWN_USER_AGENT for c in calls)  # decided without botocore
    assert [c.names for c in calls] == [(role_arn("web"),), (role_arn("api"),)]
    assert world.proxy.roles[first.access_key_id] == role_arn("web")  # moto's answer really was for this role


@pytest.mark.parametrize(
    ("fault", "attempts", "calls", "outcome"),
    [
        pytest.param({"status": 503, "code": "ServiceUnavailable", "times": 1}, 2, 2, None, id="server-error-retried"),
        pytest.param({"status": 400, "code": "Throttling", "message": "Rate exceeded", "times": 1}, 2, 2, None, id="throttled-retried"),
        pytest.param({"status": 400, "code": "IDPCommunicationError", "times": 1}, 2, 2, None, id="idp-communication-retried"),
        pytest.param({"status": 503, "code": "ServiceUnavailable"}, 3, 3, Unavailable, id="server-error-every-attempt"),
        pytest.param({"status": 400, "code": "InvalidIdentityToken", "message": f"token {TOKEN} is not valid"}, 3, 1,
                     PermissionDenied, id="refused-token-not-retried"),
        pytest.param({"status": 403, "code": "AccessDenied", "message": "Not authorized"}, 3, 1, PermissionDenied,
                     id="trust-policy-not-retried"),
    ],
)  # fmt: skip
async def test_aws_errors_are_retried_as_botocore_retries_them(
    world: AwsWorld, fault: dict[str, Any], attempts: int, calls: int, outcome: type[GatewayError] | None
) -> None:
    world.proxy.inject(operation="AssumeRoleWithWebIdentity", **fault)
    async with web_identity(max_attempts=attempts) as sts:
        sts.requests.backoff = type(sts.requests.backoff)(attempts=attempts, base=0.01, cap=0.01)  # the budget's backoff is tested in test_budget
        if outcome is None:
            assert (await assume(sts)).access_key_id
            assert sts.metrics.retries.labels(backend="aws", operation="AssumeRoleWithWebIdentity")._value.get() == calls - 1
        else:
            with pytest.raises(outcome) as failed:
                await assume(sts)
            message = failed.value.message
            assert message.startswith(f"AssumeRoleWithWebIdentity failed: {fault['code']}") and TOKEN not in message, message
            assert failed.value.reason == fault["code"]
    assert world.proxy.count("AssumeRoleWithWebIdentity") == calls


ANSWERS = [
    pytest.param("html", Unavailable, "not a usable answer from AWS", id="html-200"),
    pytest.param("html-404", Unavailable, "(HTTP 404 without an AWS error document)", id="html-404"),
    pytest.param("garbage", Unavailable, "not a usable answer from AWS", id="garbage"),
    pytest.param("truncated", Unavailable, "not a usable answer from AWS (the answer is truncated", id="truncated"),
    pytest.param("json-list", Unavailable, "not a usable answer from AWS (the answer is not XML)", id="json"),
    pytest.param("huge-announced", Unavailable, "above the limit of 65536", id="huge-announced"),
    pytest.param("huge-chunked", Unavailable, "larger than the limit of 65536", id="huge-chunked"),
    pytest.param("huge-unframed", Unavailable, "larger than the limit of 65536", id="huge-unframed"),
    pytest.param("redirect", Unavailable, "not a usable answer from AWS (HTTP 307 without an AWS error document)", id="redirect-not-followed"),
    pytest.param("dribble-head", DeadlineExceeded, "AssumeRoleWithWebIdentity: no answer from AWS in time", id="dribbled-head"),
    pytest.param("dribble-body", DeadlineExceeded, "AssumeRoleWithWebIdentity: no answer from AWS in time", id="dribbled-body"),
    pytest.param("silent", DeadlineExceeded, "AssumeRoleWithWebIdentity: no answer from AWS in time", id="silent"),
]


@pytest.mark.parametrize(("behaviour", "error", "text"), ANSWERS)
async def test_an_answer_that_is_not_sts_is_a_typed_error(
    monkeypatch: pytest.MonkeyPatch, behaviour: str, error: type[GatewayError], text: str
) -> None:
    async with web_identity(**FAST) as sts:
        failed = await failure_against(behaviour, "AWS_ENDPOINT_URL_STS", monkeypatch, lambda: assume(sts), sts.aclose)
    assert type(failed) is error and text in failed.message and TOKEN not in failed.message, failed.message


async def test_a_refused_connection_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9")
    async with web_identity(**FAST) as sts:
        with pytest.raises(Unavailable) as failed:
            await assume(sts)
    assert failed.value.message == "AssumeRoleWithWebIdentity: cannot reach AWS (connection refused)"
    assert failed.value.reason == "ConnectionError"


async def test_through_the_http_proxy_of_the_environment(world: AwsWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    """``HTTP_PROXY`` applies as on botocore's path: the endpoint's name is resolved by the proxy, not here."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://sts.gateway-test.invalid")
    monkeypatch.setenv("HTTP_PROXY", world.proxy.url)
    async with web_identity() as sts:
        assert (await assume(sts)).access_key_id
    assert world.proxy.count("AssumeRoleWithWebIdentity") == 1


@pytest.mark.parametrize(
    ("region", "options", "env", "url"),
    [
        pytest.param("eu-west-1", {}, {}, "https://sts.eu-west-1.amazonaws.com/", id="regional"),
        pytest.param("us-east-1", {}, {}, "https://sts.us-east-1.amazonaws.com/", id="us-east-1-regional"),
        pytest.param("cn-north-1", {}, {}, "https://sts.cn-north-1.amazonaws.com.cn/", id="china"),
        pytest.param("us-east-1", {"use_fips_endpoint": True}, {}, "https://sts-fips.us-east-1.amazonaws.com/", id="fips-flag"),
        pytest.param("us-east-2", {}, {"AWS_USE_FIPS_ENDPOINT": "true"}, "https://sts-fips.us-east-2.amazonaws.com/", id="fips-env"),
        pytest.param("eu-west-1", {}, {"AWS_USE_DUALSTACK_ENDPOINT": "true"}, "https://sts.eu-west-1.api.aws/", id="dualstack"),
        pytest.param("eu-west-1", {}, {"AWS_STS_REGIONAL_ENDPOINTS": "legacy"}, "https://sts.amazonaws.com/", id="legacy-global"),
        pytest.param("eu-west-1", {}, {"AWS_ENDPOINT_URL_STS": "http://localstack:4566"}, "http://localstack:4566/", id="service-env"),
    ],
)  # fmt: skip
async def test_the_endpoint_is_botocores(
    monkeypatch: pytest.MonkeyPatch, region: str, options: dict[str, Any], env: dict[str, str], url: str
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    async with web_identity(**options) as sts:
        endpoint = await sts._probe(region)
    assert endpoint.url == url
    assert endpoint.version == "2011-06-15"
    assert endpoint.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert (endpoint.tls is not None) == url.startswith("https:")


def xml(inner: str) -> bytes:
    return f'<?xml version="1.0"?><AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">{inner}' \
        "</AssumeRoleWithWebIdentityResponse>".encode()  # fmt: skip


CREDENTIALS = "<AccessKeyId>AKIA</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken>"


@pytest.mark.parametrize(
    ("status", "body", "check"),
    [
        pytest.param(200, xml(f"<AssumeRoleWithWebIdentityResult><Credentials>{CREDENTIALS}<Expiration>2030-01-01T00:00:00Z"
                              "</Expiration></Credentials></AssumeRoleWithWebIdentityResult>"),
                     lambda c: c.access_key_id == "AKIA" and c.expiration.year == 2030, id="answer"),
        pytest.param(200, xml(f"<AssumeRoleWithWebIdentityResult><Credentials>{CREDENTIALS}</Credentials>"
                              "</AssumeRoleWithWebIdentityResult>"), lambda c: c.expiration is None, id="no-expiration"),
        pytest.param(200, xml("<AssumeRoleWithWebIdentityResult/>"), "lacks AccessKeyId", id="no-credentials"),
        pytest.param(200, xml(f"<AssumeRoleWithWebIdentityResult><Credentials>{CREDENTIALS}<Expiration>soon</Expiration>"
                              "</Credentials></AssumeRoleWithWebIdentityResult>"), "Expiration is not an ISO 8601 time", id="bad-time"),
        pytest.param(400, b"<ErrorResponse><Error><Code>InvalidIdentityToken</Code><Message>" + TOKEN.encode() + b" expired"
                     b"</Message></Error></ErrorResponse>", "InvalidIdentityToken: [redacted] expired", id="error-redacted"),
        pytest.param(500, b"", "AssumeRoleWithWebIdentity failed: HTTP500", id="empty-500"),
        pytest.param(200, b'<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><x>&b;</x>', "declares a document type",
                     id="entities-refused"),
    ],
)  # fmt: skip
def test_read_answer(status: int, body: bytes, check: Callable[[Any], bool] | str) -> None:
    if isinstance(check, str):
        with pytest.raises(GatewayError) as failed:
            read_answer(status, body, TOKEN)
        assert check in failed.value.message and TOKEN not in failed.value.message, failed.value.message
        assert type(failed.value) is not GatewayError and failed.value.code.name != "INTERNAL"
    else:
        assert check(read_answer(status, body, TOKEN))


@pytest.mark.parametrize(
    ("body", "leaves"),
    [
        pytest.param(b"<a><b>1</b><c><d> 2 </d></c></a>", {("a", "b"): "1", ("a", "c", "d"): "2"}, id="paths"),
        pytest.param(b'<s:a xmlns:s="urn:x"><s:b>1</s:b></s:a>', {("a", "b"): "1"}, id="prefixes-dropped"),
        pytest.param(b"<a><b>x &amp; y</b></a>", {("a", "b"): "x & y"}, id="predefined-entities"),
        pytest.param(b"<a>\n  <b>one\ntwo\n</b>\n</a>", {("a", "b"): "one\ntwo"}, id="text-over-lines"),
        pytest.param(b"<a><b>" + b"t" * 20_000 + b"</b></a>", {("a", "b"): "t" * 20_000}, id="text-longer-than-the-parsers-buffer"),
        pytest.param(b"<a>" * 9 + b"</a>" * 9, "deeper than 8", id="too-deep"),
        pytest.param(b"<a>" + b"<b/>" * 300 + b"</a>", "more than 256 elements", id="too-many"),
        pytest.param(b'<!DOCTYPE a SYSTEM "http://127.0.0.1:9/x.dtd"><a/>', "declares a document type", id="external-dtd"),
        pytest.param(b"<a>&nope;</a>", "not XML", id="undefined-entity"),
        pytest.param(b"<a><b></a>", "not XML", id="malformed"),
        pytest.param(b"", "not XML", id="empty"),
    ],
)
def test_read_leaves_is_bounded(body: bytes, leaves: dict[tuple[str, ...], str] | str) -> None:
    if isinstance(leaves, str):
        with pytest.raises(NotAnAnswer, match=leaves):
            read_leaves(body)
    else:
        assert read_leaves(body) == leaves


STS_ANSWER = xml(
    f"<AssumeRoleWithWebIdentityResult><Credentials>{CREDENTIALS}<Expiration>2030-01-01T00:00:00Z</Expiration></Credentials>"
    "</AssumeRoleWithWebIdentityResult>"
)


@pytest.fixture
def https_sts(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS endpoint answering every POST with STS credentials; its certificate is issued by a throwaway CA."""
    pki = ThrowawayPki.create(tmp_path / "pki", loopback=True)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Length", str(len(STS_ANSWER)))
            self.end_headers()
            self.wfile.write(STS_ANSWER)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", pki.ca
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("variable", "trusted"),
    [
        pytest.param("AWS_CA_BUNDLE", True, id="aws-ca-bundle"),
        pytest.param("REQUESTS_CA_BUNDLE", True, id="requests-ca-bundle"),
        pytest.param("", False, id="botocore-default-bundle-refuses"),
    ],
)
async def test_https_trusts_botocores_ca_certificates(
    https_sts: tuple[str, Path], monkeypatch: pytest.MonkeyPatch, variable: str, trusted: bool
) -> None:
    url, ca = https_sts
    for name in ("AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    if variable:
        monkeypatch.setenv(variable, str(ca))
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", url)
    async with web_identity(**FAST) as sts:
        if trusted:
            assert (await assume(sts)).access_key_id == "AKIA"
            return
        with pytest.raises(Unavailable) as failed:
            await assume(sts)
    assert failed.value.reason == "TLS" and "AssumeRoleWithWebIdentity: cannot reach AWS (TLS: " in failed.value.message


async def test_the_ca_bundle_is_read_off_the_event_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a CA bundle's certificates (~30 ms of CPU for botocore's) happens in the pool: the loop keeps serving
    while it is read. The bundle here is a FIFO whose writer waits 2 s before giving it the certificate."""
    ca = ThrowawayPki.create(tmp_path / "pki", loopback=True).ca
    fifo = tmp_path / "bundle.pem"
    os.mkfifo(fifo)

    def write_later() -> None:
        time.sleep(2.0)
        fifo.write_bytes(ca.read_bytes())  # opening blocks until the reader has opened it too

    writer = threading.Thread(target=write_later, daemon=True)
    writer.start()
    monkeypatch.setenv("AWS_CA_BUNDLE", str(fifo))
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "https://127.0.0.1:9")
    ticks: list[float] = []

    async def heartbeat() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    beating = asyncio.ensure_future(heartbeat())
    try:
        async with web_identity(**FAST) as sts:
            endpoint = await asyncio.wait_for(sts._probe(PRIMARY), timeout=30)
    finally:
        beating.cancel()
        writer.join(timeout=30)
    assert endpoint.tls is not None
    assert max(b - a for a, b in itertools.pairwise(ticks)) < 1.0  # no stall near the writer's 2 s
