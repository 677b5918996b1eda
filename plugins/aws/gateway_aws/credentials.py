"""Pod credentials, cached per principal until shortly before they expire.

IRSA: STS ``AssumeRoleWithWebIdentity`` with the pod's token (sent by :mod:`gateway_aws.webidentity`).
Pod Identity: the node agent.
Ambient (dev only): the process's own credential chain, left to botocore. An
``assumeRoleArn`` chain adds an ``sts:AssumeRole`` signed with the credentials below it.
Each step is cached under its own :class:`~gateway_aws.identity.Principal` (never under a
region) until ``expiration - refresh margin``, and concurrent requests for the same principal
share one call — so 100 mounts by one pod make one STS call. The principal carries the digest
of the pod's token, so a hit proves identity as a miss would: a request presenting another
token (another pod's, a forged or a re-issued one) obtains credentials with it, and STS or
the agent judges it.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from gateway.plugin import ExpiringCache, GatewayError, Internal, Metrics, SingleFlight
from gateway_aws.clients import AwsClients, Credentials
from gateway_aws.errors import bad_answer
from gateway_aws.identity import AMBIENT, IRSA, POD_IDENTITY, Caller, Principal
from gateway_aws.params import AssumeRole
from gateway_aws.podidentity import PodIdentityAgent
from gateway_aws.webidentity import WebIdentitySts, expiration_time

log = logging.getLogger("gateway_aws.credentials")
SESSION_NAME_CHARS = re.compile(r"[^\w+=,.@-]")
METRICS_LABEL = "aws"


def session_name(principal: Principal) -> str:
    """``secrets-gateway-<namespace>-<serviceaccount>``, as STS allows it (CloudTrail shows it)."""
    name = SESSION_NAME_CHARS.sub("-", f"secrets-gateway-{principal.namespace}-{principal.service_account}")
    return name[:64]


class CredentialBroker:
    def __init__(
        self, clients: AwsClients, agent: PodIdentityAgent, metrics: Metrics, refresh_margin: float, max_entries: int = 4096
    ) -> None:
        self.clients = clients
        self.sts = WebIdentitySts(clients, metrics, METRICS_LABEL)
        self.agent = agent
        self.metrics = metrics
        self.refresh_margin = refresh_margin
        self._cache: ExpiringCache[Principal, Credentials] = ExpiringCache(
            max_entries, on_event=lambda event: metrics.cache_events_by("aws-credentials", event).inc()
        )
        self._flights: SingleFlight[Principal, Credentials | None] = SingleFlight()

    async def credentials(self, caller: Caller, region: str) -> Credentials | None:
        """Credentials for ``caller``; None for the ambient principal without a chain."""
        principal = caller.principal
        if principal.source == AMBIENT and not principal.chain:
            return None
        cached = self._cache.get(principal)
        if cached is not None:
            return cached
        return await self._flights.do(principal, lambda: self._obtain(caller, region))

    async def aclose(self) -> None:
        await self.sts.aclose()

    def invalidate(self, principal: Principal) -> None:
        """Forget credentials AWS refused as expired or unknown (and those they were made from)."""
        self._cache.discard(principal)
        self._cache.discard(principal.without_chain())

    async def _obtain(self, caller: Caller, region: str) -> Credentials | None:
        principal = caller.principal
        failure: GatewayError | None = None
        try:
            if principal.chain:
                below = Caller(principal.without_chain(), caller.token)
                base = await self.credentials(below, region)
                credentials = await self._assume_role(principal, base, principal.chain[-1], region)
            elif principal.source == IRSA:
                credentials = await self.sts.assume(region, principal.namespace, principal.role_arn, session_name(principal), caller.token)
            elif principal.source == POD_IDENTITY:
                credentials = await self.agent.credentials(principal.endpoints, caller.token)
            else:
                raise Internal(f"unknown credential source {principal.source!r}")
        except GatewayError as exc:
            failure = exc
            raise
        finally:
            self.metrics.record_credential_refresh(principal.source, failure)
        self._remember(principal, credentials)
        return credentials

    def _remember(self, principal: Principal, credentials: Credentials) -> None:
        left = credentials.seconds_left()
        if left is None:
            left = 3600.0
        lifetime = left - self.refresh_margin
        if lifetime > 0:
            self._cache.put(principal, credentials, time.monotonic() + lifetime)
        if log.isEnabledFor(logging.INFO):  # the line's fields are made only when it is written
            log.info(
                "obtained AWS credentials for %s, valid until %s",
                principal.describe(),
                credentials.expiration.isoformat() if credentials.expiration else "unknown",
            )

    async def _assume_role(self, principal: Principal, base: Credentials | None, step: AssumeRole, region: str) -> Credentials:
        signing = self.clients.ambient if base is None else base
        kwargs: dict[str, Any] = {"RoleArn": step.role_arn, "RoleSessionName": session_name(principal)}
        if step.external_id:
            kwargs["ExternalId"] = step.external_id
        if step.duration_seconds:
            kwargs["DurationSeconds"] = step.duration_seconds
        response = await self.clients.call(
            region, "sts", "AssumeRole", METRICS_LABEL, principal.namespace, signing, redact=(step.external_id,), **kwargs
        )
        return _from_sts(response)


def _from_sts(response: dict[str, Any]) -> Credentials:
    """The credentials of an ``AssumeRole`` answer (botocore leaves its ``Expiration`` text as sent)."""
    raw = response.get("Credentials") or {}
    try:
        expiration = expiration_time(str(raw.get("Expiration") or ""))
    except ValueError:
        raise bad_answer("AssumeRole", "Expiration is not an ISO 8601 time") from None
    return Credentials(raw.get("AccessKeyId", ""), raw.get("SecretAccessKey", ""), raw.get("SessionToken", ""), expiration)
