"""Decoding, JMESPath extraction and key expansion."""

from __future__ import annotations

import json

import pytest

from gateway.app import builtin_stages
from gateway.errors import InvalidArgument
from gateway.middleware.base import MiddlewareRegistry, Piece
from gateway.middleware.decode import decode_base64
from gateway.model import MountPlan
from tests.support import ScriptedBackend, plan_for, registry_of

SECRET = "hunter2-super-secret"
REGISTRY = registry_of(ScriptedBackend(name="fake"))


def run(objects: str, value: bytes, **parameters: str) -> list[Piece]:
    plan: MountPlan = plan_for(objects, REGISTRY, **parameters)
    obj = plan.objects[0]
    pieces = [Piece(obj, obj.file_name, value, "v7", "here", obj.file_permission)]
    return MiddlewareRegistry(builtin_stages()).run(pieces, plan)


def summary(pieces: list[Piece]) -> list[tuple[str, str, bytes, int | None]]:
    return [(p.name, p.child, p.value, p.mode) for p in pieces]


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        pytest.param(b"aGVsbG8=", b"hello", id="standard"),
        pytest.param(b"aGVsbG8", b"hello", id="no-padding"),
        pytest.param(b"aGVs\nbG8=\n", b"hello", id="line-breaks"),
        pytest.param(b"-_8=", b"\xfb\xff", id="url-safe"),
        pytest.param(b"", b"", id="empty"),
    ],
)
def test_decode_base64(encoded: bytes, decoded: bytes) -> None:
    assert decode_base64(encoded, "o") == decoded


@pytest.mark.parametrize(
    ("encoding", "value", "decoded"),
    [
        pytest.param("hex", b"68656C6c6f\n", b"hello", id="hex-either-case"),
        pytest.param("utf-8", b"<as is>", b"<as is>", id="utf-8-unchanged"),
        pytest.param("UTF-8", b"\xc3\xa9", b"\xc3\xa9", id="utf-8-any-case"),
    ],
)
def test_other_encodings(encoding: str, value: bytes, decoded: bytes) -> None:
    assert [p.value for p in run(f"- {{objectName: x, objectType: fake, encoding: {encoding}}}\n", value)] == [decoded]


@pytest.mark.parametrize(
    ("encoding", "bad"),
    [
        pytest.param("base64", b"%%%", id="symbols"), pytest.param("base64", b"a", id="one-char"),
        pytest.param("base64", b"hunter2 secret!", id="secret"), pytest.param("hex", b"hunter2", id="hex-secret"),
        pytest.param("hex", b"abc", id="hex-odd-length"),
    ],
)
def test_decode_errors_name_the_object_not_the_value(encoding: str, bad: bytes) -> None:
    with pytest.raises(InvalidArgument) as caught:
        run(f"- {{objectName: x, objectType: fake, encoding: {encoding}}}\n", bad)
    assert caught.value.message == f'objects[0] "x": value is not valid {encoding} (encoding: {encoding})'
    assert "hunter2" not in caught.value.message


DOC = json.dumps({"user": "app", "password": SECRET, "port": 5432, "nested": {"a": [1, 2]}, "b64": "aGk="}).encode()

EXTRACTION = [
    pytest.param(
        "- {objectName: db, objectType: fake, filePermission: '0640', jmesPath: [{path: user, objectAlias: u}, {path: password, objectAlias: p, filePermission: '0600'}]}\n",
        [("db", "", DOC, 0o640), ("u", "", b"app", 0o640), ("p", "", SECRET.encode(), 0o600)],
        id="jmes-inherits-or-overrides-mode",
    ),
    pytest.param(
        "- {objectName: db, objectType: fake, jmesPath: [{path: b64, objectAlias: hi, encoding: base64}]}\n",
        [("db", "", DOC, None), ("hi", "", b"hi", None)],
        id="jmes-entry-base64",
    ),
    pytest.param(
        "- {objectName: db, objectType: fake, expandKeys: 'true'}\n",
        [("db_user", "", b"app", None), ("db_password", "", SECRET.encode(), None), ("db_port", "", b"5432", None),
         ("db_nested", "", b'{"a":[1,2]}', None), ("db_b64", "", b"aGk=", None)],
        id="expand-prefix",
    ),
    pytest.param(
        "- {objectName: db, objectAlias: cfg, objectType: fake, expandKeys: directory, jmesPath: [{path: user, objectAlias: u}]}\n",
        [("u", "", b"app", None), ("cfg", "user", b"app", None), ("cfg", "password", SECRET.encode(), None),
         ("cfg", "port", b"5432", None), ("cfg", "nested", b'{"a":[1,2]}', None), ("cfg", "b64", b"aGk=", None)],
        id="expand-directory-with-jmes",
    ),
]


@pytest.mark.parametrize(("objects", "expected"), EXTRACTION)
def test_extraction(objects: str, expected: list[tuple[str, str, bytes, int | None]]) -> None:
    assert sorted(summary(run(objects, DOC))) == sorted(expected)


EXTRACTION_ERRORS = [
    pytest.param(
        "- {objectName: db, objectType: fake, jmesPath: [{path: user, objectAlias: u}]}\n", b"not json " + SECRET.encode(),
        'Invalid JSON used with jmesPath in secret: db. [objects[0] "db" (fake @ here)]', id="jmes-not-json",
    ),
    pytest.param(
        "- {objectName: db, objectType: fake, jmesPath: [{path: missing, objectAlias: m}]}\n", DOC,
        'JMES Path - missing for object alias - m does not point to a valid object. [objects[0] "db" (fake @ here)]', id="jmes-missing",
    ),
    pytest.param(
        "- {objectName: db, objectType: fake, jmesPath: [{path: port, objectAlias: p}]}\n", DOC,
        "Invalid JMES search result type for path:port. Only string is allowed. [objects[0] \"db\" (fake @ here): the result is a JSON number]",
        id="jmes-not-string",
    ),
    pytest.param(
        "- {objectName: db, objectType: fake, jmesPath: [{path: 'abs(user)', objectAlias: p}]}\n", DOC,
        'Invalid JMES Path: abs(user). [objects[0] "db" (fake @ here): evaluation failed]', id="jmes-evaluation",
    ),
    pytest.param(
        "- {objectName: db, objectType: fake, expandKeys: 'true'}\n", b"[1, 2]",
        'objects[0] "db" (fake @ here): expandKeys needs a JSON object value, got a JSON array', id="expand-array",
    ),
    pytest.param(
        "- {objectName: db, objectType: fake, expandKeys: directory}\n", b"\xff\xfe",
        'objects[0] "db" (fake @ here): expandKeys needs a JSON object value; the value is not JSON', id="expand-binary",
    ),
    pytest.param(
        "- {objectName: db, objectType: fake, expandKeys: directory}\n", b'{"../escape": "x"}',
        'objects[0] "db" (fake @ here) key #1: the key cannot be a file name', id="expand-traversal-key",
    ),
]


@pytest.mark.parametrize(("objects", "value", "message"), EXTRACTION_ERRORS)
def test_extraction_errors(objects: str, value: bytes, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        run(objects, value)
    assert message in caught.value.message
    assert SECRET not in caught.value.message


def test_plugin_stage_runs_in_order() -> None:
    class Upper:
        name, order = "upper", 150  # after decode, before jmesPath

        def __call__(self, pieces: list[Piece], plan: MountPlan) -> list[Piece]:
            from dataclasses import replace

            return [replace(p, value=p.value.upper()) for p in pieces]

    registry = MiddlewareRegistry([*builtin_stages(), Upper()])
    assert [s.name for s in registry.stages] == ["decode", "upper", "jmespath", "expand-keys"]
    with pytest.raises(ValueError, match="registered twice"):
        registry.add(Upper())
