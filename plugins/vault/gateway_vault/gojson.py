"""JSON as vault-csi-provider writes it: Go's ``encoding/json`` output, byte for byte.

vault-csi-provider decodes Vault's answer into ``api.Secret`` (numbers kept as written,
``UseNumber``) and marshals it again, or one value of it. Go's encoder writes compact JSON,
sorts map keys, escapes ``<``, ``>``, ``&``, U+2028 and U+2029 (it is safe to embed in HTML),
writes other non-ASCII characters as UTF-8 and replaces invalid UTF-16 surrogates with U+FFFD.
Struct fields keep their declaration order, which :func:`secret_json` reproduces for
``api.Secret`` (vault/api 1.23, the version vault-csi-provider 1.7 is built with).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

_SHORT = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
_ESCAPED = re.compile("[\"\\\\\x00-\x1f<>&\u2028\u2029\ud800-\udfff]")


class JsonNumber(float):
    """A JSON number that remembers how Vault wrote it (Go's ``json.Number``)."""

    literal: str

    def __new__(cls, literal: str) -> JsonNumber:
        number = super().__new__(cls, literal)
        number.literal = literal
        return number


def loads(text: str | bytes) -> Any:
    """Decode JSON keeping the literal text of every non-integer number; ``NaN`` and ``Infinity``
    are not JSON (Go refuses them too): ValueError."""
    return json.loads(text, parse_float=JsonNumber, parse_constant=_not_json)


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _SHORT:
        return _SHORT[char]
    if "\ud800" <= char <= "\udfff":
        return "\ufffd"  # a lone surrogate: Go's decoder has already replaced it
    return f"\\u{ord(char):04x}"


def _string(text: str) -> str:
    return '"' + _ESCAPED.sub(_escape, text) + '"'


def encode(value: Any) -> str:
    """``json.Marshal`` of a value decoded from JSON (maps, lists, strings, numbers, bools, null)."""
    if isinstance(value, str):
        return _string(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, JsonNumber):
        return value.literal
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return json.dumps(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{_string(key)}:{encode(value[key])}" for key in sorted(value)) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(encode(item) for item in value) + "]"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def go_json(value: Any) -> bytes:
    return encode(value).encode("utf-8")


# --------------------------------------------------------------------------- api.Secret

Field = tuple[str, Callable[[Any], str], bool]  # JSON name, encoder of the decoded value, omitempty


def _typed(zero: Any, kind: type | tuple[type, ...]) -> Callable[[Any], str]:
    """A Go field of a scalar type: its value when it has that type, else the zero value."""
    return lambda value: encode(value if isinstance(value, kind) and not (kind is int and isinstance(value, bool)) else zero)


def _map_or_null(value: Any) -> str:
    return encode(value) if isinstance(value, Mapping) else "null"


def _strings_or_null(value: Any) -> str:
    return encode([item for item in value if isinstance(item, str)]) if isinstance(value, list) else "null"


def _struct(fields: list[Field]) -> Callable[[Any], str]:
    def encoder(value: Any) -> str:
        members = value if isinstance(value, Mapping) else {}
        parts = []
        for name, field_encoder, omit_empty in fields:
            if omit_empty and members.get(name) in (None, ""):
                continue
            parts.append(f"{_string(name)}:{field_encoder(members.get(name))}")
        return "{" + ",".join(parts) + "}"

    return encoder


def _pointer(struct: Callable[[Any], str]) -> Callable[[Any], str]:
    return lambda value: struct(value) if isinstance(value, Mapping) else "null"


_TEXT, _INT, _BOOL = _typed("", str), _typed(0, int), _typed(False, bool)
_AUTH = _struct([
    ("client_token", _TEXT, False), ("accessor", _TEXT, False), ("policies", _strings_or_null, False),
    ("token_policies", _strings_or_null, False), ("identity_policies", _strings_or_null, False),
    ("metadata", _map_or_null, False), ("orphan", _BOOL, False), ("entity_id", _TEXT, False),
    ("lease_duration", _INT, False), ("renewable", _BOOL, False), ("mfa_requirement", _map_or_null, False),
])
_WRAP_INFO = _struct([
    ("token", _TEXT, False), ("accessor", _TEXT, False), ("ttl", _INT, False), ("creation_time", _TEXT, False),
    ("creation_path", _TEXT, False), ("wrapped_accessor", _TEXT, False),
])
_SECRET = _struct([
    ("request_id", _TEXT, False), ("lease_id", _TEXT, False), ("lease_duration", _INT, False), ("renewable", _BOOL, False),
    ("data", _map_or_null, False), ("warnings", _strings_or_null, False), ("auth", _pointer(_AUTH), True),
    ("wrap_info", _pointer(_WRAP_INFO), True), ("mount_type", _TEXT, True),
])


def secret_json(body: Mapping[str, Any]) -> bytes:
    """The whole Vault answer as vault-csi-provider writes it without ``secretKey``:
    ``json.Marshal`` of the ``api.Secret`` decoded from it (fields Go does not know are dropped)."""
    return _SECRET(body).encode("utf-8")
