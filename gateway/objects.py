"""Parse and validate the SecretProviderClass ``objects`` list (and the parameters that shape it).

Semantics and messages follow ASCP so existing SecretProviderClasses and runbooks keep
working (YAML 1.1 scalars as strings, case-insensitive keys, the same texts); on top, the
gateway refuses what ASCP lets through and the driver would break on later: file paths
that collide after translation, an un-aliased name equal to another file's name, and
unsafe paths from any alias, including JMESPath aliases.

Every problem is collected (not just the first), each naming its object, so
``secrets-gateway validate`` can list them all; a Mount reports them in one error.
This module does no I/O: checks that need a backend's locations live in :mod:`gateway.planner`.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jmespath
import jmespath.exceptions

from gateway import paths, yaml11
from gateway.arn import looks_like_arn, parse_arn
from gateway.backend import Backend, BackendRegistry
from gateway.model import ExpandMode, FailoverMode, JmesEntry, KeyExpansion, ObjectRef, ObjectSpec, frozen_mapping
from gateway.text import preview

LOAD_ERROR = "Failed to load SecretProviderClass"
FILE_PERMISSION = re.compile(r"[0-7]{4}")  # always fullmatch: "$" would accept a trailing newline
MAX_MODE = 0o777
MAX_JMES_PATH = 1024  # jmespath's lexer is quadratic in the expression's length
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
    translation: str | None = "_"
    failover_mode: FailoverMode = FailoverMode.ON_ERROR
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unloaded_types: set[str] = field(default_factory=set)
    over_limit: bool = False  # more objects than allowed: a ResourceExhausted, not a malformed class


def parse_objects(
    parameters: Mapping[str, str],
    registry: BackendRegistry,
    *,
    strict: bool = False,
    max_objects: int | None = None,
    default_type: str = "",
) -> ParsedObjects:
    """Parse ``objects``, ``pathTranslation`` and ``failoverMode`` from SecretProviderClass parameters.

    ``default_type`` (the ``defaultObjectType`` parameter, else the server's) routes objects that
    give no ``objectType`` and are not ARNs — so classes written for a single-backend provider,
    such as vault-csi-provider, work unchanged.
    """
    result = ParsedObjects()
    try:
        result.translation = paths.parse_translation(parameters.get("pathTranslation", ""))
    except ValueError as exc:
        result.problems.append(str(exc))
    result.failover_mode = _failover_mode(parameters.get("failoverMode", ""), result.problems)

    entries = _load_entries(parameters.get("objects", ""), result.problems)
    if entries is None:
        return result
    if max_objects is not None and len(entries) > max_objects:
        result.problems.append(f"too many objects: {len(entries)} listed, the limit is {max_objects} per mount")
        result.over_limit = True
        return result
    default_type = parameters.get("defaultObjectType", "") or default_type
    for index, entry in enumerate(entries):
        _DescriptorParser(index, registry, result, strict, default_type).parse(entry)
    if not result.problems:
        _check_duplicates(result)
    if not result.problems:
        _check_file_paths(result)
    return result


def file_names(obj: ObjectSpec) -> list[tuple[str, str]]:
    """``(name before translation, what produces it)`` for every file known before fetching.

    An object whose keys are expanded writes no file of its own; its key files are only
    known after the fetch and are checked then.
    """
    names = [] if obj.expand else [(obj.file_name, obj.label)]
    names += [(entry.alias, f'{obj.label} jmesPath "{preview(entry.path)}"') for entry in obj.jmes]
    return names


@functools.lru_cache(maxsize=1024)
def compile_jmes(path: str) -> Any:
    """Compile (and cache) a JMESPath expression; raise ValueError with ASCP's message."""
    if len(path) > MAX_JMES_PATH:
        raise ValueError(f"Invalid JMES Path: {preview(path, 60)}. (longer than {MAX_JMES_PATH} characters)")
    try:
        return jmespath.compile(path)
    except (jmespath.exceptions.JMESPathError, ValueError, TypeError, RecursionError):
        raise ValueError(f"Invalid JMES Path: {preview(path)}.") from None


# --------------------------------------------------------------------------- list level


def _load_entries(text: str, problems: list[str]) -> list[Any] | None:
    if not text.strip():
        return []
    try:
        document = yaml11.load(text)
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
    """Turns one raw list entry into an :class:`ObjectSpec`, recording problems on the way."""

    def __init__(self, index: int, registry: BackendRegistry, result: ParsedObjects, strict: bool, default_type: str = "") -> None:
        self.index = index
        self.default_type = default_type
        self.registry = registry
        self.result = result
        self.strict = strict
        self.where = f"objects[{index}]"
        self.name = ""
        self.unknown: list[tuple[str, str]] = []

    def problem(self, message: str, part: str = "") -> None:
        """Record ``message`` for this object (``part``: e.g. ``jmesPath[1]``)."""
        self.result.problems.append(f"{self.where}{' ' + part if part else ''}: {message}")

    def parse(self, entry: Any) -> None:
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
        self.where = f'objects[{self.index}] "{preview(name, LABEL_LIMIT)}"'
        object_type = self.text(fields, "objectType") or (self.default_type if not looks_like_arn(name) else "")
        backend = self.route(name, object_type)
        if backend is None:
            return
        alias = self.text(fields, "objectAlias")
        version = self.text(fields, "objectVersion")
        spec = ObjectSpec(
            index=self.index,
            backend=backend.name,
            ref=ObjectRef(name, version, self.text(fields, "objectVersionLabel")),
            alias=alias,
            failover_ref=self.failover(fields.get("failoverobject"), backend, object_type, alias, version),
            file_permission=self.permission(self.text(fields, "filePermission")),
            jmes=self.jmes(fields.get("jmespath")),
            encoding=self.encoding(self.text(fields, "encoding")),
            expand=self.expansion(fields),
            options=frozen_mapping(self.options(fields, backend)),
            object_type=object_type,
        )
        for message in backend.check_object(spec):
            self.problem(message)
        self.report_unknown_keys(backend)
        self.result.objects.append(spec)

    # -- routing

    def route(self, name: str, object_type: str) -> Backend | None:
        """The backend for this object: ``objectType``, else the service of its ARN (ASCP rules)."""
        if object_type:
            backend = self.registry.get(object_type)
            if backend is None:
                known = ", ".join(self.registry.names()) or "none"
                self.problem(f"Invalid objectType: {preview(object_type)} (backends loaded: {known})")
                self.result.unloaded_types.add(object_type)
                return None
            if backend.arn_services and looks_like_arn(name) and not self.arn_matches(name, backend):
                return None
            return backend
        if not looks_like_arn(name):
            self.problem(f"Must use objectType when a full ARN is not specified: {preview(name)}")
            return None
        arn = parse_arn(name)
        if arn is None:
            self.problem(f"Invalid ARN format in object name: {preview(name)}")
            return None
        backend = self.registry.for_arn_service(arn.service)
        if backend is None:
            self.problem(f"Invalid service in ARN: {preview(arn.service)}")
        return backend

    def arn_matches(self, name: str, backend: Backend, part: str = "") -> bool:
        arn = parse_arn(name)
        if arn is None:
            self.problem(f"Invalid ARN format in object name: {preview(name)}", part)
            return False
        if self.registry.for_arn_service(arn.service) is not backend:
            self.problem(f"objectType does not match ARN: {preview(name)}", part)
            return False
        return True

    # -- fields

    def fields(self, entry: dict[Any, Any], allowed: frozenset[str], part: str = "") -> dict[str, Any] | None:
        """Lower-case the keys; refuse a key given twice in different case; note keys not in ``allowed``
        (at the descriptor level the routed backend's own keys are excused later, in :meth:`report_unknown_keys`)."""
        fields: dict[str, Any] = {}
        spelled: dict[str, str] = {}
        for key, value in entry.items():
            text = yaml11.scalar_text(key)
            if text is None:
                self.problem(f"{LOAD_ERROR}: a key is not a string", part)
                return None
            lowered = text.lower()
            if lowered in fields:
                self.problem(f'key "{preview(text)}" is given twice (also as "{preview(spelled[lowered])}")', part)
                return None
            fields[lowered] = value
            spelled[lowered] = text
        self.unknown += [(part, text) for lowered, text in spelled.items() if lowered not in allowed]
        return fields

    def report_unknown_keys(self, backend: Backend) -> None:
        """Keys neither the core nor ``backend`` reads: a warning (ASCP ignores them), a problem in strict mode."""
        backend_keys = {key.lower() for key in backend.object_options}
        for part, text in self.unknown:
            if not part and text.lower() in backend_keys:
                continue
            if self.strict:
                self.problem(f'unknown key "{preview(text)}" (strict mode)', part)
            else:
                self.result.warnings.append(f'{self.where}{" " + part if part else ""}: unknown key "{preview(text)}" ignored')

    def text(self, fields: dict[str, Any], key: str, part: str = "") -> str:
        """The string form of field ``key`` (given in its canonical camelCase spelling)."""
        value = fields.get(key.lower())
        text = yaml11.scalar_text(value)
        if text is None:
            self.problem(f"{LOAD_ERROR}: field {key} must be a string, got {_kind(value)}", part)
            return ""
        return text

    def permission(self, value: str, part: str = "") -> int | None:
        if not value:
            return None
        if not FILE_PERMISSION.fullmatch(value):
            hint = " (quote it: unquoted 0600 is the YAML number 384)" if value.isdigit() else ""
            self.problem(f"Invalid File Permission: {preview(value)}{hint}", part)
            return None
        mode = int(value, 8)
        if mode > MAX_MODE:
            self.problem(f"Invalid File Permission: {value} (only 0000-0777: the driver refuses setuid, setgid and sticky bits)", part)
            return None
        return mode

    def encoding(self, value: str, part: str = "") -> str:
        normalized = value.lower()
        if normalized and normalized not in ENCODINGS:
            self.problem(f'encoding must be "base64", "hex", "utf-8" or empty, got "{preview(value)}"', part)
            return ""
        return normalized

    def jmes(self, value: Any) -> tuple[JmesEntry, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.problem(f"{LOAD_ERROR}: jmesPath must be a list of {{path, objectAlias}} entries, got {_kind(value)}")
            return ()
        entries = []
        for number, raw in enumerate(value):
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
                self.problem(str(exc), part)
                continue
            permission = self.permission(self.text(fields, "filePermission", part), part)
            encoding = self.encoding(self.text(fields, "encoding", part), part)
            entries.append(JmesEntry(path, alias, permission, encoding))
        return tuple(entries)

    def failover(self, value: Any, backend: Backend, object_type: str, alias: str, version: str) -> ObjectRef | None:
        part = "failoverObject"
        if value is None:
            return None
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
            return None  # ASCP ignores a failoverObject without a name
        if not alias:
            self.problem(f"object alias must be specified for objects with failover entries: {preview(self.name)}")
        if ref.version != version:
            self.problem(f"object versions must match between primary and failover regions: {preview(self.name)}")
        if backend.arn_services and looks_like_arn(ref.name):
            self.arn_matches(ref.name, backend, part)
        elif not object_type and not looks_like_arn(ref.name):
            self.problem(f"Must use objectType when a full ARN is not specified: {preview(ref.name)}", part)
        return ref

    def expansion(self, fields: dict[str, Any]) -> KeyExpansion | None:
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

    def options(self, fields: dict[str, Any], backend: Backend) -> dict[str, str]:
        """The backend's own keys (lower-cased); structured ones as JSON text."""
        spelled = {key.lower(): key for key in backend.object_options if key.lower() not in CORE_KEYS}
        structured = {key.lower() for key in backend.structured_options}
        options = {}
        for key in fields.keys() & spelled.keys():
            value = fields[key]
            if key in structured and isinstance(value, (dict, list)):
                options[key] = json.dumps(value, sort_keys=True, default=str)
            else:
                options[key] = self.text(fields, spelled[key])
        return options


# --------------------------------------------------------------------------- whole list


def _check_duplicates(result: ParsedObjects) -> None:
    """ASCP's duplicate rules, with its messages."""
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
    """Our stricter checks: every statically known file path is safe and unique after translation."""
    claims = PathClaims()
    for obj in result.objects:
        for name, owner in file_names(obj):
            path = paths.translate(name, result.translation)
            problem = path_message(path, name, owner)
            if problem is None:
                problem = claims.claim(path, owner)
            if problem:
                result.problems.append(problem)
        if obj.expand and obj.expand.mode is ExpandMode.DIRECTORY:
            directory = paths.translate(obj.file_name, result.translation)
            problem = path_message(directory, obj.file_name, obj.label) or claims.claim_directory(directory, obj.label)
            if problem:
                result.problems.append(problem)


def path_message(path: str, name: str, owner: str) -> str | None:
    """The user-facing message when ``path`` breaks a driver rule; ASCP's text for ``..``."""
    problem = paths.path_problem(path)
    if problem is None:
        return None
    if paths.has_parent_reference(path):
        return f"{owner}: path can not contain ../: {preview(name)}"
    return f'{owner}: file path "{preview(path)}" {problem}'


class PathClaims:
    """Detects two files with one path, and a file where another file needs a directory."""

    def __init__(self) -> None:
        self.files: dict[str, str] = {}
        self.directories: dict[str, str] = {}

    def claim(self, path: str, owner: str) -> str | None:
        if path in self.files:
            return f'{owner}: file path "{preview(path)}" is also produced by {self.files[path]}'
        if path in self.directories:
            return f'{owner}: file path "{preview(path)}" is a directory of {self.directories[path]}'
        for directory in paths.parent_directories(path):
            if directory in self.files:
                return (
                    f'{owner}: file path "{preview(path)}" needs "{preview(directory)}" as a directory, '
                    f"but it is a file of {self.files[directory]}"
                )
        self.files[path] = owner
        for directory in paths.parent_directories(path):
            self.directories.setdefault(directory, owner)
        return None

    def claim_directory(self, path: str, owner: str) -> str | None:
        if path in self.files:
            return f'{owner}: directory "{preview(path)}" is a file of {self.files[path]}'
        self.directories.setdefault(path, owner)
        return None


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
