"""The raw-bytes scan of a Mount request (gateway.requestscan): the wire-format walk, the JSON walk, and that
what it refuses is what the parameter budget would refuse, while everything else decodes exactly as before."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway import wire
from gateway.budget import oversized_parameters
from gateway.providerpb import service_pb2 as pb
from gateway.requestscan import MAX_JSON_STEPS, CannotJudge, RequestLimits, oversized_request, top_level_strings
from gateway.rpcdecode import Malformed, Oversized, _decoder
from gateway.testing import mount_request

LIMITS = RequestLimits(max_parameter_bytes=1000, max_fields=16)
FIELD_LIMIT = LIMITS.max_field_bytes


def varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def attributes(text: str) -> bytes:
    return field(1, text.encode())


def go_json(values: dict[str, str]) -> str:
    """JSON as the driver writes it (Go's json.Marshal of a map[string]string: sorted keys, no spaces, <>& escaped)."""
    text = json.dumps(dict(sorted(values.items())), separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


SMALL = attributes('{"objects":"- {objectName: a}"}')
VERSION = field(5, field(1, b"id") + field(2, b"1"))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(b"", [], id="empty"),
        pytest.param(SMALL, [(1, 2, len(SMALL))], id="attributes"),
        pytest.param(VERSION + field(4, b"420") + SMALL, [(1, len(VERSION) + 5 + 2, len(VERSION) + 5 + len(SMALL))], id="out-of-order"),
        pytest.param(
            b"\x08\x96\x01" + b"\x0d1234" + b"\x11" + b"8" * 8 + field(99, b"x" * 300) + SMALL,
            [(1, 3 + 5 + 9 + 304 + 2, 3 + 5 + 9 + 304 + len(SMALL))],
            id="unknown-fields-skipped",
        ),
        pytest.param(b"\x08\x05", [], id="attributes-as-varint-is-not-the-field"),
        pytest.param(field(2, b"{}") + field(1, b"{}") + field(1, b"{}"), [(2, 2, 4), (1, 6, 8), (1, 10, 12)], id="every-occurrence"),
        pytest.param(b"\x33" + SMALL + b"\x34", [], id="inside-a-group-is-not-top-level"),
        pytest.param(b"\x33\x33\x34\x34" + SMALL, [(1, 6, 4 + len(SMALL))], id="after-nested-groups"),
    ],
)
def test_the_walk_finds_every_top_level_string_field(data: bytes, expected: list[tuple[int, int, int]]) -> None:
    assert top_level_strings(data, 16) == expected


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\x8a", id="truncated-tag"),
        pytest.param(b"\x0a\x80", id="truncated-length"),
        pytest.param(b"\x0a\x05ab", id="length-past-the-end"),
        pytest.param(b"\x08\x80", id="truncated-varint"),
        pytest.param(b"\x08" + b"\xff" * 10 + b"\x01", id="varint-over-64-bits"),
        pytest.param(b"\x0d12", id="fixed32-past-the-end"),
        pytest.param(b"\x00\x00", id="field-number-zero"),
        pytest.param(b"\x0e", id="wire-type-6"),
        pytest.param(b"\x33" + SMALL, id="unclosed-group"),
        pytest.param(b"\x34", id="end-without-group"),
        pytest.param(b"\x33\x3c", id="end-of-another-group"),
    ],
)
def test_bytes_that_are_not_protobuf_are_left_to_the_decoder(data: bytes) -> None:
    with pytest.raises(CannotJudge):
        top_level_strings(data, 16)
    assert oversized_request(attributes("x" * (FIELD_LIMIT + 1)) + data, LIMITS) is None  # a large field, then bytes that are not protobuf
    assert isinstance(_decoder(pb.MountRequest, LIMITS)(data), Malformed)


@pytest.mark.parametrize(
    ("fields", "judged"),
    [
        pytest.param(16, True, id="at-the-cap"),
        pytest.param(17, False, id="one-past-the-cap"),
        pytest.param(1_000_000, False, id="a-million"),
    ],
)
def test_the_walk_stops_at_its_field_cap(fields: int, judged: bool) -> None:
    data = b"\x30\x00" * fields  # tiny unknown fields
    assert (top_level_strings(data, 16) is not None) is judged
    message = oversized_request(data, LIMITS)
    assert (message is None) is judged
    if not judged:
        assert message == (
            "the Mount request has more than 16 protobuf fields, the limit per request "
            "(a driver sends 4, and 1 per file mounted before in current_object_version)"
        )


def oversized(values: dict[str, str], limit: int) -> str | None:
    """What the parameter budget says of the decoded values."""
    return "; ".join(oversized_parameters(values, limit)) or None


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({"objects": "x" * 1001}, id="ascii"),
        pytest.param({"objects": "x" * 1000}, id="at-the-limit"),
        pytest.param({"objects": "x" * 999 + "\n"}, id="at-the-limit-with-an-escape"),
        pytest.param({"objects": "- a\n" * 300}, id="newlines"),
        pytest.param({"objects": '"q"\\' * 300}, id="quotes-and-backslashes"),
        pytest.param({"objects": "&<>" * 400}, id="html-escapes"),
        pytest.param({"objects": "é" * 501}, id="two-byte-utf-8"),
        pytest.param({"objects": "€" * 334}, id="three-byte-utf-8"),
        pytest.param({"objects": "\U0001f600" * 251}, id="surrogate-pairs"),
        pytest.param({"objects": "\x01" * 1001}, id="control-characters"),
        pytest.param({"a": "x" * 1001, "objects": "y" * 2000, "z": "small"}, id="several-oversized"),
        pytest.param({"a": "x" * 999, "b": "y" * 999}, id="each-within"),
        pytest.param({"secretProviderClass": "x" * 1001, "csi.storage.k8s.io/pod.name": "p"}, id="any-key"),
        pytest.param({'\u0001ob"jects': "x" * 1001}, id="an-escaped-key"),
    ],
)
@pytest.mark.parametrize("encode", [pytest.param(go_json, id="go"), pytest.param(json.dumps, id="python")])
def test_a_parameter_is_refused_as_the_budget_refuses_it(values: dict[str, str], encode: object) -> None:
    text = encode(values)  # type: ignore[operator]
    if len(text.encode()) > FIELD_LIMIT:
        pytest.skip("over the field limit")
    assert oversized_request(attributes(text), LIMITS) == oversized(json.loads(text), 1000)


SMALL_LIMITS = RequestLimits(max_parameter_bytes=40, max_fields=16)


@given(
    values=st.dictionaries(st.text(max_size=8), st.text(max_size=60), max_size=6),
    encode=st.sampled_from([go_json, json.dumps, lambda values: json.dumps(values, ensure_ascii=False)]),
)
def test_any_string_map_is_judged_as_the_budget_judges_it(values: dict[str, str], encode: object) -> None:
    text = encode(values)  # type: ignore[operator]
    # the budget judges the map the decoder builds, in the text's order (go_json sorts the keys)
    assert oversized_request(attributes(text), SMALL_LIMITS) == oversized(json.loads(text), 40)


def test_a_lone_surrogate_escape_counts_as_the_budget_counts_it() -> None:
    text = '{"objects":"' + "\\ud800" * 334 + '"}'
    assert oversized_request(attributes(text), LIMITS) == oversized(json.loads(text), 1000)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(SMALL + attributes(go_json({"objects": "x" * 1001})), 'parameter "objects" is 1001 bytes', id="a-large-last-one-wins"),
        pytest.param(attributes(go_json({"objects": "x" * 1001})) + SMALL, 'parameter "objects" is 1001 bytes', id="a-large-first-one-protobuf-would-drop"),
        pytest.param(attributes('{"objects":"' + "x" * 1001 + '","objects":"small"}'), 'parameter "objects" is 1001 bytes', id="a-duplicate-key"),
        pytest.param(attributes(go_json({f"p{n}": "x" * 900 for n in range(2)})), None, id="within-the-field-limit"),
        pytest.param(
            attributes(go_json({f"p{n}": "x" * 900 for n in range(1000)})),
            f"the Mount request's attributes field is 909891 bytes, above the limit of {FIELD_LIMIT} bytes "
            "(--max-parameter-bytes plus 512 KiB for the pod's fields and tokens)",
            id="many-parameters-over-the-field-limit",
        ),
        pytest.param(attributes('{"objects": 12345' + " " * 1000 + "}"), None, id="not-a-string-left-to-the-decoder"),
        pytest.param(attributes('["' + "x" * 1001 + '"]'), None, id="not-an-object-left-to-the-decoder"),
        pytest.param(attributes('{"objects":"' + "x" * 1001), None, id="unterminated-left-to-the-decoder"),
        pytest.param(attributes('{"objects":"' + "x" * 1001 + '\\u12"}'), None, id="bad-escape-left-to-the-decoder"),
        pytest.param(attributes('{"objects"' + " " * 100 + ':"' + "x" * 1001 + '"}'), None, id="long-whitespace-not-followed"),
        pytest.param(attributes('{"objects":"' + "x" * 1001 + "\\" * 64 + '\\""}'), None, id="long-backslash-run-not-followed"),
        pytest.param(attributes('{"objects":"' + '\\"' * (MAX_JSON_STEPS + 1) + '"}'), None, id="escaped-quote-flood-not-followed"),
        pytest.param(
            attributes('{"objects":"' + "\\n" * (MAX_JSON_STEPS + 1000) + '","z":"more"}'),
            # 5096 escapes (5096 bytes decoded): 4094 counted exactly, the other 1002 at their worst (6 bytes for 1)
            'parameter "objects" is at least 1088 bytes',
            id="escape-flood-a-lower-bound-and-the-walk-stops-after-it",
        ),
        pytest.param(
            field(2, json.dumps({"PLANTED-key": "PLANTED" * 100_000}).encode()),
            "the Mount request's secrets field is 700019 bytes",
            id="secrets-over-the-field-limit",
        ),
        pytest.param(field(2, json.dumps({"key": "x" * 5000}).encode()), None, id="secrets-within-the-field-limit"),
    ],
)
def test_what_the_scan_refuses(data: bytes, expected: str | None) -> None:
    message = oversized_request(data, LIMITS)
    if expected is None:
        assert message is None
    else:
        assert message is not None and message.startswith(expected)
        assert "PLANTED" not in message and "xxx" not in message


def test_a_refused_request_is_not_decoded() -> None:
    data = attributes(go_json({"objects": "x" * 1001}))
    refused = _decoder(pb.MountRequest, LIMITS)(data)
    assert refused == Oversized(len(data), oversized({"objects": "x" * 1001}, 1000))


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(mount_request("- {objectName: a, objectType: fake}\n"), id="driver-request"),
        pytest.param(mount_request("x" * 900, {"b": "y" * 900}), id="near-the-limits"),
        pytest.param(mount_request("- {objectName: a}\n", current_versions=[(f"f{n}", "1") for n in range(10)]), id="v1.5-versions"),
    ],
)
def test_a_request_within_the_limits_decodes_exactly_as_before(raw: object) -> None:
    data = wire.to_mount_request(raw).SerializeToString()  # type: ignore[arg-type]
    decoded = _decoder(pb.MountRequest, LIMITS)(data)
    assert decoded == pb.MountRequest.FromString(data)
    assert oversized_request(data + SMALL, LIMITS) is None  # a repeated field within the limits: the decoder's "last one wins"
