"""Aliasing + JMESPath: each ``jmesPath`` entry of an object becomes its own file.

The parent value must be JSON and each result a JSON string (the Go providers' rules and messages);
the file inherits the parent's version and, unless it sets its own, its filePermission.
Messages name the object, the entry and the location the value came from.
"""

from __future__ import annotations

import functools
from typing import Any

import jmespath
import jmespath.exceptions

from gateway.budget import DEFAULT_BUDGETS, Budgets, check_derived_value
from gateway.errors import GatewayError, InvalidArgument, ResourceExhausted
from gateway.jmesbudget import JmesBudgetExceeded, search
from gateway.jsonvalue import NotJson, json_kind, parse_json
from gateway.middleware.base import EXTRACT_ORDER, Piece
from gateway.middleware.decode import decode
from gateway.model import JmesEntry, MountPlan
from gateway.text import at, preview

MAX_JMES_PATH = 1024  # jmespath's lexer is quadratic in the expression's length


@functools.lru_cache(maxsize=1024)
def compile_jmes(path: str) -> Any:
    """Compile (and cache) a JMESPath expression; raise ValueError with the user-facing message.

    The parser runs it on every ``jmesPath`` entry, so a bad expression fails before any fetch."""
    if len(path) > MAX_JMES_PATH:
        raise ValueError(f"Invalid JMES Path: {preview(path, 60)}. (longer than {MAX_JMES_PATH} characters)")
    try:
        return jmespath.compile(path)
    except (jmespath.exceptions.JMESPathError, ValueError, TypeError, RecursionError):
        raise ValueError(f"Invalid JMES Path: {preview(path)}.") from None


class ExtractStage:
    name = "jmespath"
    order = EXTRACT_ORDER

    def __init__(self, budgets: Budgets = DEFAULT_BUDGETS) -> None:
        self.budgets = budgets

    def __call__(self, pieces: list[Piece], plan: MountPlan) -> list[Piece]:
        result: list[Piece] = []
        for piece in pieces:
            result.append(piece)
            if piece.is_object_value and piece.obj.jmes:
                result.extend(extract_entries(piece, self.budgets))
        return result


def extract_entries(piece: Piece, budgets: Budgets = DEFAULT_BUDGETS) -> list[Piece]:
    context = f"{piece.obj.label} ({at(piece.obj.backend, piece.location)})"
    try:
        document = parse_json(piece.value)
    except NotJson:
        raise InvalidArgument(f"Invalid JSON used with jmesPath in secret: {preview(piece.obj.ref.name)}. [{context}]") from None
    return [_extract(piece, entry, document, context, budgets) for entry in piece.obj.jmes]


def _extract(piece: Piece, entry: JmesEntry, document: object, context: str, budgets: Budgets) -> Piece:
    failure: GatewayError | None = None
    try:
        found = search(compile_jmes(entry.path), document, budgets.jmes)
    except JmesBudgetExceeded as exc:
        failure = ResourceExhausted(f'{piece.obj.label} jmesPath "{preview(entry.path)}": {exc} [{context}]')
    except Exception:  # evaluation errors quote the data they failed on: never pass their text on
        failure = InvalidArgument(f"Invalid JMES Path: {preview(entry.path)}. [{context}: evaluation failed]")
    if failure is not None:
        raise failure  # outside the handler: no exception chain keeps the evaluation's frames and values alive
    if found is None:
        raise InvalidArgument(
            f"JMES Path - {preview(entry.path)} for object alias - {preview(entry.alias)} does not point to a valid object. [{context}]"
        )
    if not isinstance(found, str):
        raise InvalidArgument(
            f"Invalid JMES search result type for path:{preview(entry.path)}. Only string is allowed. "
            f"[{context}: the result is a JSON {json_kind(found)}]"
        )
    origin = f'jmesPath "{preview(entry.path)}"'
    value = found.encode("utf-8", "surrogatepass")
    value = decode(value, entry.encoding, f"{piece.obj.label} {origin}")
    check_derived_value(value, f"{piece.obj.label} {origin}", budgets.max_value_bytes)
    return Piece(
        obj=piece.obj,
        name=entry.alias,
        value=value,
        version=piece.version,
        location=piece.location,
        mode=entry.file_permission if entry.file_permission is not None else piece.mode,
        origin=origin,
    )
