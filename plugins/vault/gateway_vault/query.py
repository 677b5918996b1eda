"""One object's Vault request, parsed from its descriptor keys (vault-csi-provider's names).

``secretPath`` (default: ``objectName``; a leading ``/v1/`` or ``v1/`` is dropped), ``method``
(GET, or POST/PUT for issuing endpoints), ``secretArgs`` (a YAML/JSON mapping: query parameters
for GET, the JSON body for POST), ``kvVersion`` (auto, 1, 2) and ``objectVersion`` (a KV v2
version) make a :class:`SecretQuery`; objects with equal queries share one request per mount.
``secretKey`` then picks a key. The :class:`~gateway_vault.dialect.VaultDialect` decides what
vault-csi-provider allows beyond that: any method, a query string in ``secretPath``, and
``secretArgs`` on a GET not sent at all.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway import yaml11
from gateway.plugin import ObjectRef, ObjectSpec
from gateway_vault.dialect import NATIVE, VaultDialect
from gateway_vault.options import KV_VERSIONS

SECRET_PATH = "secretPath"
SECRET_KEY = "secretKey"
SECRET_ARGS = "secretArgs"
METHOD = "method"
KV_VERSION = "kvVersion"
OBJECT_OPTIONS = frozenset({SECRET_PATH, SECRET_KEY, SECRET_ARGS, METHOD, KV_VERSION})

METHODS = {"GET": "GET", "POST": "POST", "PUT": "POST"}  # Vault treats PUT as POST
ANY_METHOD = re.compile(r"[A-Za-z]{1,16}")
API_PREFIX = "v1/"
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
    query: tuple[tuple[str, str], ...] = ()  # from secretPath's query string (vault-csi-provider dialect)

    @property
    def arguments(self) -> dict[str, Any]:
        return json.loads(self.args) if self.args else {}

    @property
    def reads(self) -> bool:
        return self.method == "GET"


@dataclass(frozen=True)
class ObjectQuery:
    query: SecretQuery
    key: str = ""  # secretKey: one key of the data; "" for the whole data map as JSON


def parse_object(ref: ObjectRef, options: Mapping[str, str], default_kv_version: str = "auto", dialect: VaultDialect = NATIVE) -> ObjectQuery:
    """The query for one object (``options`` keys lower-cased); raise :class:`QueryError`."""
    path, query = _path(options.get(SECRET_PATH.lower()) or ref.name, dialect)
    method = _method(options.get(METHOD.lower(), ""), dialect)
    kv_version = _kv_version(options.get(KV_VERSION.lower(), ""), default_kv_version)
    arguments = _arguments(options.get(SECRET_ARGS.lower(), ""), method, dialect)
    if ref.version_label:
        raise QueryError("objectVersionLabel is not supported by Vault; use objectVersion (a KV v2 version number)")
    if ref.version:
        if not VERSION.match(ref.version):
            raise QueryError(f'objectVersion "{ref.version}" is not a KV v2 version number (1, 2, ...)')
        if method != "GET":
            raise QueryError(f"objectVersion cannot be used with method {method}")
        if kv_version == "1":
            raise QueryError("objectVersion needs a KV v2 secret, but kvVersion is 1")
        if "version" in arguments or any(name == "version" for name, _ in query):
            raise QueryError('objectVersion and a "version" query parameter are both set; use one')
    args = json.dumps(arguments, sort_keys=True, separators=(",", ":")) if arguments else ""
    return ObjectQuery(SecretQuery(path, method, args, ref.version, kv_version, query), options.get(SECRET_KEY.lower(), ""))


def object_problems(obj: ObjectSpec, default_kv_version: str = "auto", dialect: VaultDialect = NATIVE) -> list[str]:
    """Validation of one object without I/O (what ``secrets-gateway validate`` reports)."""
    try:
        parse_object(obj.ref, obj.options, default_kv_version, dialect)
    except QueryError as exc:
        return [str(exc)]
    return []


def _path(raw: str, dialect: VaultDialect) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The API path without ``/v1/`` and slashes at either end, and the query (when the dialect allows one)."""
    path, mark, query = raw.strip().partition("?") if dialect.query_in_path else (raw.strip(), "", "")
    path = path.lstrip("/").removeprefix(API_PREFIX).strip("/")
    if not path:
        raise QueryError("secretPath is empty")
    if UNSAFE_PATH.search(path) or any(part in ("", ".", "..") for part in path.split("/")):
        hint = " (use objectVersion for a KV v2 version)" if "?" in path else ""
        raise QueryError(f'secretPath "{raw}" is not a clean Vault path (no //, ., .., ?, #, % or control characters){hint}')
    return path, _query(query, raw) if mark else ()


def _query(text: str, raw: str) -> tuple[tuple[str, str], ...]:
    """A query string as Go's ``url.ParseQuery`` reads it (``+`` is a space, ``;`` is refused), in order."""
    pairs = []
    for part in text.split("&"):
        if not part:
            continue
        if ";" in part:
            raise QueryError(f'secretPath "{raw}" has a query with ";", which is not a separator')
        name, _, value = part.partition("=")
        try:
            pairs.append((_unquote(name), _unquote(value)))
        except ValueError:
            raise QueryError(f'secretPath "{raw}" has a badly escaped query') from None
    return tuple(pairs)


def _unquote(text: str) -> str:
    if re.search(r"%(?![0-9A-Fa-f]{2})", text):
        raise ValueError(text)
    return urllib.parse.unquote_plus(text, errors="strict")


def _method(raw: str, dialect: VaultDialect) -> str:
    given = raw.strip().upper() or "GET"
    if dialect.any_method and ANY_METHOD.fullmatch(given):
        return given
    method = METHODS.get(given)
    if method is None:
        raise QueryError(f'method "{raw}" is not supported: use GET (read) or POST/PUT (e.g. pki/issue)')
    return method


def _kv_version(raw: str, default: str) -> str:
    value = raw.strip().lower() or default
    if value not in KV_VERSIONS:
        raise QueryError(f'kvVersion "{raw}" must be auto, 1 or 2')
    return value


def _arguments(raw: str, method: str, dialect: VaultDialect) -> dict[str, Any]:
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
    if method == "GET" and not dialect.get_args_as_query:
        return {}  # vault-csi-provider sends them as a GET body, which Vault ignores
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
