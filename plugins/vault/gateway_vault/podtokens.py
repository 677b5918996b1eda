"""Service-account tokens the provider requests itself (TokenRequest) when the driver sends none.

vault-csi-provider does this when the mount request carries no token for the audience: it asks the
Kubernetes API for a token of the pod's service account, bound to the pod (its name and uid from
the request, so the API server refuses unless that very pod exists and runs as that account),
valid 15 minutes, for the class's ``audience`` (none: the API server's default audiences).
A requested token is reused for the same pod and audience until 5 minutes before it expires, so
the Vault token cache (which needs the same JWT) still saves logins. Needs RBAC ``create`` on
``serviceaccounts/token``; off unless ``--vault-token-request`` (or the vault-csi-provider dialect) enables it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from gateway.plugin import ExpiringCache, InvalidArgument, PermissionDenied, PodIdentity, ServiceAccountToken, SingleFlight, Unavailable
from gateway_kube.kubeapi import KubeApi, KubeApiError, KubeForbidden

LIFETIME = 900  # seconds, as vault-csi-provider asks
REUSE_MARGIN = 300.0  # a requested token is not handed out when it expires sooner than this

RequestKey = tuple[str, str, str, str, str]  # namespace, service account, pod name, pod uid, audience


def token_request(identity: PodIdentity, audience: str) -> dict[str, object]:
    """The TokenRequest body vault-csi-provider sends (``authentication.k8s.io/v1``)."""
    return {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {
            "audiences": [audience] if audience else [],
            "expirationSeconds": LIFETIME,
            "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": identity.pod_name, "uid": identity.pod_uid},
        },
    }


class PodTokenRequester:
    def __init__(self, kube: KubeApi, clock: Callable[[], float] = time.time) -> None:
        self.kube = kube
        self.clock = clock
        self._tokens: ExpiringCache[RequestKey, ServiceAccountToken] = ExpiringCache(max_entries=4096, clock=clock)
        self._flights: SingleFlight[RequestKey, ServiceAccountToken] = SingleFlight()

    async def token(self, identity: PodIdentity, audience: str) -> ServiceAccountToken:
        """A token of the pod's service account for ``audience`` ("" for the API server's default)."""
        if not (identity.namespace and identity.service_account and identity.pod_name and identity.pod_uid):
            raise InvalidArgument(
                "the request carries no service-account token and does not name the pod (csi.storage.k8s.io/pod.name, "
                "pod.uid, serviceAccount.name) a token could be requested for"
            )
        key = (identity.namespace, identity.service_account, identity.pod_name, identity.pod_uid, audience)
        cached = self._tokens.get(key)
        if cached is not None:
            return cached
        return await self._flights.do(key, lambda: self._request(identity, audience, key))

    async def _request(self, identity: PodIdentity, audience: str, key: RequestKey) -> ServiceAccountToken:
        wanted = f"audience {audience!r}" if audience else "the API server's default audience"
        try:
            answer = await self.kube.create_token(identity.namespace, identity.service_account, token_request(identity, audience))
        except KubeForbidden as exc:
            raise PermissionDenied(
                f"the driver sent no service-account token for {wanted} and the provider may not request one "
                f"({exc.message}): add tokenRequests to the CSIDriver, or grant create on serviceaccounts/token",
                reason="TokenRequestForbidden",
            ) from None
        except KubeApiError as exc:
            error = Unavailable if exc.retryable else PermissionDenied
            raise error(f"requesting a service-account token for {identity.subject} failed: {exc.message}", reason="TokenRequestFailed") from None
        status = answer.get("status") if isinstance(answer.get("status"), dict) else {}
        value = status.get("token") if isinstance(status, dict) else None
        if not isinstance(value, str) or not value:
            raise Unavailable(f"the TokenRequest for {identity.subject} was answered without a token", reason="TokenRequestFailed")
        expires = self.clock() + LIFETIME
        token = ServiceAccountToken(audience, value, datetime.fromtimestamp(expires, UTC))
        self._tokens.put(key, token, expires - REUSE_MARGIN)
        return token
