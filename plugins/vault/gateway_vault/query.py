"""One object's Vault request, parsed from its descriptor keys (vault-csi-provider's names).

``secretPath`` (default: ``objectName``), ``method`` (GET, or POST/PUT for issuing endpoints),
``secretArgs`` (a YAML/JSON mapping: query parameters for GET, the JSON body for POST),
``kvVersion`` (auto, 1, 2) and ``objectVersion`` (a KV v2 version) make a :class:`SecretQuery`;
objects with equal queries share one request per mount. ``secretKey`` then picks a key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway import yaml11
from gateway.model import ObjectRef, ObjectSpec
from gateway_vault.options import KV_VERSIONS

SECRET_PATH = "secretPath"
SECRET_KEY = "secretKey"
SECRET_ARGS = "secretArgs"
METHOD = "method"
KV_VERSION = "kvVersion"
OBJECT_OPTIONS = frozenset({SECRET_PATH, SECRET_KEY, SECRET_ARGS, METHOD, KV_VERSION})

METHODS = {"GET": "GET", "POST": "POST", "PUT": "POST"}  # Vault treats PUT as POST
UNSAFE_PATH = re.compile(r"[?#%\x00-\x1f\x7f\\]")
VERSION = re.compile(r"^[1-9][0-9]{0,18}$")


class QueryError(ValueError):
    """A descriptor key has a bad value; the message names the key (never a secret)."""


@dataclass(frozen=True)
class SecretQuery:
    """What one Vault request fetches; hashable, so equal queries are fetched once."""

    path: str
    method: str = "GET"
    args: str = ""  # canonical JSON of secretArgs, "" for none
    version: str = ""
    kv_version: str = "auto"

    @property
    def arguments(self) -> dict[str, Any]:
        return json.loads(self.args) if self.args else {}


@dataclass(frozen=True)
class ObjectQuery:
    query: SecretQuery
    key: str = ""  # secretKey: one key of the data; "" for the whole data map as JSON


def parse_object(ref: ObjectRef, options: Mapping[str, str], default_kv_version: str = "auto") -> ObjectQuery:
    """The query for one object (``options`` keys lower-cased); raise :class:`QueryError`."""
    path = _path(options.get(SECRET_PATH.lower()) or ref.name)
    method = _method(options.get(METHOD.lower(), ""))
    kv_version = _kv_version(options.get(KV_VERSION.lower(), ""), default_kv_version)
    arguments = _arguments(options.get(SECRET_ARGS.lower(), ""), method)
    if ref.version_label:
        raise QueryError("objectVersionLabel is not supported by Vault; use objectVersion (a KV v2 version number)")
    if ref.version:
        if not VERSION.match(ref.version):
            raise QueryError(f'objectVersion "{ref.version}" is not a KV v2 version number (1, 2, ...)')
        if method != "GET":
            raise QueryError(f"objectVersion cannot be used with method {method}")
        if kv_version == "1":
            raise QueryError("objectVersion needs a KV v2 secret, but kvVersion is 1")
        if "version" in arguments:
            raise QueryError('objectVersion and secretArgs "version" are both set; use one')
    args = json.dumps(arguments, sort_keys=True, separators=(",", ":")) if arguments else ""
    return ObjectQuery(SecretQuery(path, method, args, ref.version, kv_version), options.get(SECRET_KEY.lower(), ""))


def object_problems(obj: ObjectSpec, default_kv_version: str = "auto") -> list[str]:
    """Validation of one object without I/O (what ``secrets-gateway validate`` reports)."""
    try:
        parse_object(obj.ref, obj.options, default_kv_version)
    except QueryError as exc:
        return [str(exc)]
    return []


def _path(raw: str) -> str:
    path = raw.strip().strip("/")
    if not path:
        raise QueryError("secretPath is empty")
    if UNSAFE_PATH.search(path) or any(part in ("", ".", "..") for part in path.split("/")):
        raise QueryError(f'secretPath "{raw}" is not a clean Vault path (no //, ., .., ?, #, % or control characters)')
    return path


def _method(raw: str) -> str:
    method = METHODS.get(raw.strip().upper() or "GET")
    if method is None:
        raise QueryError(f'method "{raw}" is not supported: use GET (read) or POST/PUT (e.g. pki/issue)')
    return method


def _kv_version(raw: str, default: str) -> str:
    value = raw.strip().lower() or default
    if value not in KV_VERSIONS:
        raise QueryError(f'kvVersion "{raw}" must be auto, 1 or 2')
    return value


def _arguments(raw: str, method: str) -> dict[str, Any]:
    """``secretArgs`` as a mapping: the core hands options over as strings, so the mapping is
    written as a YAML/JSON flow mapping, e.g. ``secretArgs: '{common_name: a.example.com}'``."""
    if not raw.strip():
        return {}
    try:
        value = yaml11.load(raw)
    except yaml11.YamlError as exc:
        raise QueryError(f"secretArgs is not a YAML/JSON mapping: {exc}") from None
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        raise QueryError("secretArgs must be a mapping of argument name to value, e.g. '{common_name: a.example.com}'")
    if method == "GET":
        scalars = {key: yaml11.scalar_text(item) for key, item in value.items()}
        bad = sorted(key for key, text in scalars.items() if text is None)
        if bad:
            raise QueryError(f"secretArgs for GET become query parameters and must be scalars; not: {', '.join(bad)}")
        return scalars
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise QueryError("secretArgs must contain only JSON values (strings, numbers, booleans, lists, mappings)") from None
    return value
