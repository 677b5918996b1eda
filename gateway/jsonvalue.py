"""Parse a fetched value as JSON without ever echoing it."""

from __future__ import annotations

import json
from typing import Any


class NotJson(ValueError):
    """The value is not UTF-8 JSON; deliberately carries no detail about the content."""


def parse_json(value: bytes) -> Any:
    try:
        return json.loads(value.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise NotJson from None


def json_kind(value: Any) -> str:
    """The JSON type name of a parsed value, for messages: ``array``, ``number``…"""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def json_kind_phrase(value: Any) -> str:
    """``an array``, ``a number``, ``null`` — the type with its article, for messages."""
    kind = json_kind(value)
    if kind == "null":
        return kind
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"
