"""The primary region of a mount, as ASCP finds it: ``region``, else ``AWS_REGION``, else the node label.

The node lookup is pod → ``spec.nodeName`` → node label ``topology.kubernetes.io/region``
through the shared, cached and rate-limited :class:`~gateway_kube.kubeapi.KubeApi`. Failures
keep ASCP's text, ``failed to retrieve region from node. error <cause>``, with the class
(not found, forbidden, unavailable) of the underlying problem.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.plugin import ERROR_CLASSES, GatewayError, Internal, InvalidArgument, NotFound, PodIdentity
from gateway_kube.kubeapi import KubeApi, KubeApiError, nested

REGION_PARAMETER = "region"
REGION_LABEL = "topology.kubernetes.io/region"
NODE_ERROR = "failed to retrieve region from node. error {cause}"
class RegionResolver:
    def __init__(self, env_region: str, kube: KubeApi) -> None:
        self.env_region = env_region
        self.kube = kube

    def static(self, parameters: Mapping[str, str]) -> str:
        """The region known without I/O ("" when the node must be asked)."""
        return parameters.get(REGION_PARAMETER, "").strip() or self.env_region

    async def primary(self, parameters: Mapping[str, str], identity: PodIdentity) -> str:
        return self.static(parameters) or await self.node_region(identity)

    async def node_region(self, identity: PodIdentity) -> str:
        try:
            return await self._lookup(identity)
        except KubeApiError as exc:
            cls: type[GatewayError] = ERROR_CLASSES.get(exc.code, Internal)
            raise cls(NODE_ERROR.format(cause=exc.api_message), retryable=exc.retryable, reason=exc.reason) from None

    async def _lookup(self, identity: PodIdentity) -> str:
        if not identity.namespace or not identity.pod_name:
            raise InvalidArgument(
                NODE_ERROR.format(cause="the request names no pod (csi.storage.k8s.io/pod.name, csi.storage.k8s.io/pod.namespace)")
            )
        pod = await self.kube.pod(identity.namespace, identity.pod_name)
        node_name = str(nested(pod, "spec").get("nodeName") or "")
        if not node_name:
            raise NotFound(NODE_ERROR.format(cause=f"pod {identity.namespace}/{identity.pod_name} has no spec.nodeName"))
        node = await self.kube.node(node_name)
        region = str(nested(node, "metadata", "labels").get(REGION_LABEL) or "")
        if not region:
            raise NotFound(NODE_ERROR.format(cause="Region not found"), reason="RegionLabelMissing")
        return region
