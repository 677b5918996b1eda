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

from gateway import paths
from gateway.jmesbudget import follow
from gateway.jsonvalue import NotJson, parse_json
from gateway.middleware.decode import DECODERS
from gateway.middleware.extract import field_path
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
        direct = True  # until a file is found that the value stages must make
        owners: list[int] = []
        fields: list[tuple[str, ...] | None] = []
        files: list[str] = []
        modes: list[int | None] = []
        names: list[str] = []
        expands = evaluates = False
        translate = paths.translate
        for position, obj in enumerate(objects):
            expands = expands or obj.expand is not None
            direct = direct and obj.encoding not in DECODERS
            if direct:
                owners.append(position)
                fields.append(None)
                files.append(translate(obj.file_name, translation))
                modes.append(obj.file_permission)
                names.append(obj.file_name)
            for entry in obj.jmes:
                found = field_path(entry.path)
                evaluates = evaluates or found is None
                direct = direct and found is not None and entry.encoding not in DECODERS
                if direct:
                    owners.append(position)
                    fields.append(found)
                    files.append(translate(entry.alias, translation))
                    modes.append(entry.file_permission if entry.file_permission is not None else obj.file_permission)
                    names.append(entry.alias)
        files_expected = float("inf") if expands else float(len(objects) + sum(len(obj.jmes) for obj in objects))
        known = direct and not expands and tuple(checked_names) == tuple(names)
        layout = DirectFiles(tuple(owners), tuple(fields), tuple(files), tuple(modes)) if known else None
        return cls(backend_objects(objects), layout, files_expected, evaluates)


def backend_objects(objects: Sequence[ObjectSpec]) -> tuple[BackendObjects, ...]:
    """Each backend's objects, in the order of the first of each, with the items asked for at its primary location."""
    positions: dict[str, list[int]] = {}
    for position, obj in enumerate(objects):
        positions.setdefault(obj.backend, []).append(position)
    return tuple(BackendObjects(name, tuple(where), tuple(objects[p].item_at(0) for p in where)) for name, where in positions.items())


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
            found = follow(document, names)
            if not isinstance(found, str):
                return None
            value = found.encode("utf-8", "surrogatepass")
            if len(value) > max_value_bytes:
                return None
        rows.append((path, permission if mode is None else mode, value, version))
    return rows


def layout_of(plan: MountPlan) -> ObjectLayout:
    """The plan's layout: the one kept with its parse, else worked out now (plans built by hand, in tests)."""
    if plan.layout is not None:
        return plan.layout
    return ObjectLayout.of(plan.objects, plan.translation, plan.checked_names)
