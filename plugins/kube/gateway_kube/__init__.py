"""secrets-gateway-kube: the Kubernetes API reader plugins share (no plugin of its own).

Not part of the core: the core never talks to the Kubernetes API. Plugins that need
ServiceAccounts, Pods, Nodes or Secrets depend on this distribution and use
:class:`gateway_kube.kubeapi.KubeApi`.
"""

__version__ = "0.1.0"
