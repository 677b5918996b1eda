"""Key expansion: ``expandKeys`` mounts every top-level key of a JSON object as its own file.

``expandKeys: true`` (or ``prefix``) names them ``<alias-or-name><separator><key>``
(separator from ``expandKeysSeparator``, default ``_``); ``expandKeys: directory`` puts them
in a directory ``<alias-or-name>/<key>``. The object's own file is replaced by its keys.
String values are written as-is, other JSON values as compact JSON, null as an empty file.
"""

from __future__ import annotations

import json

from gateway.budget import Budgets, check_derived_value
from gateway.errors import InvalidArgument
from gateway.jsonvalue import NotJson, json_kind, parse_json
from gateway.middleware.base import EXPAND_ORDER, Piece
from gateway.model import ExpandMode, MountPlan
from gateway.paths import MAX_COMPONENT_BYTES


class ExpandStage:
    name = "expand-keys"
    order = EXPAND_ORDER
    passes_direct_files = True  # see Stage

    def __init__(self, max_value_bytes: int = Budgets.max_value_bytes) -> None:
        self.max_value_bytes = max_value_bytes

    def __call__(self, pieces: list[Piece], plan: MountPlan) -> list[Piece]:
        result: list[Piece] = []
        for piece in pieces:
            if piece.is_object_value and piece.obj.expand is not None:
                result.extend(expand_keys(piece, self.max_value_bytes))
            else:
                result.append(piece)
        return result


def expand_keys(piece: Piece, max_value_bytes: int = Budgets.max_value_bytes) -> list[Piece]:
    expansion = piece.obj.expand
    assert expansion is not None
    context = f"{piece.obj.label} ({piece.obj.backend} @ {piece.location})"
    try:
        document = parse_json(piece.value)
    except NotJson:
        raise InvalidArgument(f"{context}: expandKeys needs a JSON object value; the value is not JSON") from None
    if not isinstance(document, dict):
        raise InvalidArgument(f"{context}: expandKeys needs a JSON object value, got a JSON {json_kind(document)}")
    pieces = []
    for number, (key, value) in enumerate(document.items(), start=1):
        origin = f"key #{number}"  # by position: a secret's keys are its content, never shown in messages
        if expansion.mode is ExpandMode.DIRECTORY:
            _check_component(key, f"{context} {origin}")
            name, child = piece.name, key
        else:
            name, child = f"{piece.name}{expansion.separator}{key}", ""
        pieces.append(
            Piece(
                obj=piece.obj,
                name=name,
                child=child,
                value=check_derived_value(_file_value(value), f"{context} {origin}", max_value_bytes),
                version=piece.version,
                location=piece.location,
                mode=piece.mode,
                origin=origin,
                name_from_secret=True,
            )
        )
    return pieces


def _file_value(value: object) -> bytes:
    if value is None:
        return b""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass")


def _check_component(key: str, owner: str) -> None:
    if key in ("", ".", "..") or "/" in key or "\x00" in key or key.startswith(".."):
        raise InvalidArgument(f"{owner}: the key cannot be a file name in a directory (expandKeys: directory)")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_COMPONENT_BYTES:
        raise InvalidArgument(f"{owner}: the key is longer than {MAX_COMPONENT_BYTES} bytes")
