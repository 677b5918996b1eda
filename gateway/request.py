"""Parse the envelope of a Mount request (attributes, secrets, permission, tokens) — once, at the edge.

The objects list inside the attributes is parsed separately by :mod:`gateway.objects`,
because its validation needs the registered backends. Every refusal starts with the phrase the
Go providers print for it (``Missing mount path``, ``failed to unmarshal attributes``,
``failed to unmarshal file permission``, ``failed to parse serviceAccount.tokens``), so
runbooks written for them keep matching, and goes on to name the field and the problem.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from gateway.errors import InvalidArgument
from gateway.jsonvalue import json_kind_phrase
from gateway.model import EMPTY_MAPPING, MountRequest, PodIdentity, ServiceAccountToken

POD_NAME = "csi.storage.k8s.io/pod.name"
POD_NAMESPACE = "csi.storage.k8s.io/pod.namespace"
POD_UID = "csi.storage.k8s.io/pod.uid"
SERVICE_ACCOUNT = "csi.storage.k8s.io/serviceAccount.name"
TOKENS = "csi.storage.k8s.io/serviceAccount.tokens"
SPC_NAME = "secretProviderClass"  # from the pod's volumeAttributes

MAX_PERMISSION = 0o777
MISSING_TARGET = "Missing mount path"
BAD_PERMISSION = "failed to unmarshal file permission"
BAD_TOKENS = "failed to parse serviceAccount.tokens"
#: the headline of each JSON field's refusals
BAD_MAP = {"attributes": "failed to unmarshal attributes", "secrets": "failed to unmarshal secrets"}


@dataclass(frozen=True)
class RawMountRequest:
    """The Mount request's fields as plain Python values, straight off the wire."""

    attributes: str
    secrets: str = ""
    permission: str = ""
    target_path: str = ""
    current_versions: tuple[tuple[str, str], ...] = ()


def parse_request(raw: RawMountRequest) -> MountRequest:
    """Validate the envelope and return a :class:`MountRequest`; raise :class:`InvalidArgument`."""
    if not raw.target_path.strip():  # checked first, as the Go providers do; the driver always sends it
        raise InvalidArgument(f"{MISSING_TARGET}: target_path is empty (the driver must send the pod's mount directory)")
    attributes = _string_map(raw.attributes, "attributes", allow_null=False)
    secrets = _string_map(raw.secrets, "secrets", allow_null=True)
    tokens_json = attributes.get(TOKENS) or secrets.get(TOKENS)
    tokens = parse_tokens(tokens_json) if tokens_json else {}
    permission = parse_permission(raw.permission)
    # the dicts were just built here: read-only views of them, not copies
    identity = PodIdentity(
        namespace=attributes.get(POD_NAMESPACE, ""),
        pod_name=attributes.get(POD_NAME, ""),
        pod_uid=attributes.get(POD_UID, ""),
        service_account=attributes.get(SERVICE_ACCOUNT, ""),
        tokens=MappingProxyType(tokens) if tokens else EMPTY_MAPPING,  # type: ignore[arg-type]
        tokens_provided=bool(tokens_json),
    )
    return MountRequest(
        attributes=MappingProxyType(attributes),
        secrets=MappingProxyType(secrets) if secrets else EMPTY_MAPPING,
        permission=permission,
        current_versions=MappingProxyType(dict(raw.current_versions)) if raw.current_versions else EMPTY_MAPPING,
        identity=identity,
        target_path=raw.target_path,
    )


def parse_permission(text: str) -> int:
    """The request's default file mode: a JSON number 0..511 (the driver sends ``420``)."""
    if not text.strip():
        raise InvalidArgument(f"{BAD_PERMISSION}: permission is empty (the driver must send the default file mode, e.g. 420 for 0644)")
    try:
        value = json.loads(text)
    except ValueError:
        raise InvalidArgument(f"{BAD_PERMISSION}: permission {_preview(text)} is not a JSON number (expected e.g. 420 for 0644)") from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{BAD_PERMISSION}: permission {_preview(text)} must be an integer (expected e.g. 420 for 0644)")
    if not 0 <= value <= MAX_PERMISSION:
        raise InvalidArgument(f"{BAD_PERMISSION}: permission {value} is out of range: file modes are 0..511 (0000..0777)")
    return value


def parse_tokens(text: str) -> dict[str, ServiceAccountToken]:
    """Parse ``csi.storage.k8s.io/serviceAccount.tokens``: ``{audience: {token, expirationTimestamp}}``.

    Messages name the audience and field but never echo a token.
    """
    try:
        return _tokens(text)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{BAD_TOKENS}: {exc.message}") from None


def _tokens(text: str) -> dict[str, ServiceAccountToken]:
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidArgument(f"{TOKENS} is not valid JSON (or nested too deeply)") from None
    if not isinstance(document, dict):
        raise InvalidArgument(f"{TOKENS} must be a JSON object of audience -> token, got {json_kind_phrase(document)}")
    tokens: dict[str, ServiceAccountToken] = {}
    for audience, entry in document.items():
        _check_text(audience, f"{TOKENS}: an audience")
        if not isinstance(entry, dict):
            raise InvalidArgument(f'{TOKENS}: entry for audience "{audience}" must be an object, got {json_kind_phrase(entry)}')
        token = entry.get("token")
        if not isinstance(token, str):
            raise InvalidArgument(f'{TOKENS}: entry for audience "{audience}" has no string "token"')
        _check_text(token, f'{TOKENS}: the token for audience "{audience}"')
        tokens[audience] = ServiceAccountToken(audience, token, _expiration(audience, entry.get("expirationTimestamp")))
    return tokens


def _expiration(audience: str, value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise InvalidArgument(f'{TOKENS}: expirationTimestamp for audience "{audience}" must be an RFC 3339 string')
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(f'{TOKENS}: expirationTimestamp for audience "{audience}" is not an RFC 3339 time: {_preview(value)}') from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _string_map(text: str, field_name: str, *, allow_null: bool) -> dict[str, str]:
    try:
        return _strings(text, field_name, allow_null=allow_null)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{BAD_MAP[field_name]}: {exc.message}") from None


def _strings(text: str, field_name: str, *, allow_null: bool) -> dict[str, str]:
    if not text.strip():
        if allow_null:
            return {}
        raise InvalidArgument(f"{field_name} is empty: expected a JSON object of string values")
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise InvalidArgument(f"{field_name} is not valid JSON ({_position(exc)})") from None
    except RecursionError:
        raise InvalidArgument(f"{field_name} is nested too deeply to be a JSON object of string values") from None
    if document is None and allow_null:
        return {}
    if not isinstance(document, dict):
        raise InvalidArgument(f"{field_name} must be a JSON object of string values, got {json_kind_phrase(document)}")
    # a lone surrogate (which UTF-8 cannot encode) only gets in through a \u escape or the text itself
    clean = "\\u" not in text and _encodable(text)
    for key, value in document.items():
        if not clean:
            _check_text(key, f"{field_name}: a key")
        if not isinstance(value, str):
            raise InvalidArgument(f"{field_name}: value of {_preview(key)} must be a string, got {json_kind_phrase(value)}")
        if not clean and not _encodable(value):  # the message is formatted only when needed
            _check_text(value, f"{field_name}: the value of {_preview(key)}")
    return document


def _check_text(value: str, what: str) -> None:
    """Reject strings that cannot be encoded as UTF-8 (JSON lets lone surrogates through)."""
    if not _encodable(value):
        raise InvalidArgument(f"{what} contains invalid Unicode (a lone surrogate escape)")


def _encodable(value: str) -> bool:
    if value.isascii():  # a flag of the string, no scan: only a non-ASCII string can hold a lone surrogate
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _position(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    return "malformed"


def _preview(text: str, limit: int = 40) -> str:
    """A short, quoted preview of a non-secret value for messages."""
    shown = text if len(text) <= limit else text[:limit] + "…"
    return json.dumps(shown, ensure_ascii=True)
