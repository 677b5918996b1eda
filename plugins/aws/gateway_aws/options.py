"""Server flags of the AWS plugin (``--aws-*`` / ``$SECRETS_GATEWAY_AWS_*``), parsed once at startup.

The names are a stable interface (the Helm chart exposes them); docs/aws.md lists them.
None of them can be set from a SecretProviderClass.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.plugin import POSITIVE, Check, Option, Settings, at_least, between

DEFAULT_POD_IDENTITY_ENDPOINT = "http://169.254.170.23/v1/credentials"
DEFAULT_POD_IDENTITY_ENDPOINT_IPV6 = "http://[fd00:ec2::23]/v1/credentials"
RETRY_MODES = ("standard", "adaptive", "legacy")

_HTTP_URL = Check[str](lambda value: value.startswith(("http://", "https://")), "(an http(s) URL)")

ALLOW_AMBIENT_CREDENTIALS = Option(
    "aws-allow-ambient-credentials",
    bool,
    False,
    "DEV ONLY: use this process's own AWS credentials (env, profile, "
    "instance role) for every mount instead of the pod's IRSA/Pod Identity; a SecretProviderClass can never enable this",
)
POD_IDENTITY_ENDPOINT = Option(
    "aws-pod-identity-endpoint", str, DEFAULT_POD_IDENTITY_ENDPOINT, "EKS Pod Identity agent credentials URL (IPv4)", check=_HTTP_URL
)
POD_IDENTITY_ENDPOINT_IPV6 = Option(
    "aws-pod-identity-endpoint-ipv6", str, DEFAULT_POD_IDENTITY_ENDPOINT_IPV6, "EKS Pod Identity agent credentials URL (IPv6)",
    check=_HTTP_URL,
)
POD_IDENTITY_TIMEOUT = Option("aws-pod-identity-timeout", float, 1.0, "seconds per Pod Identity agent request", check=POSITIVE)
POD_IDENTITY_ATTEMPTS = Option(
    "aws-pod-identity-attempts", int, 3, "attempts per Pod Identity agent endpoint (jittered backoff between)", check=between(1, 10)
)
KUBECONFIG = Option(
    "aws-kubeconfig",
    str,
    "",
    "kubeconfig for ServiceAccount/Pod/Node lookups outside a cluster (default: in-cluster config, then $KUBECONFIG, then ~/.kube/config)",
)
KUBE_QPS = Option("aws-kube-qps", float, 5.0, "Kubernetes API requests per second (token bucket; 0 = unlimited)", check=at_least(0))
KUBE_BURST = Option("aws-kube-burst", int, 10, "Kubernetes API request burst", check=at_least(1))
KUBE_CACHE_TTL = Option("aws-kube-cache-ttl", float, 30.0, "seconds to cache ServiceAccount/Pod/Node lookups (0 = off)", check=at_least(0))
KUBE_WATCH_MAX_ACCOUNTS = Option(
    "aws-kube-watch-max-accounts", int, 20_000,
    "ServiceAccounts kept by the list+watch of their metadata (IRSA role lookups without a GET each; more are read by GET; "
    "0 = no watch, one GET per account)",
    check=between(0, 1_000_000),
)
RETRY_MODE = Option("aws-retry-mode", str.lower, "standard", "botocore retry mode", choices=RETRY_MODES)
MAX_ATTEMPTS = Option("aws-max-attempts", int, 3, "attempts per AWS API call, first included (botocore retries)", check=between(1, 20))
CREDENTIAL_REFRESH_MARGIN = Option(
    "aws-credential-refresh-margin", float, 300.0, "seconds before expiry at which cached pod credentials are renewed", check=at_least(0)
)
USE_FIPS_ENDPOINT = Option("aws-use-fips-endpoint", bool, False, "use FIPS endpoints (AWS_USE_FIPS_ENDPOINT=true works too)")
CONNECT_TIMEOUT = Option("aws-connect-timeout", float, 1.0, "seconds to connect to an AWS endpoint", check=POSITIVE)
READ_TIMEOUT = Option("aws-read-timeout", float, 1.25, "seconds to wait for an AWS answer", check=POSITIVE)
MAX_WORKERS = Option("aws-max-workers", int, 16, "concurrent AWS calls (and threads running botocore calls)", check=between(1, 256))
MAX_WORKERS_PER_NAMESPACE = Option(
    "aws-max-workers-per-namespace", int, 8, "of those calls, at most this many for the pods of one namespace", check=between(1, 256)
)
MAX_CLIENTS = Option(
    "aws-max-clients", int, 128, "botocore clients kept (one per service and region, shared by every identity; least recently used dropped)",
    check=between(1, 100_000),
)
SECRETSMANAGER_BATCH = Option(
    "aws-secretsmanager-batch",
    bool,
    True,
    "use BatchGetSecretValue for unpinned secrets (falls back to GetSecretValue when the role lacks secretsmanager:BatchGetSecretValue)",
)

OPTIONS: tuple[Option[Any], ...] = (
    ALLOW_AMBIENT_CREDENTIALS,
    POD_IDENTITY_ENDPOINT,
    POD_IDENTITY_ENDPOINT_IPV6,
    POD_IDENTITY_TIMEOUT,
    POD_IDENTITY_ATTEMPTS,
    KUBECONFIG,
    KUBE_QPS,
    KUBE_BURST,
    KUBE_CACHE_TTL,
    KUBE_WATCH_MAX_ACCOUNTS,
    RETRY_MODE,
    MAX_ATTEMPTS,
    CREDENTIAL_REFRESH_MARGIN,
    USE_FIPS_ENDPOINT,
    CONNECT_TIMEOUT,
    READ_TIMEOUT,
    MAX_WORKERS,
    MAX_WORKERS_PER_NAMESPACE,
    MAX_CLIENTS,
    SECRETSMANAGER_BATCH,
)


@dataclass(frozen=True)
class AwsOptions:
    """The plugin's typed option values plus what the plugin reads from its own process environment."""

    allow_ambient_credentials: bool = ALLOW_AMBIENT_CREDENTIALS.default
    pod_identity_endpoint: str = POD_IDENTITY_ENDPOINT.default
    pod_identity_endpoint_ipv6: str = POD_IDENTITY_ENDPOINT_IPV6.default
    pod_identity_timeout: float = POD_IDENTITY_TIMEOUT.default
    pod_identity_attempts: int = POD_IDENTITY_ATTEMPTS.default
    kubeconfig: str = KUBECONFIG.default
    kube_qps: float = KUBE_QPS.default
    kube_burst: int = KUBE_BURST.default
    kube_cache_ttl: float = KUBE_CACHE_TTL.default
    kube_watch_max_accounts: int = KUBE_WATCH_MAX_ACCOUNTS.default
    retry_mode: str = RETRY_MODE.default
    max_attempts: int = MAX_ATTEMPTS.default
    credential_refresh_margin: float = CREDENTIAL_REFRESH_MARGIN.default
    use_fips_endpoint: bool = USE_FIPS_ENDPOINT.default
    connect_timeout: float = CONNECT_TIMEOUT.default
    read_timeout: float = READ_TIMEOUT.default
    max_workers: int = MAX_WORKERS.default
    max_workers_per_namespace: int = MAX_WORKERS_PER_NAMESPACE.default
    max_clients: int = MAX_CLIENTS.default
    secretsmanager_batch: bool = SECRETSMANAGER_BATCH.default
    env_region: str = ""  # AWS_REGION of the provider process

    @classmethod
    def from_settings(cls, settings: Settings, env: Mapping[str, str] | None = None) -> AwsOptions:
        """Every ``aws-*`` option's typed value (the core parsed and checked them)."""
        environment = os.environ if env is None else env
        values = {option.name.removeprefix("aws-").replace("-", "_"): settings.option(option) for option in OPTIONS}
        return cls(**values, env_region=environment.get("AWS_REGION", "").strip())
