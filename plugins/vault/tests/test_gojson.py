"""Go's encoding/json output, checked against what Go 1.26 writes for the same decoded values."""

from __future__ import annotations

import pytest

from gateway_vault.gojson import go_json, loads, secret_json


@pytest.mark.parametrize(
    ("source", "go"),
    [
        pytest.param('{"b":1,"a":{"d":[],"c":null}}', '{"a":{"c":null,"d":[]},"b":1}', id="maps-sorted-lists-kept"),
        pytest.param('[2.50, 1e3, -0.0, 1E+2, 12345678901234567890]', "[2.50,1e3,-0.0,1E+2,12345678901234567890]", id="numbers-as-written"),
        pytest.param('"<a&b>"', '"\\u003ca\\u0026b\\u003e"', id="html-escaped"),
        pytest.param('"\\u0001\\b\\f\\n\\r\\t\\"\\\\/\\u007f"', '"\\u0001\\b\\f\\n\\r\\t\\"\\\\/\x7f"', id="control-characters"),
        pytest.param('"\\u2028\\u2029é😀"', '"\\u2028\\u2029é😀"', id="line-separators-escaped-others-raw"),
        pytest.param('"a\\ud800b"', '"a\ufffdb"', id="lone-surrogate-replaced"),
        pytest.param('{"<k>":true,"a":false}', '{"\\u003ck\\u003e":true,"a":false}', id="keys-escaped"),
    ],
)
def test_values(source: str, go: str) -> None:
    assert go_json(loads(source)) == go.encode("utf-8")


def test_secret_struct_layout() -> None:
    answer = loads(
        '{"request_id":"r","lease_id":"","renewable":false,"lease_duration":0,"data":null,"wrap_info":null,"warnings":["w"],'
        '"auth":{"client_token":"t","accessor":"a","policies":["p"],"token_policies":["p"],"metadata":{"b":"2","a":"1"},'
        '"lease_duration":60,"renewable":true,"entity_id":"e","token_type":"service","orphan":true,"mfa_requirement":null},"extra":1}'
    )
    assert secret_json(answer) == (
        b'{"request_id":"r","lease_id":"","lease_duration":0,"renewable":false,"data":null,"warnings":["w"],'
        b'"auth":{"client_token":"t","accessor":"a","policies":["p"],"token_policies":["p"],"identity_policies":null,'
        b'"metadata":{"a":"1","b":"2"},"orphan":true,"entity_id":"e","lease_duration":60,"renewable":true,"mfa_requirement":null}}'
    )


def test_secret_with_wrap_info_and_mount_type() -> None:
    answer = loads('{"data":{"k":"v"},"wrap_info":{"token":"t","ttl":30,"creation_time":"2026-01-01T00:00:00Z"},"mount_type":"kv"}')
    assert secret_json(answer) == (
        b'{"request_id":"","lease_id":"","lease_duration":0,"renewable":false,"data":{"k":"v"},"warnings":null,'
        b'"wrap_info":{"token":"t","accessor":"","ttl":30,"creation_time":"2026-01-01T00:00:00Z","creation_path":"","wrapped_accessor":""},'
        b'"mount_type":"kv"}'
    )


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_constants_are_refused(constant: str) -> None:
    with pytest.raises(ValueError, match="is not a JSON value"):
        loads(f'{{"data": {{"n": {constant}}}}}')
