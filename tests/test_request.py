"""The Mount request envelope: attributes, secrets, permission, tokens."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from gateway.errors import InvalidArgument
from gateway.request import TOKENS, RawMountRequest, parse_permission, parse_request, parse_tokens

POD = {
    "csi.storage.k8s.io/pod.name": "web-0",
    "csi.storage.k8s.io/pod.namespace": "apps",
    "csi.storage.k8s.io/pod.uid": "uid-1",
    "csi.storage.k8s.io/serviceAccount.name": "web",
}
TOKEN_DOC = {"sts.amazonaws.com": {"token": "header.payload.sig", "expirationTimestamp": "2030-01-01T00:00:00Z"}}


TARGET = "/var/lib/kubelet/pods/uid-1/volumes/kubernetes.io~csi/secrets/mount"


def raw(attributes: object = None, secrets: str = "null", permission: str = "420", target_path: str = TARGET) -> RawMountRequest:
    text = attributes if isinstance(attributes, str) else json.dumps(attributes if attributes is not None else POD)
    return RawMountRequest(text, secrets, permission, target_path)


def test_identity_and_defaults() -> None:
    request = parse_request(raw())
    assert request.identity.namespace == "apps" and request.identity.service_account == "web"
    assert request.identity.pod_name == "web-0" and request.identity.subject == "apps/web"
    assert request.permission == 420 and dict(request.secrets) == {} and request.identity.tokens_provided is False


@pytest.mark.parametrize(
    ("secrets", "expected"),
    [
        pytest.param("null", {}, id="null"),
        pytest.param("{}", {}, id="empty-object"),
        pytest.param("", {}, id="empty-string"),
        pytest.param('{"user": "u"}', {"user": "u"}, id="object"),
    ],
)
def test_secrets_forms(secrets: str, expected: dict[str, str]) -> None:
    assert dict(parse_request(raw(secrets=secrets)).secrets) == expected


def test_tokens_from_attributes_or_secrets() -> None:
    in_attributes = parse_request(raw({**POD, TOKENS: json.dumps(TOKEN_DOC)}))
    in_secrets = parse_request(raw(POD, secrets=json.dumps({TOKENS: json.dumps(TOKEN_DOC)})))
    for request in (in_attributes, in_secrets):
        token = request.identity.token_for("sts.amazonaws.com")
        assert token is not None and token.token == "header.payload.sig"
        assert token.expiration == datetime(2030, 1, 1, tzinfo=UTC)
        assert request.identity.tokens_provided and request.identity.token_for("other") is None
        assert "header.payload.sig" not in repr(request)


#: the Go providers' phrase for each refused field (what users' runbooks grep for)
ATTRIBUTES = "failed to unmarshal attributes"
SECRETS = "failed to unmarshal secrets"
PERMISSION = "failed to unmarshal file permission"
TARGET_PATH = "Missing mount path"
TOKENS_ = "failed to parse serviceAccount.tokens"
BAD_ENVELOPES = [
    pytest.param(raw("not json"), "attributes is not valid JSON (Expecting value at line 1 column 1)", ATTRIBUTES, id="attributes-not-json"),
    pytest.param(raw("[1, 2]"), "attributes must be a JSON object of string values, got an array", ATTRIBUTES, id="attributes-array"),
    pytest.param(raw(""), "attributes is empty", ATTRIBUTES, id="attributes-empty"),
    pytest.param(raw({"objects": 5}), 'attributes: value of "objects" must be a string, got a number', ATTRIBUTES, id="attribute-number"),
    pytest.param(raw({"a": None}), 'attributes: value of "a" must be a string, got null', ATTRIBUTES, id="attribute-null"),
    pytest.param(raw('{"a": "\\ud800"}'), 'the value of "a" contains invalid Unicode', ATTRIBUTES, id="lone-surrogate"),
    pytest.param(raw('{"\\udc00": "x"}'), "attributes: a key contains invalid Unicode", ATTRIBUTES, id="lone-surrogate-key"),
    pytest.param(raw('{"é": "x", "a": "\\ud800"}'), 'the value of "a" contains invalid Unicode', ATTRIBUTES, id="lone-surrogate-beside-non-ascii"),
    pytest.param(raw(secrets="[]"), "secrets must be a JSON object of string values, got an array", SECRETS, id="secrets-array"),
    pytest.param(raw(secrets='{"k": {"x": 1}}'), 'secrets: value of "k" must be a string, got an object', SECRETS, id="secrets-nested"),
    pytest.param(raw(secrets="{oops"), "secrets is not valid JSON", SECRETS, id="secrets-not-json"),
    pytest.param(raw(permission="abc"), 'permission "abc" is not a JSON number', PERMISSION, id="permission-text"),
    pytest.param(raw(permission=""), "permission is empty", PERMISSION, id="permission-empty"),
    pytest.param(raw(target_path=""), "target_path is empty", TARGET_PATH, id="target-path-empty"),
    pytest.param(raw(target_path=" "), "target_path is empty", TARGET_PATH, id="target-path-blank"),
    pytest.param(raw("not json", target_path=""), "target_path is empty", TARGET_PATH, id="target-path-checked-first-like-ascp"),
    pytest.param(raw(permission="4.5"), "must be an integer", PERMISSION, id="permission-float"),
    pytest.param(raw(permission="512"), "permission 512 is out of range", PERMISSION, id="permission-range"),
    pytest.param(raw(permission="-1"), "permission -1 is out of range", PERMISSION, id="permission-negative"),
    pytest.param(raw({**POD, TOKENS: "{not json"}), f"{TOKENS} is not valid JSON", TOKENS_, id="tokens-garbled"),
    pytest.param(raw({**POD, TOKENS: "[]"}), "must be a JSON object of audience -> token", TOKENS_, id="tokens-array"),
    pytest.param(raw({**POD, TOKENS: '{"aud": "jwt"}'}), 'entry for audience "aud" must be an object', TOKENS_, id="token-entry-string"),
    pytest.param(raw({**POD, TOKENS: '{"aud": {"token": 5}}'}), 'entry for audience "aud" has no string "token"', TOKENS_, id="token-number"),
    pytest.param(
        raw({**POD, TOKENS: '{"aud": {"token": "t", "expirationTimestamp": "soon"}}'}),
        'expirationTimestamp for audience "aud" is not an RFC 3339 time',
        TOKENS_,
        id="token-expiry",
    ),
]


@pytest.mark.parametrize(("request_", "message", "headline"), BAD_ENVELOPES)
def test_bad_envelopes(request_: RawMountRequest, message: str, headline: str) -> None:
    """Each message starts with the Go providers' phrase for the field, then names the problem."""
    with pytest.raises(InvalidArgument) as caught:
        parse_request(request_)
    assert caught.value.message.startswith(headline + ": ")
    assert message in caught.value.message


def test_token_values_never_appear_in_errors() -> None:
    secret_token = "eyJSECRET.PAYLOAD.SIGNATURE"
    for document in ('{"aud": {"token": "%s", "expirationTimestamp": 7}}' % secret_token, '{"aud": "%s"}' % secret_token):
        with pytest.raises(InvalidArgument) as caught:
            parse_tokens(document)
        assert secret_token not in str(caught.value)


@pytest.mark.parametrize(("text", "mode"), [("420", 0o644), ("384", 0o600), ("0", 0), ("511", 0o777)])
def test_permission(text: str, mode: int) -> None:
    assert parse_permission(text) == mode


def test_expired_token_is_detected() -> None:
    token = parse_tokens('{"a": {"token": "t", "expirationTimestamp": "2001-01-01T00:00:00Z"}}')["a"]
    assert token.expired(datetime.now(UTC))
