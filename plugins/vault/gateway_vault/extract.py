"""From a Vault answer to one object's bytes and version.

``secretKey`` picks one key of the secret's data (strings as is, anything else as JSON, like
vault-csi-provider); without it the whole data map is written as compact JSON with sorted keys
(the native dialect) or the whole Vault answer, as vault-csi-provider writes it (its dialect).
For KV v2 the data is the secret's own map (``data.data``) and the version is its KV version;
other answers (KV v1, PKI, database credentials…) get an HMAC of request and content as version,
as vault-csi-provider does, so the version id reveals nothing about the value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from gateway.plugin import InvalidArgument, NotFound
from gateway_vault.dialect import NATIVE, VaultDialect
from gateway_vault.gojson import go_json, secret_json
from gateway_vault.hmackey import HmacKeySecret
from gateway_vault.query import ObjectQuery


@dataclass(frozen=True)
class SecretData:
    data: dict[str, Any] = field(repr=False)
    source: str = ""  # the path (and version) it came from, for messages
    kv_version: str = ""  # the KV v2 version that answered, "" for other engines
    leased: bool = False  # a dynamic secret with a lease: unique to this request, never shared
    answer: dict[str, Any] = field(default_factory=dict, repr=False)  # the whole Vault answer


def secret_data(body: dict[str, Any], what: str) -> SecretData:
    """The data map of an answer, unwrapping KV v2's ``{data, metadata}`` shape wherever it appears."""
    data = body.get("data")
    if not isinstance(data, dict):
        raise NotFound(f"Vault returned no data for {what}", reason="NoData")
    metadata = data.get("metadata")
    if set(data) <= {"data", "metadata"} and isinstance(metadata, dict) and "version" in metadata:
        inner = data.get("data")
        if not isinstance(inner, dict):
            raise NotFound(f"{what} has no data (the version is deleted or destroyed)", reason="NoData")
        return SecretData(inner, what, str(metadata["version"]), answer=body)
    return SecretData(data, what, leased=bool(body.get("lease_id")), answer=body)


def select(secret: SecretData, key: str, dialect: VaultDialect = NATIVE) -> bytes:
    """The bytes of ``key`` (the whole data when empty); InvalidArgument for a value nested too deeply to encode."""
    try:
        return _select(secret, key, dialect)
    except RecursionError:
        raise InvalidArgument(f"the value at {secret.source} is nested too deeply to write as JSON") from None


def _select(secret: SecretData, key: str, dialect: VaultDialect) -> bytes:
    if not key:
        return secret_json(secret.answer) if dialect.whole_response else to_json(secret.data)
    data = _key_source(secret) if dialect.whole_response else secret.data
    if key not in data:
        raise NotFound(f'key "{key}" does not exist at {secret.source}', reason="NoSuchKey")
    value = data[key]
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return go_json(value) if dialect.go_json else to_json(value)


def _key_source(secret: SecretData) -> dict[str, Any]:
    """vault-csi-provider's rule: keys come from ``data.data`` whenever that is a map, else from ``data``."""
    data = secret.answer.get("data")
    if not isinstance(data, dict):
        return secret.data
    inner = data.get("data")
    return inner if isinstance(inner, dict) else data


def to_json(value: Any) -> bytes:
    """Go's ``json.Marshal`` layout: compact, map keys sorted, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class VersionSigner:
    """Version ids for answers without a KV version: HMAC-SHA256 over the object's request and content.

    The key comes from the Kubernetes Secret ``--vault-hmac-secret-name`` when one is configured
    (shared by every provider, stable across restarts); otherwise, and until that Secret can be
    read, it is random per process, so these ids change when the provider restarts.
    """

    def __init__(self, persisted: HmacKeySecret | None = None) -> None:
        self.persisted = persisted
        self._key = secrets.token_bytes(32)

    async def load(self) -> None:
        """Switch to the persisted key once it is available (cheap after the first success)."""
        if self.persisted is not None:
            key = await self.persisted.key()
            if key is not None:
                self._key = key

    def version(self, item: ObjectQuery, content: bytes) -> str:
        mac = hmac.new(self._key, digestmod=hashlib.sha256)
        mac.update(json.dumps([item.query.path, item.query.method, item.query.args, list(item.query.query), item.key]).encode())
        mac.update(b"\x00")
        mac.update(content)
        return base64.urlsafe_b64encode(mac.digest()[:18]).decode()
