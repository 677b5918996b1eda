"""The Pod Identity agent client's failure paths, against real HTTP peers on 127.0.0.1.

Every way an agent can fail ends in a typed error naming the agent (never Internal, never the pod's
token); what trying again may cure (no connection, no answer in time, an answer that is not the
credentials document, 429/5xx) is retried up to the attempts, a refusal is not.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from gateway.errors import GatewayError
from gateway.metrics import Metrics
from gateway.testing.hostile import HostileServer
from gateway.testing.local import LocalHTTPServer, QuietHandler
from gateway_aws.podidentity import PodIdentityAgent
from gateway_aws.testing import FakePodIdentityAgent

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6dGVhbTphcGkifQ.c2lnbmF0dXJlLW9mLXRoZS1wb2Q"
NOTHING_LISTENS = "http://127.0.0.1:9/v1/credentials"
ATTEMPTS, TIMEOUT = 2, 0.3


class AnsweringAgent(LocalHTTPServer):
    """An agent that answers every request with ``status``, ``content_type`` and ``body`` (``{token}`` in it is the
    token it was shown: an agent that repeats it in its errors)."""

    def __init__(self, status: int, content_type: str, body: str) -> None:
        self.status, self.content_type, self.body = status, content_type, body
        self.requests = 0


class _AnsweringHandler(QuietHandler):
    owner: AnsweringAgent

    def do_GET(self) -> None:
        self.owner.requests += 1
        data = self.owner.body.replace("{token}", self.headers.get("Authorization", "")).encode()
        self.send_response(self.owner.status)
        self.send_header("Content-Type", self.owner.content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


AnsweringAgent.handler_class = _AnsweringHandler
ANSWERS = {
    "html": (200, "text/html", "<html><body>Welcome to nginx!</body></html>"),
    "json-list": (200, "application/json", "[1,2,3]"),
    "echo-500": (500, "application/json", '{"message": "token {token} cannot be verified"}'),
    "echo-400": (400, "application/json", '{"message": "token {token} cannot be verified"}'),
}


@contextmanager
def endpoint(kind: str) -> Iterator[tuple[str, HostileServer | AnsweringAgent | None]]:
    """The agent's URL for ``kind`` and the peer serving it: nothing listening, an agent answering every request
    badly, or a :class:`HostileServer` (which breaks the connection itself: no answer, garbage, a truncated or
    endless body)."""
    if kind == "down":
        yield NOTHING_LISTENS, None
    elif kind in ANSWERS:
        with AnsweringAgent(*ANSWERS[kind]) as agent:
            yield agent.base_url + "/v1/credentials", agent
    else:
        with HostileServer(kind) as hostile:
            yield hostile.address + "/v1/credentials", hostile


def attempts_made(peer: HostileServer | AnsweringAgent) -> int:
    return peer.accepted if isinstance(peer, HostileServer) else peer.requests


@pytest.mark.parametrize(
    ("kind", "code", "reason", "text", "retried"),
    [
        pytest.param("down", "Unavailable", "AgentUnreachable", "cannot connect: ", True, id="agent-down"),
        pytest.param("silent", "DeadlineExceeded", "AgentTimeout", f"no answer within {TIMEOUT:g}s", True, id="timeout"),
        pytest.param("dribble-body", "DeadlineExceeded", "AgentTimeout", f"no answer within {TIMEOUT:g}s", True, id="dribbled-answer"),
        pytest.param("garbage", "Unavailable", "AgentBadAnswer", "not a usable answer: the answer is not HTTP", True, id="garbage"),
        pytest.param("truncated", "Unavailable", "AgentBadAnswer", "not a usable answer: the answer is truncated", True, id="truncated"),
        pytest.param("huge-chunked", "Unavailable", "AgentBadAnswer", "larger than the limit of 65536 bytes", True, id="oversized"),
        pytest.param("html", "Unavailable", "AgentBadAnswer", "the answer is not JSON", True, id="html"),
        pytest.param("json-list", "Unavailable", "AgentBadAnswer", "the answer lacks AccessKeyId/SecretAccessKey/Token", True, id="not-credentials"),
        pytest.param("echo-500", "Unavailable", "AgentHTTP500", "HTTP 500: token [redacted] cannot be verified", True, id="server-error-echoing-token"),
        pytest.param("echo-400", "PermissionDenied", "AgentHTTP400", "HTTP 400: token [redacted] cannot be verified (hint: ", False, id="refusal-echoing-token"),
    ],
)
async def test_agent_failures_are_typed_and_retried_when_it_may_help(kind: str, code: str, reason: str, text: str, retried: bool) -> None:
    metrics = Metrics()
    agent = PodIdentityAgent(metrics, timeout=TIMEOUT, attempts=ATTEMPTS)
    try:
        with endpoint(kind) as (url, peer), pytest.raises(GatewayError) as failed:
            await agent.credentials([url], TOKEN)
    finally:
        await agent.aclose()
    error = failed.value
    assert (type(error).__name__, error.reason) == (code, reason), error.message
    assert error.message.startswith(f"Pod Identity agent {url}: ") and text in error.message
    assert error.retryable is retried
    if kind in ("down", "silent", "dribble-body"):
        assert "is the EKS Pod Identity Agent add-on running on this node?" in error.message
    assert TOKEN not in error.message and TOKEN[-24:] not in error.message
    expected_attempts = ATTEMPTS if retried else 1
    if peer is not None:
        assert attempts_made(peer) == expected_attempts
    assert metrics.retries.labels(backend="aws", operation="PodIdentityAgent")._value.get() == expected_attempts - 1


async def test_agent_answer_becomes_credentials() -> None:
    agent = PodIdentityAgent(Metrics(), timeout=2.0, attempts=ATTEMPTS)
    try:
        with FakePodIdentityAgent() as fake:
            fake.associate(TOKEN, "arn:aws:iam::123456789012:role/api")
            fake.fail(503, times=1)
            credentials = await agent.credentials([NOTHING_LISTENS, fake.url], TOKEN)
    finally:
        await agent.aclose()
    assert credentials.access_key_id.startswith("ASIA") and credentials.expiration is not None
    assert fake.requests == 2  # the 503 was tried again at the same endpoint, after the unreachable one
