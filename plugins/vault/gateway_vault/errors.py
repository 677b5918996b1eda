"""Vault answers and transport failures → the gateway's typed errors.

403 → PermissionDenied naming the role and path; 404 → NotFound naming the path (and version);
5xx, 429, sealed, standby and connection failures → retryable Unavailable, so the backend retries
with backoff and the core then fails over to the next ``vaultFailoverAddress``; so are answers that
are not Vault's (HTML, garbage, truncated, oversized, redirects, no answer within the deadline) —
never NotFound or Internal. Vault's own error
text is shortened and scrubbed of anything the request carried (tokens, JWTs, arguments).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from gateway.plugin import CONNECT, TIMEOUT, TLS, TOO_LARGE, GatewayError, HttpProblem, InvalidArgument, NotFound, PermissionDenied, Unavailable, redact

MAX_DETAIL = 160
#: reasons of retryable errors that retrying at the same address cannot fix (failover still may)
NOT_RETRIED_HERE = frozenset({"TLSError", "TooLarge", "TenantOverloaded"})


@dataclass(frozen=True)
class VaultReply:
    """One HTTP answer from Vault: status and decoded JSON body (None when empty or not JSON)."""

    status: int
    body: dict[str, Any] | None = field(default=None, repr=False)
    detail: str = ""  # Vault's first error message, shortened and scrubbed

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def error_detail(body: Any, sensitive: Iterable[str]) -> str:
    """Vault's first error line (``{"errors": [...]}``), at most :data:`MAX_DETAIL` chars, scrubbed."""
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], str):
        return ""
    text = errors[0].replace("1 error occurred:", "").replace("\t* ", "").strip()
    text = redact(" ".join(text.split()), [secret for secret in sensitive if len(secret) >= 4])  # whole, or a long fragment
    return text[:MAX_DETAIL] + ("…" if len(text) > MAX_DETAIL else "")


def server_error(reply: VaultReply) -> GatewayError | None:
    """The retryable error for a 5xx/429/412 answer (sealed, standby, overload); None otherwise."""
    detail = reply.detail
    lowered = detail.lower()
    if "sealed" in lowered:
        return Unavailable(f"Vault is sealed (HTTP {reply.status})", reason="Sealed")
    if "standby" in lowered or "not active" in lowered:
        return Unavailable(f"Vault node is a standby without an active leader (HTTP {reply.status}): {detail}", reason="Standby")
    if reply.status == 429:
        return Unavailable(f"Vault is throttling requests (HTTP 429){_colon(detail)}", reason="Throttled")
    if reply.status >= 500 or reply.status == 412:
        return Unavailable(f"Vault answered HTTP {reply.status}{_colon(detail)}", reason=f"HTTP{reply.status}")
    return None


def read_error(reply: VaultReply, who: str, what: str) -> GatewayError:
    """The error for a failed secret read/write: ``who`` names the role, ``what`` the path (and version)."""
    retryable = server_error(reply)
    if retryable is not None:
        return retryable
    if reply.status in (401, 403):
        return PermissionDenied(f"permission denied (HTTP {reply.status}) for {who} on {what}", reason="Forbidden")
    if reply.status == 404:
        return NotFound(f"no secret at {what} (HTTP 404){_deleted(reply.body)}", reason="NotFound")
    return InvalidArgument(f"Vault refused the request for {what} (HTTP {reply.status}){_colon(reply.detail)}", reason=f"HTTP{reply.status}")


def login_error(reply: VaultReply, who: str) -> GatewayError:
    """The error for a failed login with ``who`` (the role and auth mount)."""
    retryable = server_error(reply)
    if retryable is not None:
        return retryable
    detail = reply.detail
    if reply.status == 404 or detail == "permission denied":  # Vault's answer for a login path nothing is mounted at
        detail = f"{detail or 'not found'} (is that auth method mounted there?)"
    return PermissionDenied(f"login failed for {who} (HTTP {reply.status}){_colon(detail)}", reason="LoginRefused")


def transport_error(problem: HttpProblem, timeout: float) -> GatewayError:
    """A request that got no usable HTTP answer. The text names the kind of failure, never the URL or headers."""
    if problem.kind == TLS:
        return Unavailable(f"TLS with Vault failed: {_tls_cause(problem.detail)}", reason="TLSError")
    if problem.kind == TIMEOUT:
        return Unavailable(f"no complete answer from Vault within {timeout:g}s (--vault-request-timeout)", reason="Timeout")
    if problem.kind == CONNECT:
        return Unavailable(f"cannot reach Vault: {problem.detail}", reason="Unreachable")
    if problem.kind == TOO_LARGE:
        return Unavailable(f"Vault's answer is too large: {problem.detail} (--vault-max-response-bytes)", reason="TooLarge")
    return Unavailable(f"not a usable answer from Vault: {problem.detail}", reason="BadAnswer")


def not_vault(status: int, size: int) -> GatewayError:
    """A complete HTTP answer that is not Vault's JSON (an HTML page, garbage, an empty or redirecting answer)."""
    hint = ": Vault redirects to its active node; name the active node or a load balancer" if 300 <= status < 400 else ""
    return Unavailable(f"the answer (HTTP {status}, {size} bytes) is not Vault's JSON{hint}", reason="NotVault")


def _tls_cause(text: str) -> str:
    """What went wrong in a TLS handshake, and which parameter to check."""
    lowered = text.lower()
    if "hostname mismatch" in lowered or "doesn't match" in lowered or "not valid for" in lowered:
        return "Vault's certificate is not valid for that host name (check vaultTLSServerName)"
    if "certificate_verify_failed" in lowered:
        return "certificate verify failed (check vaultCACertPath or vaultCADirectory)"
    if "certificate required" in lowered or "bad certificate" in lowered or "unknown ca" in lowered or "certificate_required" in lowered:
        return "Vault refused the client certificate (check vaultTLSClientCertPath and vaultTLSClientKeyPath)"
    return "handshake failed"


def _colon(detail: str) -> str:
    return f": {detail}" if detail else ""


def _deleted(body: Any) -> str:
    """KV v2 answers 404 with metadata for a deleted or destroyed version."""
    data = body.get("data") if isinstance(body, dict) else None
    metadata = data.get("metadata") if isinstance(data, dict) else None
    if not isinstance(metadata, dict):
        return ""
    if metadata.get("destroyed"):
        return ": that version is destroyed"
    if metadata.get("deletion_time"):
        return ": that version is deleted"
    return ""
