"""Aliasing + JMESPath: each ``jmesPath`` entry of an object becomes its own file.

The parent value must be JSON and each result a JSON string (the Go providers' rules and messages);
the file inherits the parent's version and, unless it sets its own, its filePermission.
Messages name the object, the entry and the location the value came from.

Where the work runs (design principle 9): a plain field path takes a step per name, so it runs here.
Any other expression runs here only while the mount's share of :data:`IN_PROCESS_WORK` lasts; the
objects whose evaluation would go past it are evaluated again, under the full budget, in a worker
process that is killed at the deadline (``--max-parse-seconds``) — a thread could not be stopped,
and would hold the interpreter lock against every other mount while it ran.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Sequence
from typing import Any

import jmespath
import jmespath.exceptions

from gateway.budget import DEFAULT_BUDGETS, Budgets, check_derived_value
from gateway.errors import GatewayError, InvalidArgument, ResourceExhausted
from gateway.jmesbudget import Allowance, AllowanceSpent, JmesBudgetExceeded, field_names, search
from gateway.jsonvalue import NotJson, json_kind, parse_json
from gateway.middleware.base import EXTRACT_ORDER, Piece
from gateway.middleware.decode import decode
from gateway.model import JmesEntry, MountPlan
from gateway.text import at, preview
from gateway.workers import WorkerCrashed, WorkerPool, WorkerTimeout, WorkerUnavailable

log = logging.getLogger("gateway.middleware.extract")

MAX_JMES_PATH = 1024  # jmespath's lexer is quadratic in the expression's length
#: jmesPath work (units of :mod:`gateway.jmesbudget`, ≈ bytes visited and made) one mount may do in the
#: gateway's own process, a few milliseconds; what needs more is evaluated in a worker process
IN_PROCESS_WORK = 256 * 1024


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


@functools.lru_cache(maxsize=4096)
def field_path(path: str) -> tuple[str, ...] | None:
    """The names of a plain field path (``a.b`` → ``("a", "b")``), else None; ValueError for an invalid expression."""
    return field_names(compile_jmes(path).parsed)


def is_field_path(path: str) -> bool:
    """Whether ``path`` is a plain field path (evaluated in a step per name, never off the event loop for its own sake)."""
    try:
        return field_path(path) is not None
    except ValueError:
        return True  # refused by the parser before any value is read


class ExtractStage:
    name = "jmespath"
    order = EXTRACT_ORDER
    passes_direct_files = True  # see Stage

    def __init__(self, budgets: Budgets = DEFAULT_BUDGETS, workers: WorkerPool | None = None) -> None:
        self.budgets = budgets
        self.workers = workers  # None: everything is evaluated in this process (one-shot commands, unit tests)

    def __call__(self, pieces: list[Piece], plan: MountPlan) -> list[Piece]:
        allowance = Allowance(IN_PROCESS_WORK) if self.workers is not None else None
        derived: dict[int, list[Piece]] = {}
        deferred: list[int] = []
        for number, piece in enumerate(pieces):
            if piece.is_object_value and piece.obj.jmes:
                try:
                    derived[number] = extract_entries(piece, self.budgets, allowance)
                except AllowanceSpent:
                    deferred.append(number)
        if deferred:
            found = self._in_worker([pieces[number] for number in deferred], plan.request.identity.namespace)
            for number, entries in zip(deferred, found, strict=True):
                derived[number] = [dataclasses.replace(entry, obj=pieces[number].obj) for entry in entries]
        result: list[Piece] = []
        for number, piece in enumerate(pieces):
            result.append(piece)
            result.extend(derived.get(number, ()))
        return result

    def _in_worker(self, pieces: list[Piece], tenant: str) -> list[list[Piece]]:
        """:func:`extract_all` in a worker process, stopped at the deadline (call from a thread, never the loop)."""
        assert self.workers is not None
        seconds = self.budgets.max_parse_seconds
        owner = pieces[0].obj.label + (f" and {len(pieces) - 1} more objects" if len(pieces) > 1 else "")
        # an object's options (a read-only mapping, which does not pickle) play no part in extraction
        sendable = [dataclasses.replace(piece, obj=dataclasses.replace(piece.obj, options={})) for piece in pieces]
        try:
            # one namespace's heavy evaluations share one worker less than the pool has: the others keep one
            found = self.workers.call(extract_all, sendable, self.budgets, timeout=seconds, tenant=tenant)
        except WorkerTimeout:
            raise ResourceExhausted(f"{owner}: evaluating jmesPath took longer than {seconds:g}s (--max-parse-seconds)") from None
        except (WorkerCrashed, MemoryError):
            raise ResourceExhausted(f"{owner}: evaluating jmesPath ran out of memory") from None
        except WorkerUnavailable as exc:
            log.warning("evaluating jmesPath in this thread instead: %s", exc)
            return extract_all(pieces, self.budgets)
        return found  # type: ignore[no-any-return]


def extract_all(pieces: Sequence[Piece], budgets: Budgets) -> list[list[Piece]]:
    """Every object's jmesPath entries under the full budget (what a worker process runs)."""
    return [extract_entries(piece, budgets) for piece in pieces]


def extract_entries(piece: Piece, budgets: Budgets = DEFAULT_BUDGETS, allowance: Allowance | None = None) -> list[Piece]:
    label = piece.obj.label  # computed once per object: the messages of all its entries start with it
    context = f"{label} ({at(piece.obj.backend, piece.location)})"
    try:
        document = parse_json(piece.value)
    except NotJson:
        raise InvalidArgument(f"Invalid JSON used with jmesPath in secret: {preview(piece.obj.ref.name)}. [{context}]") from None
    return [_extract(piece, entry, document, label, context, budgets, allowance) for entry in piece.obj.jmes]


@functools.lru_cache(maxsize=4096)
def _origin(path: str) -> str:
    return f'jmesPath "{preview(path)}"'


def _extract(
    piece: Piece, entry: JmesEntry, document: object, label: str, context: str, budgets: Budgets, allowance: Allowance | None
) -> Piece:
    failure: GatewayError | None = None
    try:
        found = search(compile_jmes(entry.path), document, budgets.jmes, allowance)
    except AllowanceSpent:
        raise
    except JmesBudgetExceeded as exc:
        failure = ResourceExhausted(f'{label} jmesPath "{preview(entry.path)}": {exc} [{context}]')
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
    origin = _origin(entry.path)
    owner = f"{label} {origin}"
    value = decode(found.encode("utf-8", "surrogatepass"), entry.encoding, owner)
    check_derived_value(value, owner, budgets.max_value_bytes)
    return Piece(
        obj=piece.obj,
        name=entry.alias,
        value=value,
        version=piece.version,
        location=piece.location,
        mode=entry.file_permission if entry.file_permission is not None else piece.mode,
        origin=origin,
    )
