"""Real local peers for testing the AWS plugin (and benchmarking it), all on 127.0.0.1.

- :class:`MotoServer`: moto's standalone server (Secrets Manager, SSM, STS) as a subprocess.
- :class:`AwsProxy`: an HTTP proxy in front of it that counts calls per service, operation,
  region and role, and injects faults (5xx, 4xx, throttling, latency) by the same keys.
- :class:`FakePodIdentityAgent`: the EKS Pod Identity agent's credentials endpoint.
- :class:`TlsFront`: TLS in front of a plain local peer (e.g. the Kubernetes API for a client that speaks only HTTPS).
- :class:`AwsWorld`: all of them plus a Kubernetes API, seeding helpers and the gateway.

Point boto3 at the proxy with ``AWS_ENDPOINT_URL``; the Kubernetes API is
:class:`gateway.testing.kube.FakeKubernetes`.
"""

from gateway_aws.testing.agent import FakePodIdentityAgent
from gateway_aws.testing.moto import MotoServer, free_port
from gateway_aws.testing.proxy import AwsProxy, Call, Fault
from gateway_aws.testing.tlsfront import TlsFront
from gateway_aws.testing.world import ACCOUNT, FAILOVER, PRIMARY, AwsWorld, role_arn

__all__ = [
    "ACCOUNT",
    "FAILOVER",
    "PRIMARY",
    "AwsProxy",
    "AwsWorld",
    "Call",
    "FakePodIdentityAgent",
    "Fault",
    "MotoServer",
    "TlsFront",
    "free_port",
    "role_arn",
]
