"""The fake store: secrets with versions, labels, locations and faults, from YAML or JSON.

Document shape (every part optional except ``secrets``)::

    locations: [us-east-1, us-west-2]      # where the store answers (default: anywhere)
    faults: {"*": {latencyMs: 5}}          # store-wide faults per location ("*" = all)
    secrets:
      app/plain: "a string value"          # one version "1", labelled AWSCURRENT
      app/db:
        value: '{"user": "app"}'
      app/cert:
        binary: <base64>                   # raw bytes
      app/rotating:
        versions:
          - {id: v1, value: old, labels: [AWSPREVIOUS]}
          - {id: v2, value: new, labels: [AWSCURRENT, stable]}
        locations: [us-east-1]             # only there (failover demos)
        faults:
          us-east-1: {error: unavailable, rate: 0.5, seed: 7, latencyMs: 20, jitterMs: 10}

The current version is the one labelled ``AWSCURRENT`` (or ``current``), else the last.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway import yaml11
from gateway_fake.faults import Fault, parse_faults

CURRENT_LABELS = ("AWSCURRENT", "current")


class StoreError(ValueError):
    """The store document is malformed; the message names the secret and field, never a value."""


@dataclass(frozen=True)
class Version:
    id: str
    value: bytes = field(repr=False)
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Secret:
    name: str
    versions: tuple[Version, ...]
    locations: tuple[str, ...] | None = None  # None: every location
    faults: Mapping[str, Fault] = field(default_factory=dict)

    @functools.cached_property
    def current(self) -> Version:
        for version in reversed(self.versions):
            if any(label in version.labels for label in CURRENT_LABELS):
                return version
        return self.versions[-1]

    @functools.cached_property
    def current_answer(self) -> tuple[bytes, str]:
        """The current version's value and id."""
        return self.current.value, self.current.id

    @functools.cached_property
    def everywhere(self) -> bool:
        """Served at every location, without faults: answered from memory wherever it is asked for."""
        return self.locations is None and not self.faults

    def by_id(self, version_id: str) -> Version | None:
        return next((v for v in self.versions if v.id == version_id), None)

    def by_label(self, label: str) -> Version | None:
        return next((v for v in reversed(self.versions) if label in v.labels), None)


@dataclass(frozen=True)
class Store:
    secrets: Mapping[str, Secret] = field(default_factory=dict)
    locations: tuple[str, ...] | None = None
    faults: Mapping[str, Fault] = field(default_factory=dict)

    def overlay(self, other: Store) -> Store:
        """This store with ``other``'s secrets added (``other`` wins on a name clash, and for locations)."""
        locations = other.locations if other.locations is not None else self.locations
        return Store({**self.secrets, **other.secrets}, locations, {**self.faults, **other.faults})


def parse_store(text: str, source: str) -> Store:
    """Parse a YAML (or JSON) store document; raise :class:`StoreError`."""
    try:
        document = _load(text)
    except yaml11.YamlError as exc:
        raise StoreError(f"{source}: not valid YAML/JSON: {exc}") from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise StoreError(f"{source}: the store must be a mapping with a 'secrets' key")
    secrets_doc = document.get("secrets", {})
    if not isinstance(secrets_doc, dict):
        raise StoreError(f"{source}: 'secrets' must be a mapping of name -> secret")
    secrets = {str(name): _secret(str(name), spec, source) for name, spec in secrets_doc.items()}
    return Store(secrets, _locations(document.get("locations"), f"{source}: locations"), parse_faults(document.get("faults"), f"{source}: faults"))


def _load(text: str) -> Any:
    """JSON through the json module (test stores hold megabyte values; YAML would cost seconds), else YAML."""
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except ValueError:
            pass  # YAML's flow style: YAML says where it is wrong
    return yaml11.load(text) if text.strip() else {}


def _secret(name: str, spec: Any, source: str) -> Secret:
    where = f'{source}: secret "{name}"'
    if isinstance(spec, (str, int, float, bool)):
        return Secret(name, (Version("1", _text(spec), ("AWSCURRENT",)),))
    if not isinstance(spec, dict):
        raise StoreError(f"{where} must be a string or a mapping")
    if "versions" in spec:
        raw_versions = spec["versions"]
        if not isinstance(raw_versions, list) or not raw_versions:
            raise StoreError(f"{where}: versions must be a non-empty list")
        versions = tuple(_version(item, f"{where} versions[{i}]", i) for i, item in enumerate(raw_versions))
        ids = [v.id for v in versions]
        if len(set(ids)) != len(ids):
            raise StoreError(f"{where}: version ids must be unique")
    else:
        versions = (Version(str(spec.get("version", "1")), _value(spec, where), ("AWSCURRENT",)),)
    return Secret(
        name,
        versions,
        _locations(spec.get("locations"), f"{where} locations"),
        parse_faults(spec.get("faults"), f"{where} faults"),
    )


def _version(item: Any, where: str, index: int) -> Version:
    if not isinstance(item, dict):
        raise StoreError(f"{where} must be a mapping with id and value")
    labels = item.get("labels", [])
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise StoreError(f"{where}: labels must be a list of strings")
    return Version(str(item.get("id", index + 1)), _value(item, where), tuple(labels))


def _value(spec: dict[str, Any], where: str) -> bytes:
    if "binary" in spec:
        try:
            return base64.b64decode(str(spec["binary"]), validate=True)
        except (binascii.Error, ValueError):
            raise StoreError(f"{where}: binary must be base64") from None
    if "value" not in spec:
        raise StoreError(f"{where} needs a value (or binary)")
    return _text(spec["value"])


def _text(value: Any) -> bytes:
    if isinstance(value, (dict, list)):
        return json.dumps(value).encode()
    text = yaml11.scalar_text(value)
    return (text or "").encode("utf-8", "surrogatepass")


def _locations(value: Any, where: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise StoreError(f"{where} must be a list of location names")
    return tuple(value)
