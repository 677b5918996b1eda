"""Vault tokens for pods: log in with the pod's own service-account token, cache per identity.

A token is cached per (address, namespace, auth method, auth mount, role, pod namespace,
service account, digest of the pod's JWT) until shortly before its TTL: a hit needs the very
service-account token that logged in (present, a parseable JWT of the pod's service account,
unexpired), so one pod's Vault token is never used for another identity, nor for a forged,
foreign or unparseable JWT. Concurrent logins for one key are coalesced. A cached token that Vault refuses is
checked with ``auth/token/lookup-self``; when it was revoked, the pod logs in again.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import MappingProxyType

from gateway.plugin import ExpiringCache, GatewayError, InvalidArgument, Metrics, PermissionDenied, PodIdentity, ServiceAccountToken, SingleFlight
from gateway_vault.client import BACKEND, VaultCall, VaultClient, member
from gateway_vault.connection import AUDIENCE, Connection
from gateway_vault.errors import VaultReply, login_error, read_error
from gateway_vault.options import TOKEN_AUTH, VaultConfig
from gateway_vault.podtokens import PodTokenRequester

log = logging.getLogger("gateway_vault")
MAX_EARLY_REFRESH = 60.0  # seconds before expiry a cached token is dropped, at most


@dataclass(frozen=True)
class LoginKey:
    """Everything a Vault token depends on; the cache and login coalescing key."""

    address: str
    namespace: str
    method: str
    mount: str
    role: str
    pod_namespace: str
    service_account: str
    jwt_digest: str = ""  # the pod token that logged in: a hit needs the same token


@dataclass(frozen=True)
class VaultToken:
    value: str = field(repr=False)
    from_cache: bool = False  # may have been revoked since it was issued


def cache_lifetime(lease_seconds: float) -> float:
    """How long to keep a token with ``lease_seconds`` TTL: until shortly before it expires."""
    if lease_seconds <= 0:
        return math.inf  # a token without TTL; revocation is caught by lookup-self
    return lease_seconds - min(max(lease_seconds * 0.1, 1.0), MAX_EARLY_REFRESH)


def chosen_token(identity: PodIdentity, audience: str) -> ServiceAccountToken | None:
    """The request's token for ``audience`` (or its only token when no audience is configured)."""
    token = identity.token_for(audience)
    if token is None and not audience:
        usable = [t for t in identity.tokens.values() if t.token]
        token = usable[0] if len(usable) == 1 else None
    return token


def pod_jwt(identity: PodIdentity, audience: str, now: datetime | None = None) -> str:
    """The pod's service-account token for ``audience`` (or its only token when none is configured)."""
    token = chosen_token(identity, audience)
    if token is None:
        if not identity.tokens_provided:
            raise InvalidArgument(
                "the request carries no service-account token: add tokenRequests"
                f'{f" (audience {audience!r})" if audience else ""} to the CSIDriver object'
            )
        have = ", ".join(sorted(repr(a) for a in identity.tokens)) or "none"
        wanted = f"audience {audience!r}" if audience else f'a default audience (several tokens; set the parameter "{AUDIENCE}")'
        raise InvalidArgument(f"no service-account token for {wanted}; the request has tokens for: {have}")
    moment = now or datetime.now(UTC)
    claims = token_claims(token.token)
    if claims is None:
        raise PermissionDenied(f"the service-account token for audience {token.audience!r} is not a JWT", reason="TokenUnparseable")
    expires = claims.get("exp")
    if token.expired(moment) or (isinstance(expires, (int, float)) and expires <= moment.timestamp()):
        raise PermissionDenied(f"the service-account token for audience {token.audience!r} has expired", reason="TokenExpired")
    expected = f"system:serviceaccount:{identity.namespace}:{identity.service_account}"
    if claims.get("sub") != expected:
        raise PermissionDenied(
            f"the service-account token for audience {token.audience!r} is not the token of {identity.subject}", reason="ForeignToken"
        )
    return token.token


def token_claims(jwt: str) -> dict[str, object] | None:
    """The claims of a JWT, read without verification (Vault verifies on login); None when unreadable."""
    try:
        payload = jwt.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, RecursionError):
        return None
    return claims if isinstance(claims, dict) else None


def jwt_digest(jwt: str) -> str:
    return hashlib.sha256(jwt.encode("utf-8", "surrogatepass")).hexdigest()


class TokenSource:
    def __init__(
        self,
        client: VaultClient,
        config: VaultConfig,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
        requester: PodTokenRequester | None = None,
    ) -> None:
        self.client = client
        self.requester = requester  # TokenRequest fallback when the driver sends no token for the audience
        self.config = config
        self.metrics = metrics
        self.clock = clock
        self._cache: ExpiringCache[LoginKey, str] = ExpiringCache(
            max_entries=max(config.token_cache_size, 1),
            clock=clock,
            on_event=lambda event: metrics.cache_events.labels(cache="vault-token", event=event).inc(),
        )
        self._logins: SingleFlight[LoginKey, VaultToken] = SingleFlight()

    def evidence(self, connection: Connection, identity: PodIdentity) -> str:
        """What a login needs from the request, without I/O: the digest of the pod's own valid JWT
        ("" for the dev token); raises exactly what :meth:`token` raises for a missing or bad one."""
        if connection.auth.method == TOKEN_AUTH:
            return ""
        if self._must_request(connection, identity):
            return f"token-request:{identity.pod_uid}"  # a miss asks the API server for a token bound to this pod
        return self._key(connection, identity)[0].jwt_digest

    async def token(self, connection: Connection, identity: PodIdentity) -> VaultToken:
        """A Vault token for ``identity`` at ``connection``: cached, or from a fresh login."""
        if connection.auth.method == TOKEN_AUTH:
            return VaultToken(self.config.token)
        identity = await self._with_requested_token(connection, identity)
        key, jwt = self._key(connection, identity)
        if self.config.token_cache_size > 0:
            cached = self._cache.get(key)
            if cached is not None:
                return VaultToken(cached, from_cache=True)
        return await self._logins.do(key, lambda: self._login(connection, identity, key, jwt))

    async def replace_if_revoked(self, connection: Connection, identity: PodIdentity, token: VaultToken) -> VaultToken | None:
        """After a 403 with a cached token: a fresh token if Vault no longer knows the cached one, else None."""
        if not token.from_cache or connection.auth.method == TOKEN_AUTH:
            return None
        lookup = VaultCall("lookup-self", "GET", "auth/token/lookup-self", token=token.value)
        try:
            await self.client.call(connection, lookup, lambda reply: read_error(reply, "the cached token", "auth/token/lookup-self"))
            return None  # the token is valid: the denial is the policy's
        except PermissionDenied:
            pass
        except GatewayError:
            return None
        identity = await self._with_requested_token(connection, identity)
        key, jwt = self._key(connection, identity)
        self._cache.discard(key)
        log.info("vault token for %s at %s was revoked; logging in again", identity.subject, connection.address)
        return await self._logins.do(key, lambda: self._login(connection, identity, key, jwt))

    def _must_request(self, connection: Connection, identity: PodIdentity) -> bool:
        return self.requester is not None and connection.auth.request_tokens and chosen_token(identity, connection.auth.audience) is None

    async def _with_requested_token(self, connection: Connection, identity: PodIdentity) -> PodIdentity:
        """``identity``, plus a requested token for the audience when the driver sent none (and that is enabled)."""
        if self.requester is None or not self._must_request(connection, identity):
            return identity
        audience = connection.auth.audience
        token = await self.requester.token(identity, "" if connection.auth.audience_defaulted else audience)
        tokens = {**identity.tokens, audience: replace(token, audience=audience)}
        return replace(identity, tokens=MappingProxyType(tokens), tokens_provided=True)

    def _key(self, connection: Connection, identity: PodIdentity) -> tuple[LoginKey, str]:
        """The cache key (the login's parameters, the pod's identity, the digest of its JWT) and the JWT."""
        if not identity.namespace or not identity.service_account:
            raise InvalidArgument(
                "the request names no pod namespace or service account (csi.storage.k8s.io/pod.namespace, "
                "csi.storage.k8s.io/serviceAccount.name); cannot log in to Vault for an unknown identity"
            )
        auth = connection.auth
        jwt = pod_jwt(identity, auth.audience)  # every mount shows its own valid token, cached or not
        key = LoginKey(
            connection.address, connection.namespace, auth.method, auth.mount, auth.role, identity.namespace, identity.service_account,
            jwt_digest(jwt),
        )
        return key, jwt

    async def _login(self, connection: Connection, identity: PodIdentity, key: LoginKey, jwt: str) -> VaultToken:
        auth = connection.auth
        who = auth.describe()
        failure: GatewayError | None = None
        try:
            call = VaultCall("login", "POST", f"auth/{auth.mount}/login", body={"role": auth.role, "jwt": jwt})
            body = await self.client.call(connection, call, lambda reply: login_error(reply, who))
            granted = member(body, "auth")
            value = granted.get("client_token")
            if not isinstance(value, str) or not value:
                raise login_error(VaultReply(200, None, "the answer carries no client token"), who)
            lease = granted.get("lease_duration")
            lease = float(lease) if isinstance(lease, (int, float)) else 0.0
        except GatewayError as exc:
            failure = exc
            raise
        finally:
            self.metrics.record_credential_refresh(BACKEND, failure)
        if self.config.token_cache_size > 0:
            self._cache.put(key, value, self.clock() + cache_lifetime(lease))
        log.info("vault login for %s with %s at %s: token TTL %ss", identity.subject, who, connection.address, f"{lease:g}")
        return VaultToken(value)
