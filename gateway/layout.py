"""What a parsed class's objects ask of the fetch and the files, worked out once per class text.

A mount on a parse-cache hit should cost little more per file than copying its value into the
response. So what does not depend on the request is decided with the parse and kept with it
(:attr:`gateway.objects.ParsedObjects.layout`): each backend's objects and the items it is asked
for at its primary location, and — when every file is known from the parse and holds an object's
value or the string a field path (``jmesPath: [{path: username, ...}]``) finds in it, without
``expandKeys`` or decoding — each file's object, field names, path and mode. Such a *direct* class
skips the value stages: :func:`direct_rows` reads the files' contents straight from the answers,
and any value they do not fit (not JSON, not a string, too large) sends the mount through the
stages instead, which name the problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gateway import paths
from gateway.jsonvalue import NotJson, parse_json
from gateway.middleware.decode import DECODERS
from gateway.middleware.extract import field_path, field_text
from gateway.model import FetchItem, MountPlan, ObjectSpec


@dataclass(frozen=True)
class BackendObjects:
    """One backend's objects of a class: their positions in the plan and the items asked for at the primary location."""

    backend: str
    positions: tuple[int, ...]
    items: tuple[FetchItem, ...]


@dataclass(frozen=True)
class DirectFiles:
    """The files of a direct class in the order of the value stages, a column per field (a few tuples, not an
    object per file: a cached class stays cheap for the collector). File ``i`` is on ``paths[i]`` (translated,
    checked by the parser) with mode ``modes[i]`` (None: the request's permission); the object at ``positions[i]``
    gives its contents: its value, or the string at the field path ``names[i]`` in it."""

    positions: tuple[int, ...]
    names: tuple[tuple[str, ...] | None, ...]
    paths: tuple[str, ...]
    modes: tuple[int | None, ...]

    def __len__(self) -> int:
        return len(self.positions)

    def part(self, start: int, stop: int) -> DirectFiles:
        """Files ``start`` to ``stop`` (excluded)."""
        return DirectFiles(self.positions[start:stop], self.names[start:stop], self.paths[start:stop], self.modes[start:stop])


#: one file of the response: path, mode, contents, version
Row = tuple[str, int, bytes, str]
_UNPARSED = object()


@dataclass(frozen=True)
class ObjectLayout:
    backends: tuple[BackendObjects, ...]
    #: every file, when the class is direct (None otherwise)
    direct: DirectFiles | None
    #: files known before the fetch (infinite when keys are expanded: they are known only after it)
    files_expected: float = 0.0
    #: some jmesPath entry does more than follow field names (it may need a worker process)
    evaluates: bool = False

    @classmethod
    def of(cls, objects: Sequence[ObjectSpec], translation: str | None, checked_names: Sequence[str]) -> ObjectLayout:
        positions: dict[str, list[int]] = {}
        columns: tuple[list[Any], list[Any], list[Any], list[Any]] | None = ([], [], [], [])  # None: the stages make a file
        names: list[str] = []
        expands = evaluates = False
        translate = paths.translate
        for position, obj in enumerate(objects):
            positions.setdefault(obj.backend, []).append(position)
            expands = expands or obj.expand is not None
            if obj.encoding in DECODERS:
                columns = None
            if columns is not None:
                _add(columns, position, None, translate(obj.file_name, translation), obj.file_permission)
                names.append(obj.file_name)
            for entry in obj.jmes:
                fields = field_path(entry.path)
                evaluates = evaluates or fields is None
                if fields is None or entry.encoding in DECODERS:
                    columns = None
                if columns is not None:
                    mode = entry.file_permission if entry.file_permission is not None else obj.file_permission
                    _add(columns, position, fields, translate(entry.alias, translation), mode)
                    names.append(entry.alias)
        backends = tuple(
            BackendObjects(name, tuple(where), tuple(objects[p].item_at(0) for p in where)) for name, where in positions.items()
        )
        files_expected = float("inf") if expands else float(len(objects) + sum(len(obj.jmes) for obj in objects))
        direct = None
        if columns is not None and not expands and tuple(checked_names) == tuple(names):
            direct = DirectFiles(*(tuple(column) for column in columns))
        return cls(backends, direct, files_expected, evaluates)


def _add(columns: tuple[list[Any], list[Any], list[Any], list[Any]], *file: Any) -> None:
    for column, value in zip(columns, file, strict=True):
        column.append(value)


def direct_rows(
    files: DirectFiles, answers: Sequence[tuple[bytes, str]], permission: int, max_value_bytes: int, documents: dict[int, object]
) -> list[Row] | None:
    """The rows of (some of) a direct class's files, or None when a value does not fit (the value stages then say
    how); ``documents`` keeps each object's parsed JSON between calls for the files of one mount."""
    rows: list[Row] = []
    for position, names, path, mode in zip(files.positions, files.names, files.paths, files.modes, strict=True):
        value, version = answers[position]
        if names is not None:
            document = documents.get(position, _UNPARSED)
            if document is _UNPARSED:
                try:
                    document = documents[position] = parse_json(value)
                except NotJson:
                    return None
            found = field_text(document, names)
            if found is None or len(found) > max_value_bytes:
                return None
            value = found
        rows.append((path, permission if mode is None else mode, value, version))
    return rows


def layout_of(plan: MountPlan) -> ObjectLayout:
    """The plan's layout: the one kept with its parse, else worked out now (plans built by hand, in tests)."""
    if plan.layout is not None:
        return plan.layout
    return ObjectLayout.of(plan.objects, plan.translation, plan.checked_names)
