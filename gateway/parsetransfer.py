"""A large class parsed whole in a worker process, and what the worker sends back.

The planner parses a large ``objects`` text off the event loop. Loading the YAML in a worker process was not
enough: validating 21,000 descriptors and ``jmesPath`` entries, the duplicate and path checks and the file
layout then cost the serving process ~150 ms of CPU per parse, in a thread that takes the interpreter lock from
the loop again and again. So :func:`parse_job` runs all of :func:`~gateway.objects.parse_objects` in the worker,
against *stand-ins* of the backends (:class:`Routing`: their names and the descriptor keys they read), and the
serving process only rebuilds the result (:func:`received`) and runs each object's
:meth:`~gateway.backend.Backend.check_object`, which is backend code the worker does not have.

What comes back (:class:`Reply`) is the result without its objects, file names and layout, plus ``parts``:
the objects in order, a few hundred files' worth per part, each part one pickle of four flat columns —

- ``rows``: per object ``(index, backend, name, version, version label, alias, failover ref, file permission,
  encoding, key expansion, options dict or None, object type, number of jmesPath entries)``;
- ``entries``: the part's jmesPath entries as four lists (paths, aliases, permissions, encodings);
- ``names``: the part's slice of ``checked_names``;
- ``files``: the part's slice of the layout's direct files (four lists), or None when the class is not direct.

Plain strings and numbers in a few lists unpickle in C at a fraction of the cost of one object each; strings repeated
within a part (an alias is also a checked name and a file path) are sent, and kept, once. Part by part, the thread
rebuilding the result gives the interpreter lock up between parts, so the event loop waits for it ~0.3 ms at most.

Objects without an ``objectType`` are routed in the worker by the backends' :attr:`~gateway.backend.Backend.claimed_names`
patterns. A class whose routing needs backend code — such an object, and a backend that overrides
:meth:`~gateway.backend.Backend.claims` — comes back as its :class:`Document` instead, parsed in the serving process
(the YAML still loaded in the worker).
"""

from __future__ import annotations

import bisect
import pickle
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway import yaml11, yamlflavour
from gateway.backend import Backend, BackendRegistry
from gateway.dialect import Dialect
from gateway.layout import DirectFiles, ObjectLayout, backend_objects
from gateway.model import EMPTY_MAPPING, FetchBatch, FetchOutcome, JmesEntry, ObjectRef, ObjectSpec, frozen_mapping
from gateway.objects import ParsedObjects, load_in_process, parse_objects

#: files (objects and jmesPath entries) per part of a reply: ~0.3 ms to rebuild
PART_FILES = 250


class NeedsBackendCode(Exception):
    """Routing an object needs a backend's own code (its ``claims``): the worker cannot parse this class."""


class JobNotLoadable(Exception):
    """The worker could not unpickle the job (e.g. a dialect class it cannot import)."""


@dataclass(frozen=True)
class BackendFacts:
    """What parsing reads of a backend besides its code: its name, descriptor keys and location noun."""

    name: str
    object_options: frozenset[str]
    structured_options: frozenset[str]
    location_noun: str
    claimed_names: re.Pattern[str] | None
    claims_need_code: bool  # it overrides Backend.claims


class _StandIn(Backend):
    """A backend as the worker sees it: its facts; a claim made by code needs the real one, and checks are deferred."""

    def __init__(self, facts: BackendFacts) -> None:
        self.name = facts.name
        self.object_options = facts.object_options
        self.structured_options = facts.structured_options
        self.location_noun = facts.location_noun
        self.claimed_names = facts.claimed_names
        self.need_code = facts.claims_need_code

    def claims(self, object_name: str) -> bool:
        if self.need_code:
            raise NeedsBackendCode(self.name)
        return super().claims(object_name)

    async def fetch_many(self, batch: FetchBatch) -> Sequence[FetchOutcome]:
        raise NotImplementedError("a stand-in only routes")


@dataclass(frozen=True)
class Routing:
    """The registry's backends as facts, picklable."""

    backends: tuple[BackendFacts, ...]

    @classmethod
    def of(cls, registry: BackendRegistry) -> Routing:
        return cls(
            tuple(
                BackendFacts(
                    backend.name,
                    frozenset(backend.object_options),
                    frozenset(backend.structured_options),
                    backend.location_noun,
                    backend.claimed_names,
                    backend.claims_need_code(),
                )
                for backend in (entry.backend for entry in registry.entries())
            )
        )

    def registry(self) -> BackendRegistry:
        registry = BackendRegistry()
        for facts in self.backends:
            registry.add(_StandIn(facts))
        return registry


@dataclass(frozen=True)
class ParseJob:
    """The arguments of :func:`~gateway.objects.parse_objects` for a worker (the registry as :class:`Routing`)."""

    parameters: Mapping[str, str]
    routing: Routing
    dialect: Dialect
    strict: bool
    max_objects: int | None
    default_type: str
    yaml_limits: yaml11.YamlLimits


@dataclass
class Reply:
    """A parse done in a worker; see the module docstring for ``parts``."""

    result: ParsedObjects
    checks: list[tuple[int, int]]  # (problem position, object position) of each deferred check_object
    parts: list[bytes] = field(default_factory=list)
    direct: bool = False
    files_expected: float = 0.0
    evaluates: bool = False


@dataclass(frozen=True)
class Document:
    """The class's YAML document, for a parse in the serving process: a list as one pickle per entry (unpickled
    whole, a 1.4 MB class's document held the interpreter lock ~15-25 ms against the event loop), else as it is."""

    in_parts: bool
    value: Any

    @classmethod
    def of(cls, document: Any) -> Document:
        if isinstance(document, list):
            return cls(True, [pickle.dumps(entry, pickle.HIGHEST_PROTOCOL) for entry in document])
        return cls(False, document)

    def document(self) -> Any:
        return [pickle.loads(part) for part in self.value] if self.in_parts else self.value


def transferable(dialect: Dialect) -> bool:
    """Whether a worker can parse in ``dialect``: a built-in YAML flavour, and the dialect picklable."""
    if yamlflavour.FLAVOURS.get(dialect.yaml.name) is not dialect.yaml:
        return False
    try:
        pickle.dumps(dialect)
    except (pickle.PicklingError, TypeError, AttributeError):
        return False
    return True


def parse_job(encoded: bytes) -> Reply | Document:
    """The worker's side: parse the pickled :class:`ParseJob`."""
    try:
        job: ParseJob = pickle.loads(encoded)
    except Exception as exc:
        raise JobNotLoadable(f"{type(exc).__name__}: {exc}") from None
    loaded: list[Any] = []

    def load(flavour: yamlflavour.YamlFlavour, text: str, limits: yaml11.YamlLimits) -> Any:
        loaded.append(load_in_process(flavour, text, limits))
        return loaded[-1]

    checks: list[tuple[int, int]] = []
    try:
        result = parse_objects(
            job.parameters,
            job.routing.registry(),
            dialect=job.dialect,
            strict=job.strict,
            max_objects=job.max_objects,
            default_type=job.default_type,
            yaml_limits=job.yaml_limits,
            load=load,
            deferred_checks=checks,
        )
    except NeedsBackendCode:
        return Document.of(loaded[0])
    layout = None if result.problems else ObjectLayout.of(result.objects, result.translation, result.checked_names)
    reply = Reply(result, checks)
    if layout is not None:
        reply.direct, reply.files_expected, reply.evaluates = layout.direct is not None, layout.files_expected, layout.evaluates
    reply.parts = _parts(result.objects, result.checked_names, layout.direct if layout is not None else None)
    result.objects, result.checked_names = [], ()
    return reply


def _parts(objects: Sequence[ObjectSpec], names: Sequence[str], direct: DirectFiles | None) -> list[bytes]:
    parts = []
    start = name_start = 0
    while start < len(objects):
        stop, files = start, 0
        while stop < len(objects) and files < PART_FILES:
            files += 1 + len(objects[stop].jmes)
            stop += 1
        chunk = objects[start:stop]
        name_stop = name_start + (sum((0 if obj.expand else 1) + len(obj.jmes) for obj in chunk) if names else 0)
        parts.append(pickle.dumps((_rows(chunk), _entries(chunk), names[name_start:name_stop], _files(direct, start, stop)), pickle.HIGHEST_PROTOCOL))
        start, name_start = stop, name_stop
    return parts


def _rows(objects: Sequence[ObjectSpec]) -> list[tuple[Any, ...]]:
    return [
        (obj.index, obj.backend, obj.ref.name, obj.ref.version, obj.ref.version_label, obj.alias, obj.failover_ref,
         obj.file_permission, obj.encoding, obj.expand, dict(obj.options) if obj.options else None, obj.object_type, len(obj.jmes))
        for obj in objects
    ]  # fmt: skip


def _entries(objects: Sequence[ObjectSpec]) -> tuple[list[Any], ...]:
    entries = [entry for obj in objects for entry in obj.jmes]
    return [e.path for e in entries], [e.alias for e in entries], [e.file_permission for e in entries], [e.encoding for e in entries]


def _files(direct: DirectFiles | None, start: int, stop: int) -> tuple[list[Any], ...] | None:
    """The direct files of the objects at positions ``start`` to ``stop`` (excluded)."""
    if direct is None:
        return None
    first, last = bisect.bisect_left(direct.positions, start), bisect.bisect_left(direct.positions, stop)
    return tuple(list(column[first:last]) for column in (direct.positions, direct.names, direct.paths, direct.modes))


def received(reply: Reply, registry: BackendRegistry) -> ParsedObjects:
    """The serving process's side: the result rebuilt from ``reply``, with each object's backend checks run."""
    result = reply.result
    objects = result.objects
    names: list[str] = []
    columns: tuple[list[Any], ...] = ([], [], [], [])
    for part in reply.parts:
        time.sleep(0)  # from a thread: the interpreter lock goes to the event loop now if it waits, not at the switch interval
        rows, entries, part_names, files = pickle.loads(part)
        objects += _objects(rows, entries)
        names += part_names
        if files is not None:
            for column, values in zip(columns, files, strict=True):
                column += values
    result.checked_names = tuple(names)
    found = []
    for slot, position in reply.checks:
        obj = objects[position]
        backend = registry.get(obj.backend)
        messages = backend.check_object(obj) if backend is not None else []
        if messages:
            found.append((slot, [f"{obj.label}: {message}" for message in messages]))
    for slot, messages in reversed(found):
        result.problems[slot:slot] = messages
    if not result.problems:
        direct = DirectFiles(*map(tuple, columns)) if reply.direct else None
        result.layout = ObjectLayout(backend_objects(objects), direct, reply.files_expected, reply.evaluates)
    return result


def _objects(rows: list[tuple[Any, ...]], entries: tuple[list[Any], ...]) -> list[ObjectSpec]:
    jmes = list(map(JmesEntry, *entries))
    objects = []
    start = 0
    for index, backend, name, version, label, alias, failover, permission, encoding, expand, options, object_type, count in rows:
        objects.append(
            ObjectSpec(
                index, backend, ObjectRef(name, version, label), alias, failover, permission, tuple(jmes[start : start + count]),
                encoding, expand, frozen_mapping(options) if options else EMPTY_MAPPING, object_type,
            )
        )  # fmt: skip
        start += count
    return objects
