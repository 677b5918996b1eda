"""Secrets Manager and SSM calls sent by the plugin itself (gateway_aws.jsoncalls, gateway_aws.sigv4).

The mount tests of both backends run this path against moto; here: the signature is botocore's to the byte,
the request goes where botocore would send it and carries the pod's own access key, blobs come back as bytes, and
an answer that is not AWS's (garbage, HTML, truncated, oversized, never finished) is a typed, retryable error
naming the operation, never ``Internal``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore import auth as botocore_auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotocoreCredentials

from gateway.plugin import DeadlineExceeded, GatewayError, Metrics, NotFound, Unavailable
from gateway_aws.clients import AwsClients, Credentials
from gateway_aws.jsoncalls import _decode_blobs
from gateway_aws.options import AwsOptions
from gateway_aws.sigv4 import signed_headers
from gateway_aws.testing import PRIMARY, AwsWorld
from gateway_aws.testing.hostile import failure_against

POD = Credentials("AKIAPODPODPODPOD0001", "pod-secret", "pod-session-token")
NOW = datetime(2026, 12, 1, 17, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("url", "token"),
    [
        pytest.param("https://secretsmanager.us-east-1.amazonaws.com/", "session-token", id="default-port-with-token"),
        pytest.param("http://127.0.0.1:4566/", None, id="port-without-token"),
        pytest.param("https://api.example.com/a%20b/~c/", "session-token", id="path-encoded-as-botocore-does"),
    ],
)
def test_the_signature_is_botocores(monkeypatch: pytest.MonkeyPatch, url: str, token: str | None) -> None:
    body = b'{"SecretIdList": ["a", "b"]}'
    headers = {"X-Amz-Target": "secretsmanager.BatchGetSecretValue", "Content-Type": "application/x-amz-json-1.1",
               "User-Agent": "Botocore/1 secrets-gateway/1"}  # fmt: skip
    monkeypatch.setattr(botocore_auth, "get_current_datetime", lambda: NOW.replace(tzinfo=None))
    request = AWSRequest("POST", url, data=body, headers=dict(headers))
    botocore_auth.SigV4Auth(BotocoreCredentials("AKIA1", "secret", token), "secretsmanager", "us-east-1").add_auth(request)
    host, path = url.split("/")[2], "/" + url.split("/", 3)[3]
    ours = signed_headers(method="POST", host=host, path=path, headers=headers, body=body, access_key="AKIA1", secret_key="secret",
                          token=token, service="secretsmanager", region="us-east-1", now=NOW)  # fmt: skip
    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours["X-Amz-Date"] == request.headers["X-Amz-Date"]
    assert ours.get("X-Amz-Security-Token") == request.headers.get("X-Amz-Security-Token")


def test_the_signature_is_dated_now_in_utc() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    ours = signed_headers(method="POST", host="h", path="/", headers={}, body=b"", access_key="AKIA1", secret_key="secret",
                          token=None, service="secretsmanager", region="us-east-1")  # fmt: skip
    stamp = datetime.strptime(ours["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert before <= stamp <= datetime.now(UTC)
    assert f"Credential=AKIA1/{stamp:%Y%m%d}/us-east-1/secretsmanager/aws4_request" in ours["Authorization"]


@asynccontextmanager
async def aws_clients(**options: Any) -> AsyncIterator[AwsClients]:
    executor = ThreadPoolExecutor(2)
    clients = AwsClients(AwsOptions(**{"max_attempts": 1, "connect_timeout": 1.0, "read_timeout": 1.0, **options}), Metrics(), executor)
    try:
        yield clients
    finally:
        await clients.json_calls.aclose()
        executor.shutdown(wait=False)


async def test_sent_like_botocore_with_the_pods_own_key_and_blobs_as_bytes(world: AwsWorld) -> None:
    world.secret("db", b"\x00\xffbinary")
    world.secret("text", "plain")
    async with aws_clients(read_timeout=5.0) as clients:
        answer = await clients.call(PRIMARY, "secretsmanager", "BatchGetSecretValue", "secretsmanager", "apps", POD, SecretIdList=["db", "text"])
        with pytest.raises(NotFound) as missing:
            await clients.call(PRIMARY, "secretsmanager", "GetSecretValue", "secretsmanager", "apps", POD, SecretId="missing")
    values = {entry["Name"]: entry for entry in answer["SecretValues"]}
    assert values["db"]["SecretBinary"] == b"\x00\xffbinary" and values["text"]["SecretString"] == "plain"
    assert missing.value.message.startswith("GetSecretValue failed: ResourceNotFoundException")
    calls = world.proxy.calls
    assert [(c.operation, c.region, c.access_key) for c in calls] == [
        ("BatchGetSecretValue", PRIMARY, POD.access_key_id), ("GetSecretValue", PRIMARY, POD.access_key_id)]  # fmt: skip
    assert all("secrets-gateway/" in c.user_agent for c in calls)


ANSWERS = [
    pytest.param("html", Unavailable, "not a usable answer from AWS (the answer is not a JSON object)", id="html-200"),
    pytest.param("html-404", Unavailable, "(HTTP 404 without an AWS error document)", id="html-404"),
    pytest.param("garbage", Unavailable, "not a usable answer from AWS", id="garbage"),
    pytest.param("truncated", Unavailable, "the answer is truncated", id="truncated"),
    pytest.param("json-list", Unavailable, "the answer is not a JSON object", id="json-list"),
    pytest.param("json-deep", Unavailable, "the answer is not a JSON object", id="json-deep"),
    pytest.param("huge-announced", Unavailable, "above the limit of 33554432", id="huge-announced"),
    pytest.param("redirect", Unavailable, "(HTTP 307 without an AWS error document)", id="redirect-not-followed"),
    pytest.param("silent", DeadlineExceeded, "GetParameters: no answer from AWS in time", id="silent"),
    pytest.param("dribble-body", DeadlineExceeded, "GetParameters: no answer from AWS in time", id="dribbled-body"),
]


@pytest.mark.parametrize(("behaviour", "error", "text"), ANSWERS)
async def test_an_answer_that_is_not_aws_is_a_typed_error(
    monkeypatch: pytest.MonkeyPatch, behaviour: str, error: type[GatewayError], text: str
) -> None:
    async with aws_clients() as clients:

        async def send() -> object:
            return await clients.call(PRIMARY, "ssm", "GetParameters", "ssmparameter", "apps", POD, Names=["/p"], WithDecryption=True)

        failed = await failure_against(behaviour, "AWS_ENDPOINT_URL_SSM", monkeypatch, send, clients.json_calls.aclose)
    assert type(failed) is error and text in failed.message and failed.message.startswith("GetParameters"), failed.message


@pytest.mark.parametrize(
    ("document", "path", "expected"),
    [
        pytest.param({"SecretBinary": "AP8="}, ("SecretBinary",), {"SecretBinary": b"\x00\xff"}, id="top-level"),
        pytest.param({"SecretValues": [{"SecretBinary": "YQ=="}, {"SecretString": "s"}]}, ("SecretValues", "[]", "SecretBinary"),
                     {"SecretValues": [{"SecretBinary": b"a"}, {"SecretString": "s"}]}, id="in-a-list"),
        pytest.param({"Other": 1}, ("SecretBinary",), {"Other": 1}, id="absent"),
        pytest.param({"SecretBinary": "not base64!"}, ("SecretBinary",), "not base64", id="not-base64"),
    ],
)  # fmt: skip
def test_blobs_are_decoded_where_the_model_has_them(document: dict[str, Any], path: tuple[str, ...], expected: Any) -> None:
    if isinstance(expected, str):
        with pytest.raises(Unavailable, match=expected):
            _decode_blobs(document, path, "GetSecretValue")
        return
    _decode_blobs(document, path, "GetSecretValue")
    assert document == expected
