"""Parse and validate the SecretProviderClass ``objects`` list (and the parameters that shape it).

The fields and their messages are the ones users of the Go providers know (case-insensitive
keys, the same texts); how the text is read — YAML flavour, ``filePermission`` syntax, the
translation default, routing of objects without ``objectType`` — is the class's
:class:`~gateway.dialect.Dialect`. On top, the gateway refuses what the driver would break on
later: file paths that collide after translation, an un-aliased name equal to another file's
name, and unsafe paths from any alias, including JMESPath aliases.

Every problem is collected (not just the first), each naming its object, so
``secrets-gateway validate`` can list them all; a Mount reports them in one error.
This module does no I/O: checks that need a backend's locations live in :mod:`gateway.planner`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway import gcpolicy, paths, yaml11
from gateway.backend import Backend, BackendRegistry
from gateway.dialect import NATIVE, Dialect
from gateway.layout import ObjectLayout
from gateway.middleware.extract import compile_jmes
from gateway.model import EMPTY_MAPPING, ExpandMode, FailoverMode, JmesEntry, KeyExpansion, ObjectRef, ObjectSpec, frozen_mapping
from gateway.text import plural, preview
from gateway.yamlflavour import YamlFlavour

#: how the ``objects`` text becomes a document: in this process, or elsewhere (the planner's worker processes)
Loader = Callable[[YamlFlavour, str, yaml11.YamlLimits], Any]

LOAD_ERROR = "Failed to load SecretProviderClass"
BYTES_PER_OBJECT = 930
BYTES_PER_JMES_ENTRY = 250
MAX_MODE = 0o777
LABEL_LIMIT = 120
ENCODINGS = ("base64", "hex", "utf-8")  # utf-8: the value as is (vault-csi-provider spells it out)

#: descriptor keys the core understands (lower-cased); backends add their own
CORE_KEYS = frozenset(
    {
        "objectname",
        "objecttype",
        "objectalias",
        "objectversion",
        "objectversionlabel",
        "filepermission",
        "jmespath",
        "failoverobject",
        "encoding",
        "expandkeys",
        "expandkeysseparator",
    }
)
JMES_KEYS = frozenset({"path", "objectalias", "filepermission", "encoding"})
FAILOVER_KEYS = frozenset({"objectname", "objectversion", "objectversionlabel"})


@dataclass
class ParsedObjects:
    """The outcome of parsing: objects plus every problem and warning found."""

    objects: list[ObjectSpec] = field(default_factory=list)
    dialect: str = NATIVE.name
    translation: str | None = "_"
    failover_mode: FailoverMode = FailoverMode.ON_ERROR
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unloaded_types: set[str] = field(default_factory=set)
    over_limit: bool = False  # more objects than allowed: a ResourceExhausted, not a malformed class
    #: every file name known before fetching, in the order the value stages produce them, once found safe
    #: and unique after translation (empty when a problem was found)
    checked_names: tuple[str, ...] = ()
    #: problems of :func:`gateway.planner.check_locations` per set of locations, kept with the parse
    location_problems: dict[tuple[tuple[str, tuple[str, ...]], ...], list[str]] = field(default_factory=dict)

    #: what the objects ask of the fetch and the files (:mod:`gateway.layout`), worked out by the planner with the parse
    layout: ObjectLayout | None = None

    def kept_bytes(self, text_bytes: int) -> int:
        """About how much memory this result holds, parsed from ``text_bytes`` of text (measured with
        tracemalloc on Python 3.11: ~780 bytes per plain object, ~215 per jmesPath entry (a named tuple), plus the text's
        strings, and the layout's ~130 and ~35 per file; a count-based estimate, as a text-based one was 3x low for
        classes of short descriptors)."""
        entries = sum(len(obj.jmes) for obj in self.objects)
        return len(self.objects) * BYTES_PER_OBJECT + entries * BYTES_PER_JMES_ENTRY + text_bytes


def parse_objects(
    parameters: Mapping[str, str],
    registry: BackendRegistry,
    *,
    dialect: Dialect = NATIVE,
    strict: bool = False,
    max_objects: int | None = None,
    default_type: str = "",
    yaml_limits: yaml11.YamlLimits = yaml11.DEFAULT_LIMITS,
    load: Loader | None = None,
    deferred_checks: list[tuple[int, int]] | None = None,
) -> ParsedObjects:
    """Parse ``objects``, ``pathTranslation`` and ``failoverMode`` from SecretProviderClass parameters,
    read in ``dialect``.

    An object without ``objectType`` goes to the backend that claims its name, else to the
    default type: the ``defaultObjectType`` parameter, else ``default_type`` (the server's),
    else the dialect's — so classes written for a single-backend provider work unchanged.

    With ``deferred_checks``, each object's :meth:`~gateway.backend.Backend.check_object` is not called but noted
    there as ``(where its problems go in the problems list, the object's position)`` (for a parse in a worker
    process, where the backends are stand-ins: :mod:`gateway.parsetransfer`).
    """
    result = ParsedObjects(dialect=dialect.name)
    try:
        result.translation = paths.parse_translation(parameters.get("pathTranslation", ""), dialect.translation_default)
    except ValueError as exc:
        result.problems.append(str(exc))
    result.failover_mode = _failover_mode(parameters.get("failoverMode", ""), result.problems)

    entries = _load_entries(parameters.get("objects", ""), dialect, result, yaml_limits, load or load_in_process)
    if entries is None:
        return result
    if max_objects is not None and len(entries) > max_objects:
        result.problems.append(f"too many objects: {len(entries)} listed, the limit is {max_objects} per mount")
        result.over_limit = True
        return result
    default_type = parameters.get("defaultObjectType", "") or default_type or dialect.default_object_type
    parser = _DescriptorParser(registry, result, dialect, strict=strict, default_type=default_type, deferred_checks=deferred_checks)
    with gcpolicy.paused():
        for index, entry in enumerate(entries):
            parser.parse(index, entry)
        # later rules run even when earlier ones failed, over what did parse: every problem is reported at once
        # (the path check only when no duplicate was found: it would report each duplicate again as a collision)
        before = len(result.problems)
        _check_duplicates(result)
        if len(result.problems) == before:
            _check_file_paths(result)
    return result


def file_names(obj: ObjectSpec, *, named: bool = True) -> list[tuple[str, str]]:
    """``(name before translation, what produces it)`` for every file known before fetching
    (``named=False``: the producers left empty, for a check that names them only on a problem).

    An object whose keys are expanded writes no file of its own; its key files are only
    known after the fetch and are checked then.
    """
    if not named:
        return ([] if obj.expand else [(obj.file_name, "")]) + [(entry.alias, "") for entry in obj.jmes]
    names = [] if obj.expand else [(obj.file_name, obj.label)]
    names += [(entry.alias, f'{obj.label} jmesPath "{preview(entry.path)}"') for entry in obj.jmes]
    return names


# --------------------------------------------------------------------------- list level


def load_in_process(flavour: YamlFlavour, text: str, limits: yaml11.YamlLimits) -> Any:
    with gcpolicy.paused():
        return flavour.load(text, limits=limits)


def _load_entries(text: str, dialect: Dialect, result: ParsedObjects, limits: yaml11.YamlLimits, load: Loader) -> list[Any] | None:
    problems = result.problems
    if not text.strip():
        return []
    try:
        document = load(dialect.yaml, text, limits)
    except yaml11.YamlTooLarge as exc:
        problems.append(f'{LOAD_ERROR}: parameter "objects": {exc}')
        result.over_limit = True
        return None
    except yaml11.YamlError as exc:
        problems.append(f"{LOAD_ERROR}: {exc}")
        return None
    if document is None:
        return []
    if not isinstance(document, list):
        problems.append(f"{LOAD_ERROR}: objects must be a YAML list of object descriptors, got {_kind(document)}")
        return None
    return document


def _failover_mode(value: str, problems: list[str]) -> FailoverMode:
    normalized = value.strip().lower()
    if normalized in ("", FailoverMode.ON_ERROR.value):
        return FailoverMode.ON_ERROR
    if normalized == FailoverMode.ALL.value:
        return FailoverMode.ALL
    problems.append(f'failoverMode must be "on-error" (default) or "all", got "{preview(value)}"')
    return FailoverMode.ON_ERROR


# --------------------------------------------------------------------------- one descriptor


class _DescriptorParser:
    """Turns raw list entries into :class:`ObjectSpec` objects, recording problems on the way.

    One parser serves a whole list (what it knows of the dialect and of each backend is looked up
    once); :meth:`parse` resets the per-object state.
    """

    def __init__(
        self,
        registry: BackendRegistry,
        result: ParsedObjects,
        dialect: Dialect,
        *,
        strict: bool,
        default_type: str,
        deferred_checks: list[tuple[int, int]] | None = None,
    ) -> None:
        self.default_type = default_type
        self.deferred_checks = deferred_checks
        self.registry = registry
        self.dialect = dialect
        self.as_text = dialect.yaml.text
        self.result = result
        self.strict = strict
        self.backend_keys: dict[str, tuple[dict[str, str], frozenset[str], frozenset[str]]] = {}
        self.index = 0
        self.name = ""
        self.unknown: list[tuple[str, str]] = []

    @property
    def where(self) -> str:
        """How messages name the object being parsed (its name once known)."""
        if not self.name:
            return f"objects[{self.index}]"
        return f'objects[{self.index}] "{preview(self.name, LABEL_LIMIT)}"'

    def problem(self, message: str, part: str = "") -> None:
        """Record ``message`` for this object (``part``: e.g. ``jmesPath[1]``)."""
        self.result.problems.append(f"{self.where}{' ' + part if part else ''}: {message}")

    def parse(self, index: int, entry: Any) -> None:
        self.index, self.name, self.unknown = index, "", []
        if entry is None:
            self.problem("Empty descriptor entry in SecretProviderClass")
            return
        if not isinstance(entry, dict):
            self.problem(f"{LOAD_ERROR}: an object descriptor must be a mapping, got {_kind(entry)}")
            return
        fields = self.fields(entry, CORE_KEYS)
        if fields is None:
            return
        name = self.text(fields, "objectName")
        if not name:
            self.problem("Object name must be specified")
            return
        self.name = name
        object_type = self.text(fields, "objectType")
        backend = self.route(name, object_type)
        if backend is None:
            return
        if len(fields) == 2 and "objecttype" in fields:  # the common descriptor: a name and a type, nothing else to read
            spec = ObjectSpec(index, backend.name, ObjectRef(name), object_type=object_type)
        else:
            spec = self.spec(index, fields, name, object_type, backend)
        if self.deferred_checks is None:
            for message in backend.check_object(spec):
                self.problem(message)
        else:
            self.deferred_checks.append((len(self.result.problems), len(self.result.objects)))
        if self.unknown:
            self.report_unknown_keys(backend)
        self.result.objects.append(spec)

    def spec(self, index: int, fields: dict[str, Any], name: str, object_type: str, backend: Backend) -> ObjectSpec:
        claimed = not object_type and backend.claims(name)
        alias = self.text(fields, "objectAlias")
        version = self.text(fields, "objectVersion")
        failover = fields.get("failoverobject")
        jmes = fields.get("jmespath")
        return ObjectSpec(
            index=index,
            backend=backend.name,
            ref=ObjectRef(name, version, self.text(fields, "objectVersionLabel")),
            alias=alias,
            failover_ref=None if failover is None else self.failover(failover, backend, claimed, alias, version),
            file_permission=self.permission(self.text(fields, "filePermission")),
            jmes=() if jmes is None else self.jmes(jmes),
            encoding=self.encoding(self.text(fields, "encoding")),
            expand=self.expansion(fields),
            options=self.options(fields, backend),
            object_type=object_type,
        )

    # -- routing

    def route(self, name: str, object_type: str) -> Backend | None:
        """The backend for this object: ``objectType``; else the backend claiming the name; else
        the default type, unless the dialect refuses the name; else the dialect's problem."""
        if object_type:
            backend = self.registry.get(object_type)
            if backend is None:
                known = ", ".join(self.registry.names()) or "none"
                self.problem(f"Invalid objectType: {preview(object_type)} (backends loaded: {known})")
                self.result.unloaded_types.add(object_type)
            return backend
        claimants = self.registry.claimants(name)
        if len(claimants) > 1:
            names = " and ".join(f'"{backend.name}"' for backend in claimants)
            self.problem(f"{names} both claim this name: set objectType")
            return None
        if claimants:
            return claimants[0]
        problem = self.dialect.unclaimed_problem(name)
        if problem is None and self.default_type:
            return self.route(name, self.default_type)
        self.problem(problem or self.dialect.missing_type(name))
        return None

    # -- fields

    def fields(self, entry: dict[Any, Any], allowed: frozenset[str], part: str = "") -> dict[str, Any] | None:
        """Lower-case the keys; refuse a key given twice in different case; note keys not in ``allowed``
        (at the descriptor level the routed backend's own keys are excused later, in :meth:`report_unknown_keys`)."""
        fields: dict[str, Any] = {}
        unknown = []
        for key, value in entry.items():
            text = key if key.__class__ is str else self.as_text(key)
            if text is None:
                self.problem(f"{LOAD_ERROR}: a key is not a string", part)
                return None
            lowered = text.lower()
            if lowered in fields:
                first = next(other for other in map(self.as_text, entry) if other is not None and other.lower() == lowered)
                self.problem(f'key "{preview(text)}" is given twice (also as "{preview(first)}")', part)
                return None
            fields[lowered] = value
            if lowered not in allowed:
                unknown.append((part, text))
        if unknown:
            self.unknown += unknown
        return fields

    def report_unknown_keys(self, backend: Backend) -> None:
        """Keys neither the core nor ``backend`` reads: a warning (the Go providers ignore them), a problem in strict mode."""
        backend_keys = self.keys_of(backend)[2]
        for part, text in self.unknown:
            if not part and text.lower() in backend_keys:
                continue
            if self.strict:
                self.problem(f'unknown key "{preview(text)}" (strict mode)', part)
            else:
                self.result.warnings.append(f'{self.where}{" " + part if part else ""}: unknown key "{preview(text)}" ignored')

    def text(self, fields: dict[str, Any], key: str, part: str = "") -> str:
        """The string form of field ``key`` (given in its canonical camelCase spelling); absent is empty."""
        value = fields.get(key.lower())
        if value is None:
            return ""
        if value.__class__ is str:  # a string scalar is its own text in every flavour
            return value
        text = self.as_text(value)
        if text is None:
            self.problem(f"{LOAD_ERROR}: field {key} must be a string, got {_kind(value)}", part)
            return ""
        return text

    def permission(self, value: str, part: str = "") -> int | None:
        if not value:
            return None
        try:
            mode = self.dialect.file_permission(value)
        except ValueError as exc:
            self.problem(str(exc), part)
            return None
        if mode is not None and not 0 <= mode <= MAX_MODE:
            self.problem(f"Invalid File Permission: {value} (only 0000-0777: the driver refuses setuid, setgid and sticky bits)", part)
            return None
        return mode

    def encoding(self, value: str, part: str = "") -> str:
        if not value:
            return ""
        normalized = value.lower()
        if normalized not in ENCODINGS:
            self.problem(f'encoding must be "base64", "hex", "utf-8" or empty, got "{preview(value)}"', part)
            return ""
        return normalized

    def jmes(self, value: Any) -> tuple[JmesEntry, ...]:
        if not isinstance(value, list):
            self.problem(f"{LOAD_ERROR}: jmesPath must be a list of {{path, objectAlias}} entries, got {_kind(value)}")
            return ()
        entries = []
        for number, raw in enumerate(value):
            if raw.__class__ is dict and len(raw) == 2:  # the common entry: {path: …, objectAlias: …}, both plain strings
                path, alias = raw.get("path"), raw.get("objectAlias")
                if path.__class__ is str and alias.__class__ is str and path and alias and _compiles(path):
                    entries.append(JmesEntry(path, alias))  # what the steps below make of it
                    continue
            part = f"jmesPath[{number}]"
            if not isinstance(raw, dict):
                self.problem(f"{LOAD_ERROR}: a jmesPath entry must be a mapping, got {_kind(raw)}", part)
                continue
            fields = self.fields(raw, JMES_KEYS, part)
            if fields is None:
                continue
            path = self.text(fields, "path", part)
            alias = self.text(fields, "objectAlias", part)
            if not path:
                self.problem("Path must be specified for JMES object", part)
                continue
            if not alias:
                self.problem("Object alias must be specified for JMES object", part)
                continue
            try:
                compile_jmes(path)
            except ValueError as exc:
                self.problem(str(exc), part)  # the entry still claims its alias: a duplicate is reported too
            permission = self.permission(self.text(fields, "filePermission", part), part)
            encoding = self.encoding(self.text(fields, "encoding", part), part)
            entries.append(JmesEntry(path, alias, permission, encoding))
        return tuple(entries)

    def failover(self, value: Any, backend: Backend, claimed: bool, alias: str, version: str) -> ObjectRef | None:
        """``failoverObject``; when the primary was routed by its name, the failover name must be
        claimed too (a name the dialect has its own rule for is left to the backend's check)."""
        part = "failoverObject"
        if not isinstance(value, dict):
            self.problem(f"{LOAD_ERROR}: failoverObject must be a mapping, got {_kind(value)}")
            return None
        fields = self.fields(value, FAILOVER_KEYS, part)
        if fields is None:
            return None
        ref = ObjectRef(
            self.text(fields, "objectName", part),
            self.text(fields, "objectVersion", part),
            self.text(fields, "objectVersionLabel", part),
        )
        if not ref.name:
            return None  # a failoverObject without a name is ignored, as the Go providers do
        if not alias:
            self.problem(f"object alias must be specified for objects with failover entries: {preview(self.name)}")
        if ref.version != version:
            nouns = plural(backend.location_noun)
            self.problem(f"object versions must match between primary and failover {nouns}: {preview(self.name)}")
        if claimed and not self.registry.claimants(ref.name) and self.dialect.unclaimed_problem(ref.name) is None:
            self.problem(self.dialect.missing_type(ref.name), part)
        return ref

    def expansion(self, fields: dict[str, Any]) -> KeyExpansion | None:
        if "expandkeys" not in fields and "expandkeysseparator" not in fields:
            return None
        mode = self.text(fields, "expandKeys").lower()
        separator = self.text(fields, "expandKeysSeparator")
        if mode in ("", "false"):
            if separator:
                self.problem("expandKeysSeparator is set but expandKeys is not")
            return None
        if mode in ("true", ExpandMode.PREFIX.value):
            separator = separator or "_"
            if "/" in separator or "\x00" in separator:
                self.problem(f'expandKeysSeparator "{preview(separator)}" may not contain "/" or NUL')
            return KeyExpansion(ExpandMode.PREFIX, separator)
        if mode == ExpandMode.DIRECTORY.value:
            if separator:
                self.problem("expandKeysSeparator has no meaning with expandKeys: directory")
            return KeyExpansion(ExpandMode.DIRECTORY, "/")
        self.problem(f'expandKeys must be "true", "prefix", "directory" or "false", got "{preview(mode)}"')
        return None

    def keys_of(self, backend: Backend) -> tuple[dict[str, str], frozenset[str], frozenset[str]]:
        """``backend``'s descriptor keys: its own options (lower-cased → as spelled), the structured ones, all it reads."""
        keys = self.backend_keys.get(backend.name)
        if keys is None:
            spelled = {key.lower(): key for key in backend.object_options if key.lower() not in CORE_KEYS}
            structured = frozenset(key.lower() for key in backend.structured_options)
            keys = self.backend_keys[backend.name] = (spelled, structured, frozenset(key.lower() for key in backend.object_options))
        return keys

    def options(self, fields: dict[str, Any], backend: Backend) -> Mapping[str, str]:
        """The backend's own keys (lower-cased); structured ones as JSON text."""
        spelled, structured, _ = self.keys_of(backend)
        found = fields.keys() & spelled.keys() if spelled else ()
        if not found:
            return EMPTY_MAPPING  # read-only, so shared
        options = {}
        for key in sorted(found):  # problems in the same order in every process (a set's order follows the hash seed)
            value = fields[key]
            if key in structured and isinstance(value, (dict, list)):
                try:
                    options[key] = json.dumps(self.dialect.yaml.data(value), sort_keys=True, default=str)
                except TypeError:  # keys that do not sort together: a string beside an unquoted number or yes/no
                    self.problem(f"{LOAD_ERROR}: field {spelled[key]} holds a mapping whose keys mix strings and other scalars: quote them")
            else:
                options[key] = self.text(fields, spelled[key])
        return frozen_mapping(options)


# --------------------------------------------------------------------------- whole list


def _check_duplicates(result: ParsedObjects) -> None:
    """The duplicate rules users know from the Go providers, with their messages."""
    seen_names: dict[str, tuple[str, str]] = {}
    seen_aliases: set[str] = set()
    for obj in result.objects:
        name, alias, label = obj.ref.name, obj.alias, obj.ref.version_label
        if name in seen_names:
            found_alias, found_label = seen_names[name]
            name, alias, label = preview(name), preview(alias), preview(label)
            prefix = f"found descriptor with duplicate object name {name}"
            message = None
            if alias and found_alias and not label and not found_label and alias == found_alias:
                message = f"{prefix}, duplicate object alias {alias}, and no version label"
            elif not alias and not found_alias and label and found_label and label == found_label:
                message = f"{prefix}, no object alias, and duplicate version label {label}"
            elif alias and found_alias and label and found_label and alias == found_alias and label == found_label:
                message = f"{prefix}, duplicate object alias {alias}, and duplicate version label {label}"
            elif not alias and not found_alias and not label and not found_label:
                message = f"{prefix}, no object alias, and no version label"
            if message:
                result.problems.append(f"{obj.label}: {message}")
        seen_names[name] = (alias, label)
        if alias and alias in seen_aliases:
            result.problems.append(f"{obj.label}: found duplicate object alias {preview(alias)}")
        if alias:
            seen_aliases.add(alias)
        for entry in obj.jmes:
            if entry.alias in seen_aliases:
                result.problems.append(
                    f"{obj.label}: Name already in use for objectAlias: found duplicate object alias "
                    f"{preview(entry.alias)} in JMES path entry {preview(entry.path)}"
                )
            seen_aliases.add(entry.alias)


def _check_file_paths(result: ParsedObjects) -> None:
    """Our stricter checks: every statically known file path is safe and unique after translation.

    A first pass names no producer (formatting labels was a third of the check); only a class it finds a
    problem in is checked again for the messages."""
    names = _claim_paths(result, [], named=False)
    if names is None:
        _claim_paths(result, result.problems, named=True)
    else:
        result.checked_names = names


def _claim_paths(result: ParsedObjects, problems: list[str], *, named: bool) -> tuple[str, ...] | None:
    """Claim every known path, adding a message per problem to ``problems``; the names when there was none."""
    claims = paths.PathClaims()
    names = []
    before = len(problems)
    for obj in result.objects:
        for name, owner in file_names(obj, named=named):
            path = paths.translate(name, result.translation)
            problem = paths.path_message(path, name, owner)
            if problem is None:
                problem = claims.claim(path, owner)
            if problem:
                if not named:
                    return None
                problems.append(problem)
            names.append(name)
        if obj.expand and obj.expand.mode is ExpandMode.DIRECTORY:
            directory = paths.translate(obj.file_name, result.translation)
            label = obj.label if named else ""
            problem = paths.path_message(directory, obj.file_name, label) or claims.claim_directory(directory, label)
            if problem:
                if not named:
                    return None
                problems.append(problem)
    return tuple(names) if len(problems) == before else None


def _compiles(path: str) -> bool:
    try:
        compile_jmes(path)
    except ValueError:
        return False
    return True


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (set, frozenset)):
        return "a set"
    if value is None:
        return "nothing"
    if isinstance(value, (int, float, bool)):
        return f"the {type(value).__name__} {value!r}"
    return "a string" if isinstance(value, str) else f"a {type(value).__name__}"
