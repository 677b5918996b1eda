"""Who the pod is to AWS: IRSA, EKS Pod Identity or (dev only) the process's ambient credentials.

Decided from the request alone, as ASCP does: the service-account tokens kubelet sent, the
``usePodIdentity`` parameter and, for IRSA, the ServiceAccount's ``eks.amazonaws.com/role-arn``
annotation read through the Kubernetes API. The result, a :class:`Principal`, is the identity
part of every cache and singleflight key in this plugin.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from gateway.plugin import ERROR_CLASSES, GatewayError, Internal, InvalidArgument, PermissionDenied, PodIdentity, preview
from gateway_aws.options import AwsOptions
from gateway_aws.params import ADDRESS_TYPES, PREFERRED_ADDRESS_TYPE, ROLE_ARN, AssumeRole, AuthParameters
from gateway_kube.kubeapi import KubeApiError, KubeForbidden, nested
from gateway_kube.watch import ServiceAccounts

IRSA_AUDIENCE = "sts.amazonaws.com"
POD_IDENTITY_AUDIENCE = "pods.eks.amazonaws.com"
ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"

IRSA, POD_IDENTITY, AMBIENT = "irsa", "pod-identity", "ambient"

TOKENS_MISSING = "CSI token error: serviceAccount.tokens not provided - ensure tokenRequests is configured in CSIDriver spec"

log = logging.getLogger("gateway_aws.identity")


@dataclass(frozen=True)
class Principal:
    """How credentials are obtained for one pod identity — the identity part of every cache key.

    IRSA credentials depend on (namespace, service account, role); Pod Identity sessions are
    tagged with the pod's name and uid (usable in IAM conditions), so they are also keyed by
    ``pod_uid``. ``token_digest`` (SHA-256 of the pod's token) makes a cached answer prove
    identity as a miss would: only the token that obtained it finds it again. ``chain`` holds
    the ``assumeRoleArn`` steps taken on top.
    """

    source: str
    namespace: str
    service_account: str
    role_arn: str = ""
    pod_uid: str = ""
    endpoints: tuple[str, ...] = ()
    token_digest: str = field(default="", repr=False)
    chain: tuple[AssumeRole, ...] = ()

    def without_chain(self) -> Principal:
        return Principal(self.source, self.namespace, self.service_account, self.role_arn, self.pod_uid, self.endpoints, self.token_digest)

    def without_proof(self) -> Principal:
        """Whose permissions a call has, once its credentials are proven: pods presenting different
        tokens of one ServiceAccount and role hold the same permissions."""
        return Principal(self.source, self.namespace, self.service_account, self.role_arn, self.pod_uid, self.endpoints, "", self.chain)

    def describe(self) -> str:
        """For logs: ``irsa apps/web role=arn:... -> arn:...``."""
        text = f"{self.source} {self.namespace}/{self.service_account}"
        if self.role_arn:
            text += f" role={self.role_arn}"
        return text + "".join(f" -> {step.role_arn}" for step in self.chain)


@dataclass(frozen=True)
class Caller:
    """A principal plus the token that proves it for this mount ("" for ambient)."""

    principal: Principal
    token: str = field(default="", repr=False)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest() if token else ""


def audience_for(auth: AuthParameters) -> str:
    return POD_IDENTITY_AUDIENCE if auth.use_pod_identity else IRSA_AUDIENCE


class IdentityResolver:
    def __init__(self, options: AwsOptions, accounts: ServiceAccounts) -> None:
        self.options = options
        self.accounts = accounts

    def token(self, identity: PodIdentity, auth: AuthParameters, now: datetime | None = None) -> str:
        """The pod's token for the chosen method, with ASCP's messages when it is missing."""
        if self.options.allow_ambient_credentials:
            return ""
        if not identity.tokens_provided:
            raise InvalidArgument(TOKENS_MISSING)
        audience = audience_for(auth)
        token = identity.token_for(audience)
        if token is None:
            method = "Pod Identity" if auth.use_pod_identity else "IRSA"
            raise InvalidArgument(
                f'{method} token extraction failed: token for audience "{audience}" not found - '
                "ensure tokenRequests includes this audience in CSIDriver"
            )
        if token.expired(now or datetime.now(UTC)):
            raise PermissionDenied(
                f'the service-account token for audience "{audience}" expired at {token.expiration:%Y-%m-%dT%H:%M:%SZ}; '
                "kubelet sends a fresh one with the next mount",
                reason="TokenExpired",
            )
        return token.token

    def evidence(self, identity: PodIdentity, auth: AuthParameters) -> str:
        """What :meth:`resolve` needs from the request beyond namespace and service account, without I/O.

        The same token checks (and errors) as a miss, then the digest of that token (STS or the
        Pod Identity agent would be shown it); Pod Identity credentials are issued per pod, so the
        pod uid too.
        """
        digest = token_digest(self.token(identity, auth))
        if auth.use_pod_identity and not self.options.allow_ambient_credentials:
            return f"pod-uid:{identity.pod_uid} token-sha256:{digest}"
        return f"token-sha256:{digest}" if digest else ""

    async def resolve(self, identity: PodIdentity, auth: AuthParameters) -> Caller:
        token = self.token(identity, auth)
        namespace, account, digest, chain = identity.namespace, identity.service_account, token_digest(token), auth.chain
        if self.options.allow_ambient_credentials:
            return Caller(Principal(AMBIENT, namespace, account, token_digest=digest, chain=chain))
        if auth.use_pod_identity:
            endpoints = self._endpoints(auth)
            return Caller(Principal(POD_IDENTITY, namespace, account, pod_uid=identity.pod_uid, endpoints=endpoints, token_digest=digest, chain=chain), token)
        return Caller(Principal(IRSA, namespace, account, role_arn=await self.role_arn(identity), token_digest=digest, chain=chain), token)

    def _endpoints(self, auth: AuthParameters) -> tuple[str, ...]:
        ipv4, ipv6 = self.options.pod_identity_endpoint, self.options.pod_identity_endpoint_ipv6
        if auth.address_type not in ADDRESS_TYPES:
            log.warning('%s "%s" is not "ipv4", "ipv6" or "auto": using auto, as ASCP does', PREFERRED_ADDRESS_TYPE, preview(auth.address_type))
        return {"ipv4": (ipv4,), "ipv6": (ipv6,)}.get(auth.address_type, (ipv4, ipv6))

    async def role_arn(self, identity: PodIdentity) -> str:
        """The IRSA role from the pod's ServiceAccount annotation (ASCP's message when absent)."""
        namespace, name = identity.namespace, identity.service_account
        if not namespace or not name:
            raise InvalidArgument(
                "the request names no pod namespace and service account "
                "(csi.storage.k8s.io/pod.namespace, csi.storage.k8s.io/serviceAccount.name)"
            )
        try:
            account = await self.accounts.get(namespace, name)
        except KubeApiError as exc:
            hint = " (hint: the gateway's ClusterRole needs get on serviceaccounts)" if isinstance(exc, KubeForbidden) else ""
            cls: type[GatewayError] = ERROR_CLASSES.get(exc.code, Internal)
            raise cls(
                f"cannot read service account {name} (namespace: {namespace}) to find its IAM role: {exc.cause}{hint}",
                retryable=exc.retryable,
                reason=exc.reason,
            ) from None
        role = str(nested(account, "metadata", "annotations").get(ROLE_ANNOTATION) or "").strip()
        if not role:
            raise PermissionDenied(
                f"An IAM role must be associated with service account {name} (namespace: {namespace})", reason="NoRoleAnnotation"
            )
        if not ROLE_ARN.match(role):
            raise InvalidArgument(
                f'service account {name} (namespace: {namespace}) has an invalid {ROLE_ANNOTATION} annotation "{role}": '
                "expected arn:aws:iam::<account>:role/<name>",
                reason="BadRoleAnnotation",
            )
        return role
