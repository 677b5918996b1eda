"""``spec.secretObjects`` derived from a SecretProviderClass's objects, instead of repeated by hand.

One Kubernetes Secret key per file the class mounts (known before fetching), the key made valid
for a Secret (``[-._a-zA-Z0-9]+``, at most 253 characters). ``secrets-gateway secret-objects``
prints the block (or, with ``--check``, reports where the class's own block differs); ``validate``
uses :func:`key_problems` for the keys a class already has.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from gateway import paths
from gateway.model import ExpandMode, ObjectSpec
from gateway.objects import ParsedObjects, file_names

MAX_KEY = 253
_VALID_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_INVALID_RUN = re.compile(r"[^-._a-zA-Z0-9]+")
#: secretObjects fields kept from the class's own block when the data is regenerated
KEPT_FIELDS = ("secretName", "type", "labels", "annotations")


def mounted_files(parsed: ParsedObjects) -> list[str]:
    """The paths of every file the class mounts that is known before fetching, in object order."""
    found: dict[str, None] = {}
    for obj in parsed.objects:
        for name, _ in file_names(obj):
            found.setdefault(paths.translate(name, parsed.translation), None)
    return list(found)


def expansion_prefixes(parsed: ParsedObjects) -> list[tuple[str, ObjectSpec]]:
    """The path prefix of each object whose keys are expanded (its files are known only at mount time)."""
    prefixes = []
    for obj in parsed.objects:
        if obj.expand is None:
            continue
        if obj.expand.mode is ExpandMode.DIRECTORY:
            prefixes.append((paths.translate(obj.file_name, parsed.translation) + "/", obj))
        else:
            prefixes.append((paths.translate(obj.file_name + obj.expand.separator, parsed.translation), obj))
    return prefixes


def secret_key(path: str) -> str:
    """A valid Secret data key for a mounted file: each run of other characters becomes ``_``."""
    key = _INVALID_RUN.sub("_", path).strip("_") or "_"
    if key in (".", ".."):
        key = key.replace(".", "_")
    return key[:MAX_KEY]


def key_problems(key: object) -> list[str]:
    """Why ``key`` cannot be a key of a Kubernetes Secret (empty: it can)."""
    if not isinstance(key, str) or not key:
        return ["a Secret key must be a non-empty string"]
    problems = []
    if not _VALID_KEY.fullmatch(key):
        problems.append(f'"{key}" is not a valid Secret key (only letters, digits, "-", "_" and "."; try "{secret_key(key)}")')
    if key in (".", ".."):
        problems.append(f'"{key}" is not a valid Secret key')
    if len(key) > MAX_KEY:
        problems.append(f"a Secret key is at most {MAX_KEY} characters, got {len(key)}")
    return problems


def data_key_problems(data: Sequence[Any]) -> dict[int, list[str]]:
    """Problems of the ``key`` of each entry of one secretObject's data, by entry index: invalid keys
    and keys used twice (the Secret would hold only one of the files)."""
    problems: dict[int, list[str]] = {}
    first: dict[str, int] = {}
    for index, entry in enumerate(data):
        if not isinstance(entry, Mapping):
            continue
        key = entry.get("key")
        found = key_problems(key)
        if isinstance(key, str) and key in first:
            found.append(f'key "{key}" is also used by data[{first[key]}]: the Secret would hold only one of the files')
        elif isinstance(key, str):
            first[key] = index
        if found:
            problems[index] = found
    return problems


@dataclass(frozen=True)
class Derived:
    """The derived block, with what it could not derive."""

    secret_objects: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)


def derive(parsed: ParsedObjects, secret_name: str, secret_type: str = "Opaque",
           existing: Sequence[Any] = ()) -> Derived:
    """One secretObject holding every mounted file. A single existing secretObject keeps its
    secretName, type, labels and annotations (``secret_name``/``secret_type`` fill what it lacks)."""
    base: dict[str, Any] = {"secretName": secret_name, "type": secret_type}
    if len(existing) == 1 and isinstance(existing[0], Mapping):
        base |= {name: existing[0][name] for name in KEPT_FIELDS if existing[0].get(name)}
    data: list[dict[str, str]] = []
    used: dict[str, str] = {}
    notes: list[str] = []
    for path in mounted_files(parsed):
        wanted = secret_key(path)
        key = _unique(wanted, used)
        if key != path:
            taken = f' ("{wanted}" is taken by "{used[wanted]}")' if key != wanted else ""
            notes.append(f'"{path}" is stored under the Secret key "{key}"{taken}')
        used[key] = path
        data.append({"objectName": path, "key": key})
    for _, obj in expansion_prefixes(parsed):
        notes.append(f"{obj.label}: its expanded keys are known only at mount time; add data entries for the "
                     "ones the Secret needs by hand")
    return Derived([base | {"data": data}], notes)


def block_yaml(derived: Derived) -> str:
    """The ``secretObjects:`` block as YAML, to paste under the class's ``spec``."""
    return yaml.safe_dump({"secretObjects": derived.secret_objects}, sort_keys=False, default_flow_style=False)


def _unique(key: str, used: Mapping[str, str]) -> str:
    if key not in used:
        return key
    number = 2
    while f"{key[:MAX_KEY - 4]}-{number}" in used:
        number += 1
    return f"{key[:MAX_KEY - 4]}-{number}"


def differences(parsed: ParsedObjects, existing: Iterable[Any]) -> list[str]:
    """Where the class's own secretObjects and its mounted files disagree (empty: in step)."""
    files = mounted_files(parsed)
    prefixes = [prefix for prefix, _ in expansion_prefixes(parsed)]
    synced: set[str] = set()
    problems = []
    for number, secret_object in enumerate(existing):
        raw = secret_object.get("data") if isinstance(secret_object, Mapping) else None
        data = raw if isinstance(raw, list) else []
        keys = data_key_problems(data)
        for index, entry in enumerate(data):
            if not isinstance(entry, Mapping):
                continue
            where = f"secretObjects[{number}].data[{index}]"
            name = entry.get("objectName")
            synced.add(str(name))
            if name not in files and not any(str(name).startswith(prefix) for prefix in prefixes):
                problems.append(f'{where}: objectName "{name}" is not a file this SecretProviderClass mounts')
            problems += [f"{where}: {problem}" for problem in keys.get(index, [])]
    problems += [f'"{path}" is mounted but synced into no Secret' for path in files if path not in synced]
    return problems
