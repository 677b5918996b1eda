from gateway_kube.testing import kube, kube_server  # noqa: F401 - fixtures
